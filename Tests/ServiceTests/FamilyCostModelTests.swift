import Foundation
import GGUF
import ModelStore
import Placement
import ServiceKit
import Testing

@testable import Inference

/// The placement's cost model against the engine, for every model family: the weight bytes
/// and FLOPs per token that the cache-manager's profile (`ModelAnalysis`, priced by
/// `TensorLayout.layerCosts`) makes the optimizer predict for a stage must be exactly what
/// that stage's `TransformerStage` reads and multiplies in one decode step. Counted from the
/// engine's side: the matrices it loaded (rows × row bytes; 2 FLOPs per weight), the
/// vectors it holds (norm gains and biases, f32), the one embedding row the first stage
/// looks up, the output head the last stage runs, and attention over the reference context
/// as the engine bounds it (a sliding-window layer sees its window).
///
/// A measured decode step of each whole model is printed beside the prediction; timing is
/// never asserted (the machine is shared).
@Suite(.serialized) struct FamilyCostModelTests {
    static let models = FamilyShardTests.families.flatMap { ["\($0)-f16", "\($0)-q8_0"] }

    @Test(arguments: models + realModels)
    func predictedBytesAndFlopsAreWhatTheEngineDoes(model name: String) throws {
        let file = try Self.file(name)
        let profile = try ModelAnalysis(model: file).cost
        let layerCount = profile.layerCount
        let cut = layerCount / 2
        for split in [[0..<layerCount], [0..<cut, cut..<layerCount]] {
            for (range, predicted) in zip(split, try Self.predictedStages(split, profile)) {
                let stage = try TransformerStage(file: file, layers: range, threads: 1)
                let engine = EngineStepCount(
                    stage, contextTokens: ModelAnalysis.referenceContextTokens)
                #expect(
                    Int(predicted.bytesReadPerToken) == engine.bytes,
                    "\(name) layers \(range): predicted \(predicted.bytesReadPerToken) B, engine \(engine.bytes) B"
                )
                #expect(
                    predicted.flopsPerToken == engine.flops,
                    "\(name) layers \(range): predicted \(predicted.flopsPerToken), engine \(engine.flops)"
                )
            }
        }
    }

    /// The downloaded models, where decode streams weights from memory rather than cache.
    static let realModels = ["smollm2-135m", "gemma3-270m"].filter {
        FileManager.default.fileExists(atPath: ModelLocator.path(forName: $0))
    }

    static func file(_ name: String) throws -> GGUFFile {
        realModels.contains(name)
            ? try GGUFFile(path: ModelLocator.path(forName: name)) : try FamilyModelFiles.file(name)
    }

    /// One table row per model: prediction, engine count and a measured step of the whole
    /// model. Printed for README's measured section; only the counts are asserted.
    @Test func measuredStepsBesidePredictions() throws {
        var rows: [String] = [
            "model               layers  predicted B/token  engine B/token  predicted MFLOP/token  step µs  µs per predicted kB"
        ]
        for name in Self.models + Self.realModels {
            let file = try Self.file(name)
            let profile = try ModelAnalysis(model: file).cost
            let stage = try TransformerStage(file: file, layers: 0..<profile.layerCount, threads: 1)
            let predicted = try Self.predictedStages([0..<profile.layerCount], profile)[0]
            let engine = EngineStepCount(
                stage, contextTokens: ModelAnalysis.referenceContextTokens)
            #expect(Int(predicted.bytesReadPerToken) == engine.bytes)
            let step = try Self.medianDecodeStepSeconds(stage)
            let kilobytes = predicted.bytesReadPerToken / 1000
            rows.append(
                name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + "\(profile.layerCount)".leftPadded(6)
                    + "\(Int(predicted.bytesReadPerToken))".leftPadded(19)
                    + "\(engine.bytes)".leftPadded(16)
                    + String(format: "%.2f", predicted.flopsPerToken / 1e6).leftPadded(23)
                    + String(format: "%.1f", step * 1e6).leftPadded(9)
                    + String(format: "%.2f", step * 1e6 / kilobytes).leftPadded(21))
        }
        print(rows.joined(separator: "\n"))
    }

    /// The placement's prediction for a pipeline cutting the model into `ranges`, one roomy
    /// worker per stage (speeds do not enter the bytes and FLOPs it predicts).
    static func predictedStages(_ ranges: [Range<Int>], _ profile: ModelProfile) throws -> [Stage] {
        let workers = ranges.indices.map {
            WorkerProfile(
                id: "w\($0)", memoryBudgetBytes: 1 << 30,
                speed: WorkerSpeed(bytesPerSecond: 1e9, flopsPerSecond: 1e9))
        }
        let pipeline = try #require(
            Placement.predict(
                stages: ranges.indices.map { (workerID: "w\($0)", layers: ranges[$0]) },
                model: profile, workers: workers))
        return pipeline.stages
    }

    /// The median of 64 single-token decode steps after a 4-token prompt, one thread.
    static func medianDecodeStepSeconds(_ stage: TransformerStage) throws -> Double {
        let session = try stage.makeSession(contextLength: 128)
        var next = try Self.argmax(stage.forward(.tokens([1, 40, 7, 283]), session: session))
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<64 {
            let start = clock.now
            let output = try stage.forward(.tokens([next]), session: session)
            samples.append((clock.now - start).inSeconds)
            next = Self.argmax(output)
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    static func argmax(_ output: StageOutput) -> Int32 {
        let logits = output.values
        var best = 0
        for index in logits.indices where logits[index] > logits[best] { best = index }
        return Int32(best)
    }
}

/// What one decode step of `stage` reads and computes, counted from the tensors the engine
/// loaded for it (not from the file or the cost model).
struct EngineStepCount {
    var bytes = 0
    var flops = 0.0

    init(_ stage: TransformerStage, contextTokens: Int) {
        let weights = stage.weights
        let hp = stage.hyperparameters
        for (offset, layer) in weights.layers.enumerated() {
            for matrix in layer.matrices {
                bytes += matrix.rows * matrix.rowBytes
                flops += Double(2 * matrix.rows * matrix.columns)
            }
            let vectors: [[Float]?] = [
                layer.attentionNorm, layer.feedForwardNorm, layer.queryBias, layer.keyBias,
                layer.valueBias, layer.queryNorm, layer.keyNorm, layer.attentionPostNorm,
                layer.feedForwardPostNorm,
            ]
            for vector in vectors { bytes += (vector?.count ?? 0) * MemoryLayout<Float>.size }
            // Scores against every attended key and the weighted sum of their values: one
            // multiply-add per element of each, for every query head.
            let window = stage.attentionWindow(layer: stage.layers.lowerBound + offset)
            let attended = min(contextTokens, window ?? contextTokens)
            flops += Double(
                2 * 2 * stage.attention.headCount * stage.attention.headDimension * attended)
        }
        if let embedding = weights.embedding, stage.isFirst {
            bytes += embedding.rowBytes  // one row looked up, no arithmetic
        }
        if let output = weights.output, stage.isLast {
            bytes += output.rows * output.rowBytes
            flops += Double(2 * output.rows * output.columns)
        }
        if let norm = weights.outputNorm, stage.isLast {
            bytes += norm.count * MemoryLayout<Float>.size
            // The final RMS norm is the one elementwise step the cost model prices (4 FLOPs
            // per element); the per-layer ones are width-sized noise beside the matrices.
            flops += Double(4 * hp.embeddingLength)
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
