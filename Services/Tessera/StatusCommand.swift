import ArgumentParser
import Foundation
import ServiceKit
import TesseraProto

/// `tessera status`: the scheduler's view of the cluster, one row per worker.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the workers the scheduler knows.")

    @Option(
        help:
            "Scheduler address host:port (default: env TESSERA_SCHEDULER_ADDRESS, else 127.0.0.1:7401)."
    )
    var scheduler: ListenAddress?
    @OptionGroup var offset: PortOffsetOption

    func validate() throws {
        try offset.check(explicit: scheduler, flag: "--scheduler")
    }

    func run() async throws {
        try offset.installSecurity()
        let scheduler = offset.address(
            scheduler, environment: "TESSERA_SCHEDULER_ADDRESS", defaultPort: 7401)
        let workers: [Tessera_V1_WorkerInfo]
        do {
            workers = try await ServiceClient.with(scheduler) { client in
                try await Tessera_V1_Scheduler.Client(wrapping: client)
                    .listWorkers(.init(), options: .timeout(.seconds(5))).workers
            }
        } catch {
            throw CLIError("cannot reach the scheduler at \(scheduler): \(error)")
        }
        print(Self.table(workers, now: Date()))
    }

    static func table(_ workers: [Tessera_V1_WorkerInfo], now: Date) -> String {
        var rows = [
            [
                "WORKER", "ADDRESS", "MEMORY", "CPUS", "GFLOPS", "MEM GB/s", "DECODE GB/s",
                "SESSIONS", "RSS", "LAST HEARTBEAT",
            ]
        ]
        for worker in workers {
            let age = now.timeIntervalSince1970 - Double(worker.lastHeartbeatUnixMs) / 1000
            rows.append([
                worker.workerID, worker.address, bytes(worker.capabilities.memoryBytes),
                "\(worker.capabilities.cpuCount)",
                String(format: "%.1f", worker.capabilities.computeGflops),
                String(format: "%.1f", worker.capabilities.memoryBandwidthGbps),
                String(format: "%.1f", worker.capabilities.decodeGbps),
                sessions(worker),
                bytes(worker.load.memoryUsedBytes), String(format: "%.1fs ago", max(0, age)),
            ])
        }
        let lines = TextTable.lines(rows)
        return (lines + ["\(workers.count) worker(s)"]).joined(separator: "\n")
    }

    /// Sessions open, and of how many the worker serves at once when it says ("3/8").
    static func sessions(_ worker: Tessera_V1_WorkerInfo) -> String {
        let slots =
            worker.load.sessionSlots > 0
            ? worker.load.sessionSlots : worker.capabilities.sessionSlots
        return slots > 0
            ? "\(worker.load.activeSessions)/\(slots)" : "\(worker.load.activeSessions)"
    }

    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", amount, units[unit])
    }
}
