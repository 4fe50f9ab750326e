import Foundation
import Inference
import Integrity
import ServiceKit
import Testing
import Verifier

/// (The engine runs go through `Offload`, off the cooperative threads: synchronous forward
/// passes there would starve the parallel suite's services of the threads they run on.)
///
/// The honest-noise band: the same session through the engine under other settings (thread
/// count, matrix path) against wrong runs (a layer skipped, noise on a stage's output). It
/// prints what it measures, for docs/verification.md; the tolerance must sit between.
/// (Native against Swift dot kernels, `TESSERA_NATIVE_KERNELS=0`, is fixed per process and so
/// not measured here: the two give the same bits, NativeSwiftParityTests and the system test
/// test_verification.py's honest-noise run.)
@Suite(.serialized) struct ReplayHonestNoiseTests {
    typealias Setting = HonestNoise.Setting

    static let tolerance = FingerprintTolerance()
    static let decode: [Int32] = [17542, 30, 378, 3575]

    static func report(_ label: String, _ distance: FingerprintDistance) {
        print(
            "honest-noise \(label): relative error \(distance.relativeError), norm error "
                + "\(distance.normError), cosine \(distance.cosine)")
    }

    /// The thread count changes nothing: results do not depend on how rows are split.
    @Test(arguments: [[0..<15], [0..<15, 15..<30]])
    func threadCountsGiveTheSameBits(chain: [Range<Int>]) async throws {
        let file = try WorkerFixtures.modelFile()
        let prompt = try WorkerFixtures.prompt("plain-long")
        for path in [MatmulPath.fastest, .independentRows] {
            let distance = try await Offload.run {
                try HonestNoise.compare(
                    file: file, chain: chain, prompt: prompt, decode: Self.decode,
                    Setting(threads: 1, path: path), Setting(threads: 2, path: path))
            }
            Self.report("\(chain.map(\.layerSpan)) 1 vs 2 threads, \(path)", distance)
            #expect(distance == .identical)
        }
    }

    /// The tiled path (float tiles) and the row-wise one (8-bit activations) are different
    /// computations, far apart: a replay must take the path the worker took.
    @Test(arguments: [[0..<15], [0..<15, 15..<30]])
    func thePathsDifferByMoreThanTheTolerance(chain: [Range<Int>]) async throws {
        let (file, prompt) = (
            try WorkerFixtures.modelFile(), try WorkerFixtures.prompt("plain-long")
        )
        let distance = try await Offload.run {
            try HonestNoise.compare(
                file: file, chain: chain, prompt: prompt, decode: Self.decode,
                Setting(path: .fastest), Setting(path: .independentRows))
        }
        Self.report("\(chain.map(\.layerSpan)) tiled vs row-wise", distance)
        #expect(!distance.within(Self.tolerance))
    }

    @Test(arguments: [[0..<15], [0..<15, 15..<30]])
    func wrongRunsLandOutsideTheTolerance(chain: [Range<Int>]) async throws {
        let file = try WorkerFixtures.modelFile()
        let prompt = try WorkerFixtures.prompt("plain-long")
        let hp = try ModelHyperparameters(gguf: file)
        let width = chain.last!.upperBound == hp.layerCount ? hp.vocabularySize : hp.embeddingLength
        let honest = try await Offload.run {
            try HonestNoise.outputs(
                file: file, chain: chain, prompt: prompt, decode: Self.decode, setting: Setting())
        }
        let label = chain.map(\.layerSpan).joined(separator: " ")

        // Layer 7 skipped: its attention and feed-forward add nothing to the residual stream,
        // as with its output projections zeroed.
        let skipping = [0..<7, 8..<chain[0].upperBound] + chain.dropFirst()
        let skipped = try await Offload.run {
            try HonestNoise.outputs(
                file: file, chain: skipping, prompt: prompt, decode: Self.decode,
                setting: Setting())
        }
        let skip = try HonestNoise.distance(committed: skipped, replayed: honest, width: width)
        Self.report("\(label) layer 7 skipped", skip)
        #expect(!skip.within(Self.tolerance))

        for relative in [1e-3, 1e-2] {
            let noisy = honest.enumerated().map { step, values in
                HonestNoise.perturbed(values, width: width, relative: relative, seed: UInt64(step))
            }
            let distance = try HonestNoise.distance(
                committed: noisy, replayed: honest, width: width)
            Self.report("\(label) noise \(relative)", distance)
            if relative >= 1e-2 { #expect(!distance.within(Self.tolerance)) }
        }
    }
}
