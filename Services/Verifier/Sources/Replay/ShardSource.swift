/// Where a replay gets the shard files its commitments name: a local path to bytes whose
/// SHA-256 is the name. Throwing is the verifier's trouble (the file cannot be had now), so
/// the receipt waits for another try rather than getting a verdict.
public protocol ShardSource: Sendable {
    func path(forShard sha256: String) async throws -> String
}
