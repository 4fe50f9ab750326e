import ArgumentParser
import Foundation
import ServiceKit
import TesseraProto

/// `tessera models`: the models the scheduler serves, with their states.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Show the models the scheduler serves: state, pipelines, context, pin.")

    @OptionGroup var scheduler: SchedulerAddressOption

    func run() async throws {
        let address = try scheduler.resolve()
        let models: [Tessera_V1_ModelServingState]
        do {
            models = try await ServiceClient.with(address) { client in
                try await Tessera_V1_Scheduler.Client(wrapping: client)
                    .listModelStates(.init(), options: .timeout(.seconds(5))).models
            }
        } catch {
            throw CLIError("cannot reach the scheduler at \(address): \(error)")
        }
        print(Self.table(models))
    }

    static func table(_ models: [Tessera_V1_ModelServingState]) -> String {
        var rows = [
            ["MODEL", "STATE", "PIPELINES", "CONTEXT", "WEIGHTS", "PIN", "IDLE", "ACTIVE", "NOTE"]
        ]
        for model in models {
            let name = model.model.name.isEmpty ? model.model.sha256 : model.model.name
            var note = model.defaultModel ? "default" : ""
            if model.hasMaxMeanKl {
                // A quality budget: stages may run these variants (docs/variants.md).
                let variants =
                    model.variants.isEmpty ? "none" : model.variants.joined(separator: ", ")
                note +=
                    (note.isEmpty ? "" : "; ")
                    + "KL budget \(model.maxMeanKl), variants \(variants)"
            }
            if !model.reason.isEmpty { note += (note.isEmpty ? "" : "; ") + model.reason }
            rows.append([
                name, model.state, "\(model.readyReplicas)/\(model.replicas) ready",
                "\(model.contextLength)", StatusCommand.bytes(model.weightBytes),
                model.pinReplicas > 0 ? "\(model.pinReplicas)" : "-", "\(model.idleTimeoutS)s",
                "\(model.activeRequests)", note,
            ])
        }
        return (TextTable.lines(rows) + ["\(models.count) model(s)"]).joined(separator: "\n")
    }
}
