import Foundation
import GGUF

/// Times prefill and decode of the engine the way llama.cpp's llama-bench does:
/// one prefill of `promptTokens` tokens in a fresh session, then `generatedTokens` single-token
/// decode steps (greedy, feeding back the argmax).
public struct EngineBenchmark: Sendable {
    public struct Result: Sendable, Codable {
        public var threads: Int
        public var promptTokens: Int
        public var generatedTokens: Int
        public var prefillSeconds: Double
        public var decodeSeconds: Double
        /// Process CPU time of the same phases (all threads): on a busy machine, wall time
        /// includes waiting for a core, CPU time does not.
        public var prefillCPUSeconds: Double
        public var decodeCPUSeconds: Double
        /// Aggregate decode tokens/s of that many sessions stepping together
        /// (`forward(batch:)`, continuous batching's pass), by session count.
        public var batchedDecode: [BatchedDecode] = []
        public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
        public var decodeTokensPerSecond: Double { Double(generatedTokens) / decodeSeconds }
    }

    public struct BatchedDecode: Sendable, Codable {
        public var sessions: Int
        public var tokensPerSecond: Double

        public init(sessions: Int, tokensPerSecond: Double) {
            self.sessions = sessions
            self.tokensPerSecond = tokensPerSecond
        }
    }

    public var promptTokens: Int
    public var generatedTokens: Int
    public var repetitions: Int
    public var kvCachePrecision: KVCachePrecision
    /// Session counts for the batched-decode measurement (none: skip it).
    public var batchSizes: [Int]

    public init(
        promptTokens: Int = 128, generatedTokens: Int = 64, repetitions: Int = 3,
        kvCachePrecision: KVCachePrecision = .f16, batchSizes: [Int] = []
    ) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.repetitions = max(1, repetitions)
        self.kvCachePrecision = kvCachePrecision
        self.batchSizes = batchSizes
    }

    /// Runs a warm-up pass, then `repetitions` measured passes, and reports the median of each
    /// phase (the statistic scripts/bench/llamacpp-bench.py reports for llama.cpp).
    public func run(stage: TransformerStage) throws -> Result {
        guard stage.isFirst, stage.isLast else {
            throw InferenceError.wrongInput("the benchmark needs a stage holding the whole model")
        }
        let vocabulary = stage.hyperparameters.vocabularySize
        // A fixed, deterministic pseudo-prompt; the content does not affect speed.
        let prompt = (0..<promptTokens).map { Int32(($0 * 7919 + 17) % vocabulary) }
        let context = promptTokens + generatedTokens
        var prefill: [Double] = []
        var decode: [Double] = []
        var prefillCPU: [Double] = []
        var decodeCPU: [Double] = []
        for pass in 0...repetitions {
            let session = try stage.makeSession(contextLength: context, precision: kvCachePrecision)
            let prefillStart = DispatchTime.now().uptimeNanoseconds
            let prefillCPUStart = Self.processCPUSeconds()
            var logits = try stage.forward(.tokens(prompt), session: session).values
            let prefillEnd = DispatchTime.now().uptimeNanoseconds
            let prefillCPUEnd = Self.processCPUSeconds()
            for _ in 0..<generatedTokens {
                let next = Int32(logits.indices.max { logits[$0] < logits[$1] } ?? 0)
                logits = try stage.forward(.tokens([next]), session: session).values
            }
            let decodeEnd = DispatchTime.now().uptimeNanoseconds
            let decodeCPUEnd = Self.processCPUSeconds()
            guard pass > 0 else { continue }  // warm-up: page in weights, grow buffers
            prefill.append(Double(prefillEnd - prefillStart) / 1e9)
            decode.append(Double(decodeEnd - prefillEnd) / 1e9)
            prefillCPU.append(prefillCPUEnd - prefillCPUStart)
            decodeCPU.append(decodeCPUEnd - prefillCPUEnd)
        }
        return Result(
            threads: stage.threadCount, promptTokens: promptTokens,
            generatedTokens: generatedTokens,
            prefillSeconds: Self.median(prefill), decodeSeconds: Self.median(decode),
            prefillCPUSeconds: Self.median(prefillCPU),
            decodeCPUSeconds: Self.median(decodeCPU),
            batchedDecode: try batchSizes.map {
                BatchedDecode(
                    sessions: $0, tokensPerSecond: try batchedDecodeRate(stage: stage, sessions: $0)
                )
            })
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// `sessions` sessions, each after its own prefill of the prompt (rotated, so they differ),
    /// decode `generatedTokens` steps together, one pass per step as a worker's batch loop
    /// runs them; the median over the repetitions of tokens per second in all.
    public func batchedDecodeRate(stage: TransformerStage, sessions: Int) throws -> Double {
        let vocabulary = stage.hyperparameters.vocabularySize
        var rates: [Double] = []
        for pass in 0...repetitions {
            var steps: [BatchStep] = []
            for index in 0..<sessions {
                let session = try stage.makeSession(
                    contextLength: promptTokens + generatedTokens, precision: kvCachePrecision)
                let prompt = (0..<promptTokens).map {
                    Int32((($0 + index) * 7919 + 17) % vocabulary)
                }
                _ = try stage.forward(.tokens(prompt), session: session)
                steps.append(BatchStep(session: session, input: .tokens([Int32(index)])))
            }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<generatedTokens {
                let outputs = try stage.forward(batch: steps)
                steps = zip(steps, outputs).map { step, output in
                    let logits = output.values
                    let next = Int32(logits.indices.max { logits[$0] < logits[$1] } ?? 0)
                    return BatchStep(session: step.session, input: .tokens([next]))
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if pass > 0 { rates.append(Double(sessions * generatedTokens) / seconds) }
        }
        return Self.median(rates)
    }

    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
