import Placement
import TesseraProto
import Testing

/// Inputs from the protobuf fuzz target (scripts/fuzz, Fuzz/ProtobufFuzz.swift) that once
/// trapped a service, kept so they keep failing cleanly. Each input's bytes are also under
/// Fuzz/regressions/protobuf, which every fuzz run replays first.
@Suite struct WireFuzzRegressionTests {
    static let workers = [
        WorkerProfile(id: "a", memoryBudgetBytes: 1 << 34, speed: WorkerSpeed(bytesPerSecond: 8e9)),
        WorkerProfile(id: "b", memoryBudgetBytes: 1 << 33, speed: WorkerSpeed(bytesPerSecond: 4e9)),
    ]

    /// A manifest whose two layers claim 2^64 - 1 weight bytes each overflowed the
    /// planner's prefix sums (`CostTables`) and trapped the scheduler. Byte counts now read
    /// as at most the bound, and such a model is refused by placement.
    @Test func aManifestClaimingHugeLayersIsRefusedNotATrap() throws {
        var manifest = Tessera_V1_ModelManifest()
        manifest.layerCount = 2
        manifest.layers = [UInt64.max, UInt64.max - 1].map { bytes in
            .with {
                $0.weightBytes = bytes
                $0.kvBytesPerToken = bytes
                $0.flopsPerToken = bytes
            }
        }
        manifest.embedding.weightBytes = .max
        manifest.output.weightBytes = .max
        let cost = try Tessera_V1_ModelManifest(
            serializedBytes: manifest.serializedBytes() as [UInt8]
        ).cost
        let bound = Int(Tessera_V1_ModelManifest.maxWeightBytes)
        #expect(cost.layers.map(\.weightBytes) == [bound, bound])
        #expect(cost.layers.map(\.kvBytesPerToken) == [1 << 24, 1 << 24])
        #expect(cost.embedding.weightBytes == bound && cost.outputHead.weightBytes == bound)
        #expect(throws: PlacementError.self) {
            try Placement.solve(model: cost, workers: Self.workers)
        }
    }

    /// The bound leaves every real model as it was.
    @Test func realCostsCrossTheWireUnchanged() {
        let profile = ModelProfile.denseDecoder(
            layerCount: 30, hiddenSize: 576, intermediateSize: 1536, vocabularySize: 49_152,
            headCount: 9, kvHeadCount: 3, bytesPerWeight: 0.6, tiedEmbeddings: true)
        var manifest = Tessera_V1_ModelManifest()
        manifest.vocabSize = 49_152
        manifest.setCost(profile)
        #expect(manifest.cost.layers == profile.layers)
        #expect(manifest.cost.embedding.weightBytes == profile.embedding.weightBytes)
    }
}
