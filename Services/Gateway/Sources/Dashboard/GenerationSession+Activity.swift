import Foundation
import GRPCCore
import NIOCore
import ServiceKit

extension GenerationSession {
    /// Runs the generation (`runPhases`) and records it for the dashboard: every token
    /// handed to the client, the first token's wait, and how the request ended.
    func run(onUpdate: (GenerationUpdate) async throws -> Void) async throws -> GenerationSummary {
        let activity = GatewayMetrics.activity
        let started = ContinuousClock.now
        var firstToken: Duration?
        var tokens = 0
        do {
            let summary = try await runPhases { update in
                if firstToken == nil {
                    let wait = ContinuousClock.now - started
                    firstToken = wait
                    activity.throughput.recordFirstToken(after: wait)
                }
                tokens = update.completionTokens
                activity.throughput.recordTokens()
                try await onUpdate(update)
            }
            record(
                .finished(summary.finishReason), tokens: summary.completionTokens,
                firstToken: firstToken, started: started, failovers: summary.failovers,
                receiptID: summary.receipt?.receiptID, in: activity)
            return summary
        } catch {
            let failure = GatewayError(error)
            let outcome: CompletedRequest.Outcome =
                Self.isCancellation(error)
                ? .cancelled : .failed(failure.kind, message: failure.message)
            record(
                outcome, tokens: tokens, firstToken: firstToken, started: started, failovers: 0,
                receiptID: nil, in: activity)
            throw error
        }
    }

    /// The client went away: the task was cancelled, or the write to it failed on its closed
    /// connection (a cancelled gRPC stream surfaces as NIO's "I/O on closed channel").
    private static func isCancellation(_ error: any Error) -> Bool {
        if error is CancellationError || error is HTTPEndpoint.ClientDisconnected
            || Task.isCancelled
        {
            return true
        }
        if let error = error as? RPCError { return error.code == .cancelled }
        if let error = error as? ChannelError {
            return [.ioOnClosedChannel, .alreadyClosed, .outputClosed, .eof].contains(error)
        }
        return false
    }

    private func record(
        _ outcome: CompletedRequest.Outcome, tokens: Int, firstToken: Duration?,
        started: ContinuousClock.Instant, failovers: Int, receiptID: String?,
        in activity: GatewayActivity
    ) {
        activity.throughput.recordFinished()
        activity.recent.record(
            CompletedRequest(
                requestID: requestID,
                model: vocabulary.model.name.isEmpty
                    ? String(vocabulary.model.sha256.prefix(12)) : vocabulary.model.name,
                promptTokens: prompt.count, completionTokens: tokens,
                timeToFirstToken: firstToken, duration: ContinuousClock.now - started,
                outcome: outcome, failovers: failovers, receiptID: receiptID,
                finishedAt: Date()))
    }
}
