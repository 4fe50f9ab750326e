import GGUF
import Inference
import Testing

/// Bad requests are thrown as errors that say what is wrong; nothing traps.
@Suite struct StageErrorTests {
    @Test func invalidLayerRangesAreRejected() throws {
        let file = try TestModel.file()
        for range in [0..<31, 5..<5, 30..<30] {
            #expect(
                throws: InferenceError.invalidLayerRange(
                    first: range.lowerBound, last: range.upperBound, layerCount: 30)
            ) {
                try TransformerStage(file: file, layers: range, threads: 1)
            }
        }
    }

    @Test func inputsAreValidated() throws {
        let file = try TestModel.file()
        let first = try TransformerStage(file: file, layers: 0..<2, threads: 1)
        let last = try TransformerStage(file: file, layers: 28..<30, threads: 1)
        let firstSession = try first.makeSession(contextLength: 4)
        let lastSession = try last.makeSession(contextLength: 4)

        #expect(throws: InferenceError.tokenOutOfRange(token: 49152, vocabularySize: 49152)) {
            try first.forward(.tokens([1, 49152]), session: firstSession)
        }
        #expect(throws: InferenceError.tokenOutOfRange(token: -1, vocabularySize: 49152)) {
            try first.forward(.tokens([-1]), session: firstSession)
        }
        #expect(throws: InferenceError.emptyInput) {
            try first.forward(.tokens([]), session: firstSession)
        }
        #expect(throws: InferenceError.hiddenSizeMismatch(expected: 576, actual: 575)) {
            try last.forward(
                .hidden([Float](repeating: 0, count: 575), count: 1), session: lastSession)
        }
        #expect(throws: InferenceError.hiddenSizeMismatch(expected: 576, actual: 576)) {
            try last.forward(
                .hidden([Float](repeating: 0, count: 576), count: 2), session: lastSession)
        }
        #expect(throws: InferenceError.self) {
            try last.forward(.tokens([1]), session: lastSession)
        }
        #expect(throws: InferenceError.self) {
            try first.forward(
                .hidden([Float](repeating: 0, count: 576), count: 1), session: firstSession)
        }
        #expect(throws: InferenceError.self) {
            try last.forward(.tokens([1]), session: firstSession)
        }
        #expect(throws: InferenceError.invalidContextLength(0)) {
            try first.makeSession(contextLength: 0)
        }
        // Nothing above touched the caches.
        #expect(firstSession.position == 0 && lastSession.position == 0)
    }

    @Test func contextOverflowIsAnErrorAndLeavesTheSessionUsable() throws {
        let stage = try TransformerStage(file: try TestModel.file(), layers: 0..<30, threads: 1)
        let session = try stage.makeSession(contextLength: 4)
        _ = try stage.forward(.tokens([1, 2, 3]), session: session)
        #expect(throws: InferenceError.contextOverflow(position: 3, tokens: 2, contextLength: 4)) {
            try stage.forward(.tokens([4, 5]), session: session)
        }
        #expect(session.position == 3)
        _ = try stage.forward(.tokens([4]), session: session)
        #expect(throws: InferenceError.contextOverflow(position: 4, tokens: 1, contextLength: 4)) {
            try stage.forward(.tokens([5]), session: session)
        }
        session.truncate(to: 2)
        #expect(session.position == 2)
        session.reset()
        #expect(session.position == 0)
    }

    @Test func hyperparametersComeFromMetadata() throws {
        let hp = try ModelHyperparameters(gguf: try TestModel.file())
        #expect(hp.layerCount == 30 && hp.embeddingLength == 576 && hp.feedForwardLength == 1536)
        #expect(
            hp.headCount == 9 && hp.kvHeadCount == 3 && hp.headDimension == 64
                && hp.rotaryDimensions == 64)
        #expect(hp.vocabularySize == 49152 && hp.contextLength == 8192)
        #expect(hp.ropeBase == 100_000 && abs(hp.rmsEpsilon - 1e-5) < 1e-10)
    }

    @Test func missingMetadataIsNamed() throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("llama.embedding_length", .uint32(64))
        let file = try GGUFFile(bytes: try writer.encoded())
        #expect(throws: InferenceError.missingMetadata(key: "llama.block_count")) {
            try ModelHyperparameters(gguf: file)
        }
        var other = GGUFWriter()
        other.set("general.architecture", .string("mamba"))
        #expect(throws: InferenceError.unsupportedArchitecture("mamba")) {
            try ModelHyperparameters(gguf: try GGUFFile(bytes: try other.encoded()))
        }
    }
}
