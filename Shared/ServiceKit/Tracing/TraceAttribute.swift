/// The attribute keys Tessera's own spans carry (docs/tracing.md lists which span has which).
public enum TraceAttribute {
    public static let pipeline = "tessera.pipeline"
    public static let session = "tessera.session"
    /// A pipeline's worker ids, first stage first.
    public static let workers = "tessera.workers"
    public static let tokens = "tessera.tokens"
    public static let promptTokens = "tessera.prompt_tokens"
    public static let failedWorker = "tessera.failed_worker"
    public static let reason = "tessera.failure_reason"
    public static let workerID = "tessera.worker_id"
    /// A stage's layers as `[start, end)` (end exclusive), and each end as a number.
    public static let layers = "tessera.layers"
    public static let layerStart = "tessera.layer_start"
    public static let layerEnd = "tessera.layer_end"
    public static let step = "tessera.step"
    public static let stepKind = "tessera.step.kind"
    public static let stepPosition = "tessera.step.position"
}
