import ArgumentParser

/// `tessera`: the command-line tool for operators and developers.
@main
struct TesseraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Tessera: LLM inference across small, unequal machines.",
        subcommands: [
            UpCommand.self, StatusCommand.self, ChatCommand.self, ModelCommand.self,
            RunCommand.self, TokenizeCommand.self,
            PlacementCommand.self, BenchCommand.self,
        ])
}
