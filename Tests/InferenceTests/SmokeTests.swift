import Testing
import Inference

@Test func capitalOfFrance() throws {
    let stage = try TransformerStage(file: try TestModel.file(), layers: 0..<30, threads: 2)
    let session = try stage.makeSession(contextLength: 64)
    let logits = try stage.forward(.tokens([504, 3575, 282, 4649, 314]), session: session).values
    let top = TestModel.argmax(logits[...])
    print("top", top, logits[top], "paris", logits[7042])
    #expect(top == 7042)
}
