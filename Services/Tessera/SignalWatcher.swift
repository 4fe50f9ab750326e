import Dispatch
import Foundation

/// Counts SIGINT/SIGTERM instead of letting them kill the process, so `tessera up` can drain
/// and stop its children in order (a second Ctrl-C cuts the drain short).
// @unchecked: the dispatch signal sources are set up once in init and only read after; the
// count is guarded by a lock.
final class SignalWatcher: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var received = 0

    init(_ signals: [Int32]) {
        for number in signals {
            Foundation.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.record() }
            source.resume()
            sources.append(source)
        }
    }

    private func record() {
        lock.lock()
        defer { lock.unlock() }
        received += 1
    }

    /// Signals received so far.
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return received
    }
}
