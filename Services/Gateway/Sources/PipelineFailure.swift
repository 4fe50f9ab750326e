/// A stage failed in a way another pipeline can recover from (a worker died, hung or lost
/// its shard): the generation fails over.
struct PipelineFailure: Error, Sendable {
    /// What went wrong, as the stages reported it ("UNAVAILABLE: stage worker-2 … failed").
    var reason: String
    /// The worker the stages blamed, if any (else the first stage is presumed at fault).
    var workerID: String?
    /// The pipeline stopped answering (no stage said why).
    var stalled = false
    /// A stage refused the session for want of capacity (a session slot or KV memory,
    /// RESOURCE_EXHAUSTED): nobody's fault; the request waits and asks again.
    var busy = false
}
