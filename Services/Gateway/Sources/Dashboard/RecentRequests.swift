import Foundation
import Synchronization

/// A generation the gateway finished (or gave up on), as the dashboard lists it.
struct CompletedRequest: Sendable, Equatable {
    /// How it ended.
    enum Outcome: Sendable, Equatable {
        case finished(FinishReason)
        /// Its client went away (or the gateway shut down) before the end.
        case cancelled
        case failed(GatewayError.Kind, message: String)
    }

    var requestID: String
    var model: String
    var promptTokens: Int
    var completionTokens: Int
    /// Nil when no token came.
    var timeToFirstToken: Duration?
    var duration: Duration
    var outcome: Outcome
    var failovers: Int
    /// The signed receipt's id, when one was issued.
    var receiptID: String?
    var finishedAt: Date
}

/// The last `capacity` completed requests, newest first; older ones are forgotten, so its
/// memory is bounded however long the gateway runs.
final class RecentRequests: Sendable {
    let capacity: Int
    private let ring: Mutex<[CompletedRequest]>

    init(capacity: Int = 50) {
        self.capacity = max(1, capacity)
        ring = Mutex([])
    }

    func record(_ request: CompletedRequest) {
        ring.withLock { requests in
            requests.insert(request, at: 0)
            if requests.count > capacity { requests.removeLast(requests.count - capacity) }
        }
    }

    /// Newest first.
    var all: [CompletedRequest] { ring.withLock { $0 } }
}
