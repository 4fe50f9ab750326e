import Foundation
import GRPCCore
import Logging
import ServiceKit
import ServiceLifecycle
import TesseraProto

/// Registers the worker's signing key and deposit with the verifier (`RegisterWorkerKey`) once
/// the worker knows its id, so the verifier can check the commitments it signs. Serving never
/// waits for this. While the verifier is unreachable it retries with capped backoff; a
/// verifier that does not take keys yet (UNIMPLEMENTED) is asked again every minute, logged
/// once; a refusal (PERMISSION_DENIED: the id is pinned to another key) is an error and final.
struct VerifierRegistrationService: Service {
    static let retryBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
    static let unimplementedRetry: Duration = .seconds(60)
    static let callTimeout = CallOptions.timeout(.seconds(5))

    let verifier: Tessera_V1_Verifier.Client<TesseraClientTransport>
    let workerID: OneShot<String>
    let publicKey: [UInt8]
    let deposit: UInt64
    let logger: Logger

    init(
        client: TesseraGRPCClient, workerID: OneShot<String>, publicKey: [UInt8], deposit: UInt64,
        logger: Logger
    ) {
        verifier = Tessera_V1_Verifier.Client(wrapping: client)
        self.workerID = workerID
        self.publicKey = publicKey
        self.deposit = deposit
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // A worker stopped before it knew its id has nothing to register.
            guard let id = try? await workerID.value else { return }
            await registerUntilSettled(id)
        }
        // A service that returns ends the worker's service group: stay until shutdown.
        try? await gracefulShutdown()
    }

    /// Returns once the verifier accepted or refused the key, or on cancellation.
    private func registerUntilSettled(_ id: String) async {
        var backoff = Self.retryBackoff
        var failures = FailureStreak("verifier key registration")
        var toldUnimplemented = false
        let request = Tessera_V1_RegisterWorkerKeyRequest.with {
            $0.workerID = id
            $0.publicKey = Data(publicKey)
            $0.deposit = deposit
        }
        while !Task.isCancelled {
            do {
                let response = try await verifier.registerWorkerKey(
                    request, options: Self.callTimeout)
                failures.ended(logger: logger)
                logger.info(
                    "signing key registered with the verifier",
                    metadata: [
                        "worker": "\(id)", "public_key": "\(WorkerSigningKey.shortHex(publicKey))",
                        "deposit": "\(deposit)", "new": "\(response.newlyRegistered)",
                    ])
                return
            } catch let error as RPCError
                where error.code == .permissionDenied || error.code == .invalidArgument
            {
                logger.error(
                    "the verifier refused this worker's signing key; its commitments will not verify",
                    metadata: ["worker": "\(id)", "reason": "\(error.message)"])
                return
            } catch let error as RPCError where error.code == .unimplemented {
                if !toldUnimplemented {
                    toldUnimplemented = true
                    logger.notice(
                        "the verifier does not take worker keys yet; asking again every minute",
                        metadata: ["reason": "\(error.message)"])
                }
                try? await Task.sleep(for: Self.unimplementedRetry)
            } catch {
                if Task.isCancelled { return }
                failures.failed(error, logger: logger)
                try? await Task.sleep(for: backoff.next())
            }
        }
    }
}
