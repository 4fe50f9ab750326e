/// Names of the gRPC metadata entries Tessera's services pass each other.
public enum MetadataKeys {
    /// The worker a failed Forward call blames: set by the stage that saw the failure, read
    /// by the stages before it and by the gateway, which fails over avoiding that worker.
    public static let failedWorker = "tessera-failed-worker"
    /// Milliseconds after which a refused call may succeed if tried again: gRPC's own
    /// server-pushback key, on a RESOURCE_EXHAUSTED from the scheduler (every session slot in
    /// use) and from the gateway (its admission queue full, or a request waited too long).
    public static let retryPushback = "grpc-retry-pushback-ms"
    /// On a RESOURCE_EXHAUSTED from the scheduler's AcquirePipeline: the model cannot be
    /// loaded for lack of room (not a lack of session slots), so the gateway answers 503 at
    /// once instead of queueing.
    public static let noRoom = "tessera-no-room"
    /// On a RESOURCE_EXHAUSTED from the scheduler's AcquirePipeline for lack of session slots:
    /// how many sessions the model's ready pipelines serve at once, from which the gateway
    /// predicts a new request's wait (WaitPredictor). Absent when not limited.
    public static let sessionCapacity = "tessera-session-capacity"
}
