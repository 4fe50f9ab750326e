import Inference

/// Why the worker refused or failed a request, in its own terms. Each case maps to one gRPC
/// status in `WorkerError+GRPC.swift`; nothing else in the domain code builds a status.
enum WorkerError: Error, Sendable, CustomStringConvertible {
    /// The request is malformed or contradicts what this worker holds.
    case invalidRequest(String)
    /// The session's sampling settings are out of range.
    case invalidSampling(SamplingError)
    /// A session names a shard this worker has not loaded.
    case shardNotHosted(sha256: String)
    /// An unload names a shard this worker has not loaded.
    case shardNotLoaded(sha256: String)
    /// A shard or KV cache does not fit the memory budget.
    case notEnoughMemory(String)
    /// A shard does not fit the disk budget, even after evicting every shard that is neither
    /// loaded nor in use.
    case notEnoughDisk(String)
    /// Every session slot is in use (`SessionSlots`); `configured`: by --max-sessions.
    case sessionsFull(limit: Int, configured: Bool)
    /// Shard bytes are damaged (unreadable file, a download that never matches its hash).
    case damagedShard(String)
    /// The engine cannot run this shard (unsupported architecture, missing tensors).
    case unsupportedShard(String)
    /// A step starts past the tokens the session holds.
    case stalePosition(String)
    /// A step would run past the session's context.
    case outOfContext(String)
    /// A peer this worker depends on could not be reached, or the worker is stopping.
    case unavailable(String)
    /// A fault of this worker (disk, a broken invariant), not of the request.
    case internalFailure(String)

    var description: String {
        switch self {
        case .invalidRequest(let message), .notEnoughMemory(let message),
            .notEnoughDisk(let message),
            .damagedShard(let message),
            .stalePosition(let message), .outOfContext(let message), .unavailable(let message),
            .internalFailure(let message):
            message
        case .invalidSampling(let error): "open.sampling: \(error)"
        case .shardNotHosted(let sha): "this worker does not host shard \(sha); LoadShard it first"
        case .shardNotLoaded(let sha): "shard \(sha) is not loaded on this worker"
        case .unsupportedShard(let reason): "cannot run this shard: \(reason)"
        case .sessionsFull(let limit, let configured):
            "this worker serves at most \(limit) sessions at once "
                + (configured
                    ? "(--max-sessions)" : "(what its memory budget holds at the served context)")
                + " and all are in use; the scheduler's leases should have kept this request "
                + "away: retry"
        }
    }
}
