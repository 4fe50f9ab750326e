import Foundation
import GGUF
import Inference

/// The default test model, opened once per test process and shared by the tests.
enum TestModel {
    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "test model not found at \(path); run scripts/fetch-model to download it"
        }
    }

    static let path = ModelLocator.path(forName: ModelLocator.defaultModelName)

    private static let shared = Result { () throws -> GGUFFile in
        guard FileManager.default.fileExists(atPath: path) else { throw Missing(path: path) }
        return try GGUFFile(path: path)
    }

    /// The mapped model; throws a message pointing at scripts/fetch-model when absent.
    static func file() throws -> GGUFFile { try shared.get() }

    /// Indices of the `count` largest values, largest first, in one pass (test code is not
    /// optimized, and sorting 49152 logits per position would dominate the run time).
    static func topIndices(_ values: ArraySlice<Float>, count: Int) -> [Int] {
        var best: [Int] = []
        for index in values.indices {
            let value = values[index]
            if best.count == count, let last = best.last, value <= values[last] { continue }
            var position = best.count
            while position > 0 && values[best[position - 1]] < value { position -= 1 }
            best.insert(index, at: position)
            if best.count > count { best.removeLast() }
        }
        return best.map { $0 - values.startIndex }
    }

    /// Index of the largest value (first one on ties).
    static func argmax(_ values: ArraySlice<Float>) -> Int {
        var best = values.startIndex
        for index in values.indices where values[index] > values[best] { best = index }
        return best - values.startIndex
    }
}
