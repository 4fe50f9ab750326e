import ArgumentParser
import Foundation
import GRPCCore
import ServiceKit
import TesseraProto

/// `tessera chat`: ask a running cluster (through the gateway's gRPC Chat) and stream the
/// answer to stdout; a short stats line goes to stderr.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the model served by a Tessera cluster (through its gateway).")

    @Argument(help: "The user message.")
    var prompt: String
    @Option(
        help:
            "Gateway address host:port (default: env TESSERA_GATEWAY_ADDRESS, else 127.0.0.1:7400)."
    )
    var gateway: ListenAddress?
    @OptionGroup var offset: PortOffsetOption
    @Option(help: "Model name or SHA-256 (default: the cluster's default model).")
    var model = ""
    @Option(help: "A system message (default: the model template's own, if it has one).")
    var system: String?
    @Option(help: "Maximum tokens to generate.")
    var maxTokens = 256
    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0
    @Option(help: "Random seed for sampling (default: chosen by the gateway).")
    var seed: UInt64?

    func validate() throws {
        try offset.check(explicit: gateway, flag: "--gateway")
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        guard temperature.isFinite, temperature >= 0 else {
            throw ValidationError("--temperature must be >= 0")
        }
    }

    func run() async throws {
        try offset.installSecurity()
        let gateway = offset.address(
            gateway, environment: "TESSERA_GATEWAY_ADDRESS", defaultPort: 7400)
        var messages: [Tessera_V1_ChatMessage] = []
        if let system {
            messages.append(
                .with {
                    $0.role = "system"
                    $0.content = system
                })
        }
        messages.append(
            .with {
                $0.role = "user"
                $0.content = prompt
            })
        let request = Tessera_V1_ChatRequest.with {
            $0.model = model
            $0.messages = messages
            $0.sampling = .with {
                $0.temperature = temperature
                $0.maxTokens = UInt32(clamping: maxTokens)
                if let seed { $0.seed = seed }
                if temperature > 0 {
                    // `tessera run`'s filters, so sampled answers feel the same.
                    $0.topK = 40
                    $0.topP = 0.95
                    $0.minP = 0.05
                }
            }
        }
        let stats: ChatStats
        do {
            stats = try await ServiceClient.with(gateway) { client in
                try await Tessera_V1_Gateway.Client(wrapping: client).chat(
                    request, metadata: Self.authorization(portOffset: offset.portOffset)
                ) { response in
                    try await Self.stream(response.messages)
                }
            }
        } catch let error as RPCError {
            throw CLIError("chat failed: \(error.code): \(error.message) (gateway \(gateway))")
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        FileHandle.standardError.write(Data(stats.line.utf8))
    }

    /// The gateway's API key as gRPC metadata: env TESSERA_API_KEY, else the local user's key
    /// that `tessera up --port-offset N` keeps (LocalAPIKey); none when neither exists.
    static func authorization(portOffset: Int) -> Metadata {
        guard let key = LocalAPIKey.find(portOffset: portOffset) else { return [:] }
        return ["authorization": "Bearer \(key)"]
    }

    /// Writes each piece of text as it arrives; returns the counts and timings.
    private static func stream(_ messages: RPCAsyncSequence<Tessera_V1_GenerateResponse, any Error>)
        async throws -> ChatStats
    {
        let start = ContinuousClock.now
        var stats = ChatStats()
        for try await message in messages {
            if stats.firstToken == nil { stats.firstToken = ContinuousClock.now - start }
            if !message.text.isEmpty { FileHandle.standardOutput.write(Data(message.text.utf8)) }
            stats.tokens += message.tokenIds.count
            if message.hasUsage { stats.promptTokens = Int(message.usage.promptTokens) }
            if message.finishReason != .unspecified { stats.finish = "\(message.finishReason)" }
        }
        stats.total = ContinuousClock.now - start
        return stats
    }
}

struct ChatStats: Sendable {
    var tokens = 0
    var promptTokens = 0
    var firstToken: Duration?
    var total: Duration = .zero
    var finish = "none"

    var line: String {
        func seconds(_ duration: Duration) -> Double { duration.inSeconds }
        let first = firstToken.map(seconds) ?? 0
        // Decode speed: tokens after the first over the time after it.
        let decode =
            tokens > 1 && seconds(total) > first ? Double(tokens - 1) / (seconds(total) - first) : 0
        return String(
            format:
                "%d prompt tokens, %d generated, %.1f tok/s, first token after %.0f ms (finish: %@)\n",
            promptTokens, tokens, decode, first * 1000, finish)
    }
}
