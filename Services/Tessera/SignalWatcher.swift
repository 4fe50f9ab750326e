import Dispatch
import Foundation

/// Records the first SIGINT/SIGTERM instead of letting it kill the process, so `tessera up`
/// can stop its children cleanly.
// @unchecked: the dispatch signal sources are set up once in init and only read after; the
// recorded signal is guarded by a lock.
final class SignalWatcher: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var signal: Int32?

    init(_ signals: [Int32]) {
        for number in signals {
            Foundation.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.record(number) }
            source.resume()
            sources.append(source)
        }
    }

    private func record(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if signal == nil { signal = number }
    }

    var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return signal
    }
}
