import ArgumentParser
import Foundation

/// `tessera`: the command-line tool for operators and developers.
@main
struct TesseraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Tessera: LLM inference across small, unequal machines.",
        subcommands: [
            UpCommand.self, StatusCommand.self, ChatCommand.self, ModelCommand.self,
            RunCommand.self, TokenizeCommand.self,
            PlacementCommand.self, BenchCommand.self, VerifyCommand.self,
            ReputationCommand.self, WorkerCommand.self, CertsCommand.self, KeysCommand.self,
            EvalCommand.self, ModelsCommand.self, MixRunCommand.self,
        ])

    /// ArgumentParser's own `main` sends every error a command throws to `exit(withError:)`,
    /// which prints usage and exits 64 even when the arguments were fine and the work failed
    /// (a busy port, an unreachable scheduler). Here parsing errors and `ValidationError`s still
    /// get usage; any other error from `run()` is one line on stderr and exit status 1.
    static func main() async {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ValidationError {
            exit(withError: error)
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch  where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // `--help` parses to ArgumentParser's own help command, whose run() throws its
            // (internal) CommandError: that is help to print, not a failure to report.
            exit(withError: error)
        } catch {
            CLIError.report(error)
            Foundation.exit(1)
        }
    }
}
