import ArgumentParser
import Placement

/// `tessera placement bench`: times the placement optimizer on synthetic edge clusters.
/// All logic lives in `PlacementBenchmark`; this only parses flags and prints.
struct PlacementBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Time the placement optimizer on synthetic edge clusters.")

    @Option(help: "Workers in the synthetic cluster.")
    var workers = 64

    @Option(help: "Layers of the synthetic model.")
    var layers = 80

    @Option(help: "Seed of the synthetic cluster.")
    var seed: UInt64 = 1

    @Option(help: "Solves per scenario; the fastest is reported.")
    var repetitions = 3

    @Option(help: "Link style: uniform, sites or randomPairs (repeatable; all when omitted).")
    var links: [String] = []

    @Flag(help: "Also print each plan as a table.")
    var table = false

    func run() throws {
        var styles: [SyntheticCluster.LinkStyle] = []
        for name in links {
            guard let style = SyntheticCluster.LinkStyle(rawValue: name) else {
                throw ValidationError(
                    "unknown link style '\(name)'; use uniform, sites or randomPairs")
            }
            styles.append(style)
        }
        let results = try PlacementBenchmark.run(
            workerCount: workers, layerCount: layers, seed: seed, repetitions: repetitions,
            styles: styles.isEmpty ? SyntheticCluster.LinkStyle.allCases : styles)
        print(PlacementBenchmark.report(results))
        if table {
            for result in results {
                print("\n\(result.label)")
                print(PlanTable.render(result.plan))
            }
        }
    }
}
