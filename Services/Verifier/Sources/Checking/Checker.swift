import Logging
import ServiceKit
import ServiceLifecycle

/// Replays the receipts selected for it, one at a time: canaries first, then in arrival
/// order. Its queue is the store (pending and selected), so receipts selected before a
/// restart are replayed after it. A replay that ends without a verdict (the verifier's own
/// trouble) puts its receipt back with a growing delay, and the checker goes on with others.
struct Checker: Service {
    let store: VerifierStore
    let auditor: Auditor
    /// Signalled when a receipt is selected (submitted, audited or a canary).
    let wake: WakeSignal
    let logger: Logger
    /// Longest sleep with nothing to do (a signal ends it sooner).
    var idlePoll: Duration = .seconds(30)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await loop()
        }
    }

    private func loop() async {
        if let counts = try? await store.pendingCounts() {
            VerifierMetrics.pending(selected: counts.selected, unselected: counts.unselected)
            if counts.selected > 0 {
                logger.info(
                    "receipts awaiting replay", metadata: ["receipts": "\(counts.selected)"])
            }
        }
        while !Task.isCancelled {
            let now = VerifierStore.now()
            let next: String?
            do {
                next = try await store.nextWanted(at: now)
            } catch {
                logger.error("cannot read the replay queue", metadata: ["error": "\(error)"])
                await wake.wait(upTo: .seconds(5))
                continue
            }
            guard let id = next else {
                await wake.wait(upTo: await pause(now: now))
                continue
            }
            do {
                _ = try await auditor.audit(id, cancelsWithCaller: true)
            } catch {
                // Logged by the auditor; the receipt waits out its delay.
                logger.debug("replay ended without a verdict", metadata: ["receipt": "\(id)"])
            }
        }
    }

    /// Until the earliest deferred replay is due, at most `idlePoll`.
    private func pause(now: Int64) async -> Duration {
        guard let retry = try? await store.earliestRetry(), retry > now else { return idlePoll }
        return min(.milliseconds(retry - now), idlePoll)
    }
}
