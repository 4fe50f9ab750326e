import Foundation
import GGUF
import Inference
import Integrity
import Kernels

/// How far two honest runs of the same session drift apart when only the execution differs
/// (thread count, matrix path): the band the fingerprint tolerance must stay above, and,
/// with `perturbed`, how far a wrong run lands. A probe for calibrating, not used by replays.
public enum HonestNoise {
    public struct Setting: Sendable, CustomStringConvertible {
        public var threads: Int
        /// The path of steps of several tokens (one token always takes the decode path).
        public var path: MatmulPath

        public init(threads: Int = 1, path: MatmulPath = .independentRows) {
            self.threads = threads
            self.path = path
        }

        public var description: String { "\(threads) thread(s), \(path)" }
    }

    /// Runs one session through `chain` (consecutive layer ranges of `file`, each its own
    /// stage, as a pipeline): the prompt in one step, then each of `decode` alone. Returns
    /// the last stage's output per step (hidden rows, or the last position's logits).
    public static func outputs(
        file: GGUFFile, chain: [Range<Int>], prompt: [Int32], decode: [Int32], setting: Setting
    ) throws -> [[Float]] {
        let stages = try chain.map {
            try TransformerStage(file: file, layers: $0, threads: setting.threads)
        }
        let context = prompt.count + decode.count
        let sessions = try stages.map { try $0.makeSession(contextLength: context) }
        func step(_ tokens: [Int32]) throws -> [Float] {
            var input = StageInput.tokens(tokens)
            var values: [Float] = []
            for (stage, session) in zip(stages, sessions) {
                let output =
                    tokens.count == 1
                    ? try stage.forward(batch: [BatchStep(session: session, input: input)])[0]
                    : try stage.forward(input, session: session, path: setting.path)
                values = output.values
                input = .hidden(values, count: tokens.count)
            }
            return values
        }
        return try ([prompt] + decode.map { [$0] }).map(step)
    }

    /// The worst distance, over steps, of `replayed` from fingerprints of `committed`.
    public static func distance(committed: [[Float]], replayed: [[Float]], width: Int) throws
        -> FingerprintDistance
    {
        var worst = FingerprintDistance.identical
        for (mine, theirs) in zip(committed, replayed) {
            let fingerprint = try ActivationFingerprint(
                encoded: ActivationFingerprint(values: mine, width: width).encoded)
            let distance = try fingerprint.distance(toReplayed: theirs)
            worst.cosine = min(worst.cosine, distance.cosine)
            worst.relativeError = max(worst.relativeError, distance.relativeError)
            worst.normError = max(worst.normError, distance.normError)
        }
        return worst
    }

    /// The same session under two settings, the first as the worker that committed, the
    /// second as the replay.
    public static func compare(
        file: GGUFFile, chain: [Range<Int>], prompt: [Int32], decode: [Int32], _ worker: Setting,
        _ replay: Setting
    ) throws -> FingerprintDistance {
        let committed = try outputs(
            file: file, chain: chain, prompt: prompt, decode: decode, setting: worker)
        let replayed = try outputs(
            file: file, chain: chain, prompt: prompt, decode: decode, setting: replay)
        let hp = try ModelHyperparameters(gguf: file)
        let endsModel = chain.last?.upperBound == hp.layerCount
        return try distance(
            committed: committed, replayed: replayed,
            width: endsModel ? hp.vocabularySize : hp.embeddingLength)
    }

    /// `values` plus Gaussian noise of `relative` × the RMS of each row of `width`, so the
    /// noise's norm is about `relative` × the row's: a deterministic (seeded) wrong output.
    public static func perturbed(_ values: [Float], width: Int, relative: Double, seed: UInt64)
        -> [Float]
    {
        var random = SplitMix(state: seed)
        var out = values
        RelativeNoise.add(to: &out, width: width, relative: relative, using: &random)
        return out
    }

    /// SplitMix64: seeded, so a perturbed run is the same every time.
    private struct SplitMix: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
