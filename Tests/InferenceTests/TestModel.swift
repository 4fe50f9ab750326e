import Foundation
import GGUF
import Inference

/// The default test model, opened once per test process and shared by the tests.
enum TestModel {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "test model not found at \(path); run scripts/fetch-model to download it" }
    }

    static let path = ModelLocator.path(forName: ModelLocator.defaultModelName)

    private static let shared = Result { () throws -> GGUFFile in
        guard FileManager.default.fileExists(atPath: path) else { throw Missing(path: path) }
        return try GGUFFile(path: path)
    }

    /// The mapped model; throws a message pointing at scripts/fetch-model when absent.
    static func file() throws -> GGUFFile { try shared.get() }

    /// Index of the largest value (first one on ties).
    static func argmax(_ values: ArraySlice<Float>) -> Int {
        var best = values.startIndex
        for index in values.indices where values[index] > values[best] { best = index }
        return best - values.startIndex
    }
}
