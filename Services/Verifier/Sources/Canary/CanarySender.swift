import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import TesseraProto

/// Sends canaries: at random times (exponentially distributed around `interval`, so their
/// rhythm gives nothing away) a greedy Generate request through the gateway, as any user
/// would. When the gateway answers with a receipt, its id is remembered as a canary; the
/// receipt itself comes through SubmitReceipts like any other (before or after), and the
/// checker replays it ahead of everything else.
struct CanarySender: Service {
    let gateway: ListenAddress
    let interval: Duration
    let store: VerifierStore
    let checkerWake: WakeSignal
    let logger: Logger
    /// Sent as `authorization: Bearer …`: the gateway answers no request without a key.
    var apiKey: String?
    /// How long one canary's generation may take.
    var timeout: Duration = .seconds(120)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                guard (try? await Task.sleep(for: nextDelay())) != nil else { return }
                await send()
            }
        }
    }

    /// −ln(U) · interval: the waits of a Poisson process with that mean.
    func nextDelay() -> Duration {
        let uniform = Double.random(in: Double.leastNonzeroMagnitude..<1)
        return .milliseconds(Int64(-log(uniform) * interval.inSeconds * 1000))
    }

    private func send() async {
        let prompt = CanaryPrompts.pool.randomElement() ?? "Hello"
        let request = Tessera_V1_GenerateRequest.with {
            $0.prompt = prompt
            $0.sampling = .with {
                $0.temperature = 0
                $0.maxTokens = CanaryPrompts.maxTokens
            }
        }
        let receiptID: String?
        do {
            receiptID = try await ServiceClient.with(gateway, within: timeout) { client in
                try await Tessera_V1_Gateway.Client(wrapping: client).generate(
                    request, metadata: apiKey.map { ["authorization": "Bearer \($0)"] } ?? [:]
                ) { response in
                    var receipt: String?
                    for try await message in response.messages where message.hasReceipt {
                        receipt = message.receipt.receiptID
                    }
                    return receipt
                }
            }
        } catch {
            VerifierMetrics.canary(outcome: "failed")
            logger.notice(
                "canary request failed", metadata: ["gateway": "\(gateway)", "error": "\(error)"])
            return
        }
        guard let receiptID, !receiptID.isEmpty else {
            VerifierMetrics.canary(outcome: "no_receipt")
            logger.notice(
                "the gateway answered a canary without a receipt; skipped",
                metadata: ["gateway": "\(gateway)"])
            return
        }
        do {
            let stored = try await store.markCanary(receiptID, at: VerifierStore.now())
            VerifierMetrics.canary(outcome: "sent")
            logger.info(
                "canary sent",
                metadata: ["receipt": "\(receiptID)", "receipt_arrived": "\(stored)"])
            if stored { checkerWake.signal() }
        } catch {
            logger.error(
                "cannot record a canary",
                metadata: ["receipt": "\(receiptID)", "error": "\(error)"])
        }
    }
}
