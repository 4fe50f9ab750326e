import Foundation

/// Resolves a model given as a path or as a short name (e.g. `smollm2-135m`) to a GGUF file path.
/// Names live in `${TESSERA_MODEL_DIR:-$HOME/.cache/tessera/models}/<name>.gguf`, where
/// `scripts/fetch-model` puts them.
public enum ModelLocator {
    public static let defaultModelName = "smollm2-135m"

    public enum LocatorError: Error, CustomStringConvertible {
        case notFound(model: String, path: String)

        public var description: String {
            switch self {
            case .notFound(let model, let path):
                "model \(model) not found at \(path); run scripts/fetch-model to download it"
            }
        }
    }

    /// The folder holding named models.
    public static var modelDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let configured = environment["TESSERA_MODEL_DIR"], !configured.isEmpty {
            return configured
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/tessera/models"
    }

    /// Where a named model is (or would be) stored.
    public static func path(forName name: String) -> String {
        modelDirectory + "/" + name + ".gguf"
    }

    /// A value containing `/` or ending in `.gguf` is a path; anything else is a name.
    /// Throws `LocatorError.notFound` when the file does not exist.
    public static func resolve(_ pathOrName: String) throws -> String {
        let isPath = pathOrName.contains("/") || pathOrName.hasSuffix(".gguf")
        let path = isPath ? pathOrName : path(forName: pathOrName)
        guard FileManager.default.fileExists(atPath: path) else {
            throw LocatorError.notFound(model: pathOrName, path: path)
        }
        return path
    }
}
