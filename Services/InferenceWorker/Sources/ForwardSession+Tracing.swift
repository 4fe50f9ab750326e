import ServiceKit
import Tracing

/// Spans of a session's steps on this worker.
///
/// Trace context travels per session, not per step: the `Forward` call's metadata carries
/// it once, when the stream opens (TraceContextClientInterceptor), and the worker's server
/// span for the stream is the parent of every step span of the session. Per-step context
/// would need a field in every ForwardStep (bytes on each of the many small decode
/// messages, and a wire change) for little gain: a session serves one request, so its
/// steps belong to that request's trace either way, and the step number and kind tell the
/// steps apart.
extension ForwardSession {
    /// `step(_:)` inside a span when this step is traced (ProcessTracing.tracesStep:
    /// prefill and replay steps always, decode steps sampled), else `step(_:)` alone.
    func tracedStep(_ step: StageStep) async throws -> StepResult? {
        let kind = Self.kind(of: step)
        guard ProcessTracing.tracesStep(number: step.step, kind: kind) else {
            return try await self.step(step)
        }
        return try await withSpan("stage step \(kind.rawValue)") { span in
            let layers = shard.layers
            span.attributes[TraceAttribute.workerID] = environment.state.workerID
            span.attributes[TraceAttribute.layers] = layers.layerSpan
            span.attributes[TraceAttribute.layerStart] = layers.lowerBound
            span.attributes[TraceAttribute.layerEnd] = layers.upperBound
            span.attributes[TraceAttribute.session] = id
            span.attributes[TraceAttribute.step] = Int(step.step)
            span.attributes[TraceAttribute.stepKind] = kind.rawValue
            span.attributes[TraceAttribute.stepPosition] = step.position
            span.attributes[TraceAttribute.tokens] = step.tokens.count
            return try await self.step(step)
        }
    }

    /// Step 0 is the prompt; a replay resends output after a failover; other steps of one
    /// token are decode steps (a longer one is a piece of a prompt cut for the message size).
    static func kind(of step: StageStep) -> ProcessTracing.StepKind {
        if step.replay { return .replay }
        if step.step == 0 || step.tokens.count > 1 { return .prefill }
        return .decode
    }
}
