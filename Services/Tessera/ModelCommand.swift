import ArgumentParser
import Foundation
import GGUF
import ModelStore

/// `tessera model pull NAME`: fetch a known model into the local model directory.
struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Manage local model files.",
        subcommands: [Pull.self, List.self])

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a known model (checked by SHA-256) into $TESSERA_MODEL_DIR.")

        @Argument(help: "Model name, for example smollm2-135m.")
        var name = ModelLocator.defaultModelName

        func run() async throws {
            do {
                let path = try ModelFetcher.fetch(name) { message in
                    FileHandle.standardError.write(Data("tessera: \(message)\n".utf8))
                }
                print(path)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List known models and whether they are present.")

        func run() async throws {
            for model in KnownModels.all {
                let path = ModelLocator.path(forName: model.name)
                let present = FileManager.default.fileExists(atPath: path)
                print("\(model.name)\t\(present ? path : "not downloaded")")
            }
        }
    }
}
