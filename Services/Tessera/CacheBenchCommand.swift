import ArgumentParser
import Placement

/// `tessera bench cache`: replays a seeded synthetic trace (many models, Zipf popularity that
/// shifts every phase) against LRU, LFU and Tessera's caching policies on the same worker
/// budgets. The trace, the replay and the policies all live in Placement (the same types the
/// scheduler and workers run); this only parses flags and prints.
struct CacheBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Compare caching policies on a replayed synthetic trace (docs/caching.md).")

    @Option(help: "Seed of the trace.")
    var seed: UInt64 = 1
    @Option(help: "Models in the catalog.")
    var models = 24
    @Option(help: "Simulated hours of requests.")
    var hours = 4.0
    @Option(help: "Mean requests per second (Poisson).")
    var rate = 0.5
    @Option(help: "Minutes between popularity shifts.")
    var phaseMinutes = 30.0
    @Option(help: "Zipf exponent of popularity.")
    var zipf = 0.9
    @Option(help: "Workers in the simulated cluster.")
    var workers = 3
    @Option(help: "Memory budget per worker in MB.")
    var memoryMb = 5000
    @Option(help: "Disk budget per worker in MB.")
    var diskMb = 10000

    func validate() throws {
        guard models > 0, workers > 0, memoryMb > 0, diskMb > 0 else {
            throw ValidationError("--models, --workers, --memory-mb and --disk-mb must be positive")
        }
        guard hours > 0, rate > 0, phaseMinutes > 0, zipf >= 0 else {
            throw ValidationError(
                "--hours, --rate and --phase-minutes must be positive and --zipf not negative")
        }
    }

    func run() throws {
        var traceOptions = CacheTrace.Options()
        traceOptions.seed = seed
        traceOptions.modelCount = models
        traceOptions.durationSeconds = hours * 3600
        traceOptions.requestsPerSecond = rate
        traceOptions.phaseSeconds = phaseMinutes * 60
        traceOptions.zipfExponent = zipf
        var options = CacheSimulation.Options()
        options.workers = workers
        options.memoryBytesPerWorker = memoryMb * 1_000_000
        options.diskBytesPerWorker = diskMb * 1_000_000
        let trace = CacheTrace(traceOptions)
        let simulation = CacheSimulation(options)
        let results = CacheSimulation.Variant.standard.map { simulation.run(trace, $0) }
        let catalogBytes = trace.models.values.reduce(0, +)
        print(
            "trace: \(trace.requests.count) requests, \(models) models ("
                + "\(catalogBytes / 1_000_000) MB in all), seed \(seed); "
                + "\(workers) workers × \(memoryMb) MB memory, \(diskMb) MB disk")
        if catalogBytes <= workers * memoryMb * 1_000_000 {
            print(
                "note: the whole catalog fits in the cluster's memory, so no policy ever evicts; "
                    + "use more --models or less --memory-mb to compare them")
        }
        print(CacheBenchReport.render(results))
        if let lru = results.first {
            for result in results.dropFirst() where result.policy.hasPrefix("tessera") {
                print(CacheBenchReport.comparison(result, against: lru))
            }
        }
    }
}
