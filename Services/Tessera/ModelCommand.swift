import ArgumentParser
import Foundation
import GGUF
import ModelStore

/// `tessera model pull NAME`: fetch a known model into the local model directory.
struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Manage local model files.",
        subcommands: [
            Pull.self, List.self, ModelVariantsCommand.self, ModelServeCommand.self,
            ModelUnserveCommand.self, ModelBudgetCommand.self,
        ])

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a known model (checked by SHA-256) into $TESSERA_MODEL_DIR.")

        @Argument(help: "Model name, for example smollm2-135m.")
        var name = ModelLocator.defaultModelName

        func run() async throws {
            let view = FetchProgressView()
            defer { view.finishLine() }
            let path = try ModelFetcher.fetch(
                name,
                log: { message in
                    view.finishLine()
                    FileHandle.standardError.write(Data("tessera: \(message)\n".utf8))
                },
                progress: view.update)
            view.finishLine()
            print(path)
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
