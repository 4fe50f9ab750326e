import Foundation
import Integrity
import ServiceKit

/// The Ed25519 key this worker signs its step commitments with. The scheduler pins the
/// worker's id to it and the verifier holds the worker's deposit against it, so it is kept in
/// the state directory next to the id (`signing-key`) and survives restarts. Without a state
/// directory (a worker on an ephemeral port) the key lives as long as the process, like the id.
enum WorkerSigningKey {
    static let fileName = "signing-key"

    /// The key, and where it came from (for the start-up log line).
    static func resolve(stateDirectory: String?) throws -> (
        identity: SigningIdentity, source: String
    ) {
        guard let stateDirectory else { return (SigningIdentity(), "generated for this process") }
        let path = URL(fileURLWithPath: stateDirectory).appendingPathComponent(fileName).path
        do {
            let (identity, created) = try SigningIdentity.loadOrCreate(
                directory: stateDirectory, fileName: fileName)
            return (identity, created ? "generated, kept in \(path)" : path)
        } catch {
            throw ServiceError.configuration("\(error) (--state-dir)")
        }
    }

    /// The first 16 hex digits of the public key: enough to tell keys apart in logs.
    static func shortHex(_ publicKey: [UInt8]) -> String {
        String(Digests.hex(publicKey).prefix(16))
    }
}
