import Metrics
import Synchronization

/// A number of things in flight (streams, leases, queued requests, bytes held) exported as
/// a Prometheus gauge: every change records the new total.
public final class LiveCount: Sendable {
    private let label: String
    private let dimensions: [(String, String)]
    private let count = Mutex<Int64>(0)

    public init(_ label: String, dimensions: [(String, String)] = []) {
        self.label = label
        self.dimensions = dimensions
    }

    public func add(_ delta: Int64) {
        let now = count.withLock { count in
            count = max(0, count + delta)
            return count
        }
        Gauge(label: label, dimensions: dimensions).record(now)
    }

    public func increment() { add(1) }
    public func decrement() { add(-1) }

    public var value: Int64 { count.withLock { $0 } }
}
