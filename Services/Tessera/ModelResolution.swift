import GGUF
import ModelStore

/// Finds a model for the commands that run the engine here (`run`, `tokenize`, `bench`).
/// A missing model is a runtime error that says what to do with the installed tool —
/// `tessera model pull` — rather than pointing at a script that only exists in a checkout.
enum ModelResolution {
    static func path(_ pathOrName: String) throws -> String {
        do {
            return try ModelLocator.resolve(pathOrName)
        } catch ModelLocator.LocatorError.notFound(let model, let path) {
            let isPath = model.contains("/") || model.hasSuffix(".gguf")
            let pull = KnownModels.named(model) != nil ? model : ModelLocator.defaultModelName
            let missing =
                isPath
                ? "model file \(path) does not exist"
                : "model \(model) is not downloaded (no \(path))"
            let hint =
                KnownModels.named(model) != nil || isPath
                ? "get \(isPath ? "the default model" : model) with `tessera model pull \(pull)`"
                : "known models: \(KnownModels.all.map(\.name).joined(separator: ", ")) (`tessera model pull NAME`)"
            throw CLIError("\(missing); \(hint)")
        }
    }
}
