/// Deterministic synthetic edge clusters, for the benchmark and for trying the optimizer
/// without real machines. Figures are rough effective values for common edge hardware.
public enum SyntheticCluster {
    /// How links between workers are drawn.
    public enum LinkStyle: String, Sendable, CaseIterable {
        /// One LAN link for every pair.
        case uniform
        /// Four sites: 0.5 ms / 1 Gbit/s inside a site, 15 ms / 100 Mbit/s between sites.
        case sites
        /// Every directed pair its own random latency and bandwidth (no symmetry to exploit).
        case randomPairs
    }

    /// Which machines the cluster is drawn from.
    public enum HardwareMix: String, Sendable, CaseIterable {
        /// Everything in the catalog, from Raspberry Pis to 32 GB Jetson AGX boards.
        case mixed
        /// Only devices with at most 8 GB (Pis, phones, Jetson Orin Nanos): a 70B model then
        /// needs seven or more stages per pipeline.
        case small
    }

    public struct Scenario: Sendable {
        public var model: ModelProfile
        public var workers: [WorkerProfile]
        public var links: LinkModel
        public var options: PlacementOptions
    }

    private struct Hardware {
        var name: String
        var budgetGiB: Double
        var gigabytesPerSecond: Double
        var gigaflops: Double
        var overheadMilliseconds: Double
    }

    private static let catalog = [
        Hardware(
            name: "pi5", budgetGiB: 6, gigabytesPerSecond: 8, gigaflops: 60, overheadMilliseconds: 2
        ),
        Hardware(
            name: "phone", budgetGiB: 7, gigabytesPerSecond: 30, gigaflops: 250,
            overheadMilliseconds: 3),
        Hardware(
            name: "orin-nano", budgetGiB: 6, gigabytesPerSecond: 50, gigaflops: 600,
            overheadMilliseconds: 1),
        Hardware(
            name: "mac-mini", budgetGiB: 12, gigabytesPerSecond: 100, gigaflops: 1500,
            overheadMilliseconds: 1),
        Hardware(
            name: "mini-pc", budgetGiB: 26, gigabytesPerSecond: 40, gigaflops: 500,
            overheadMilliseconds: 1),
        Hardware(
            name: "orin-agx", budgetGiB: 28, gigabytesPerSecond: 150, gigaflops: 2500,
            overheadMilliseconds: 1),
    ]

    /// A Llama-2-70B-shaped model (80 layers by default) at about 4.5 bits per weight.
    public static func largeModel(layerCount: Int = 80) -> ModelProfile {
        .denseDecoder(
            layerCount: layerCount, hiddenSize: 8192, intermediateSize: 28672,
            vocabularySize: 32000, headCount: 64,
            kvHeadCount: 8, bytesPerWeight: 0.5625, activationBytesPerElement: 2)
    }

    /// `workerCount` workers drawn from the catalog. With `jitter`, each device's measured
    /// speed differs by up to ±10% from its class, as real measurements do.
    public static func edge(
        workerCount: Int = 64, layerCount: Int = 80, linkStyle: LinkStyle = .sites,
        jitter: Bool = true,
        hardware: HardwareMix = .mixed, seed: UInt64 = 1
    ) -> Scenario {
        let choices = hardware == .mixed ? catalog : catalog.filter { $0.budgetGiB <= 8 }
        var random = SeededGenerator(seed: seed)
        var workers: [WorkerProfile] = []
        var links = LinkModel(defaultLink: Link(latencySeconds: 0.001, bytesPerSecond: 125_000_000))
        let sites = ["a", "b", "c", "d"]
        let digits = max(2, String(max(0, workerCount - 1)).count)
        for index in 0..<workerCount {
            let hardware = choices[random.below(choices.count)]
            let scale = jitter ? 0.9 + 0.2 * random.unit() : 1
            let number = String(index)
            let id =
                "\(hardware.name)-" + String(repeating: "0", count: max(0, digits - number.count))
                + number
            workers.append(
                WorkerProfile(
                    id: id, memoryBudgetBytes: Int(hardware.budgetGiB * 1_073_741_824),
                    speed: WorkerSpeed(
                        bytesPerSecond: hardware.gigabytesPerSecond * 1e9 * scale,
                        flopsPerSecond: hardware.gigaflops * 1e9 * scale,
                        overheadSeconds: hardware.overheadMilliseconds / 1000),
                    expectedSessions: 2))
            links.siteOfWorker[id] = sites[random.below(sites.count)]
        }
        switch linkStyle {
        case .uniform:
            links.siteOfWorker = [:]
        case .sites:
            for a in sites {
                for b in sites {
                    links.setSiteLink(
                        a == b
                            ? Link(latencySeconds: 0.0005, bytesPerSecond: 125_000_000)
                            : Link(latencySeconds: 0.015, bytesPerSecond: 12_500_000), between: a,
                        and: b)
                }
            }
        case .randomPairs:
            links.siteOfWorker = [:]
            for a in workers {
                for b in workers where a.id != b.id {
                    let link = Link(
                        latencySeconds: 0.0005 + 0.02 * random.unit(),
                        bytesPerSecond: 1e7 + 1.2e8 * random.unit())
                    links.setLink(link, from: a.id, to: b.id, symmetric: false)
                }
            }
        }
        return Scenario(
            model: largeModel(layerCount: layerCount), workers: workers, links: links,
            options: PlacementOptions(contextLength: 4096))
    }
}
