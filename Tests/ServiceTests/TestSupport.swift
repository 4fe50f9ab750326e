import Foundation
import GRPCCore
import InferenceWorker
import Logging
import Scheduler
import ServiceKit
import Synchronization
import TesseraProto

/// Services in tests log nowhere and bind free ports on 127.0.0.1. `TESSERA_TEST_LOGS=1`
/// sends every service's log, at trace level, to stderr (for finding where a test hangs).
let quietLogger = Logger(label: "test") { label -> any LogHandler in
    guard ProcessInfo.processInfo.environment["TESSERA_TEST_LOGS"] != nil else {
        return SwiftLogNoOpLogHandler()
    }
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .trace
    return handler
}
let loopbackAnyPort = ListenAddress(host: "127.0.0.1", port: 0)

func startScheduler(
    heartbeat: Duration = .milliseconds(100), expiry: Duration = .seconds(10), port: Int = 0,
    cacheManager: ListenAddress = ListenAddress(host: "127.0.0.1", port: 1)
) async throws -> RunningService {
    var configuration = SchedulerConfiguration()
    configuration.cacheManagerAddress = cacheManager
    configuration.grpcAddress = ListenAddress(host: "127.0.0.1", port: port)
    configuration.httpAddress = loopbackAnyPort
    configuration.heartbeatInterval = heartbeat
    configuration.workerExpiry = expiry
    return try await buildScheduler(configuration, logger: quietLogger).start()
}

func startWorker(scheduler: ListenAddress, workerID: String = "") async throws -> RunningService {
    var configuration = WorkerConfiguration()
    configuration.grpcAddress = loopbackAnyPort
    configuration.httpAddress = loopbackAnyPort
    configuration.schedulerAddress = scheduler
    configuration.memoryBudgetBytes = 1 << 30
    configuration.threads = 1
    configuration.workerID = workerID
    return try await buildInferenceWorker(configuration, logger: quietLogger).start()
}

func listWorkers(_ scheduler: ListenAddress) async throws -> [Tessera_V1_WorkerInfo] {
    try await ServiceClient.with(scheduler) { client in
        try await Tessera_V1_Scheduler.Client(wrapping: client).listWorkers(.init()).workers
    }
}

/// Polls `condition` until it holds or `timeout` passes. The default is generous: the whole
/// suite runs in parallel on small machines, where the engine-heavy suites (replays, faulty
/// and committing workers) can starve a service's start-up for tens of seconds; a condition
/// that holds returns as soon as it does, so only a failure waits this long.
func eventually(
    timeout: Duration = .seconds(60), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}

/// A port nothing listens on right now (bind 0, read it, close).
func freePort() throws -> Int {
    let (socketFD, port) = try loopbackSocket()
    close(socketFD)
    return port
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks, and that port.
func loopbackSocket() throws -> (descriptor: Int32, port: Int) {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socketFD, $0, length) == 0 && getsockname(socketFD, $0, &length) == 0
        }
    }
    guard bound else {
        close(socketFD)
        throw POSIXError(.EADDRINUSE)
    }
    return (socketFD, Int(UInt16(bigEndian: address.sin_port)))
}

func rpcCode(_ body: () async throws -> Void) async -> RPCError.Code? {
    await rpcFailure(body)?.code
}

/// The RPC's status code and message, or nil if it succeeded.
func rpcFailure(_ body: () async throws -> Void) async -> (code: RPCError.Code, message: String)? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return (error.code, error.message)
    } catch {
        return (.unknown, "\(error)")
    }
}

/// Keeps the messages a service logs, to observe what it did (for example how many cuts).
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var message: String
        var metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    func entries(_ message: String) -> [Entry] {
        entries.withLock { $0.filter { $0.message == message } }
    }

    func count(of message: String) -> Int { entries(message).count }

    fileprivate func record(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.record(
                Entry(message: event.message.description, metadata: all.mapValues { "\($0)" }))
        }
    }
}
