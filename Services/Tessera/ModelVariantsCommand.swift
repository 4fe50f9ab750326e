import ArgumentParser
import Foundation
import GRPCCore
import ModelCompression
import ModelEvaluation
import ServiceKit
import TesseraProto

/// `tessera model variants NAME [--methods …]`: asks the cluster's cache-manager to make
/// compact variants of a model it holds (MakeVariants), shows its progress, then a table
/// of what it made. Each variant is then served as `NAME:METHOD` (docs/variants.md).
struct ModelVariantsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variants",
        abstract: "Make quantized (or pruned) variants of a model in the cluster's cache-manager.")

    @Argument(
        help: "The model to make them from, as the cache-manager names it (e.g. smollm2-135m).")
    var name: String
    @Option(
        help: ArgumentHelp(
            "Comma-separated methods (default: every quantization method).",
            discussion:
                "Methods: \(VariantMethod.knownNames.joined(separator: ", ")); TYPE+emb:TYPE stores the embedding/output matrix as the second TYPE too."
        ))
    var methods: String?
    @Option(
        help:
            "Text whose first part calibrates the wanda methods (the part evaluation does not read)."
    )
    var calibrationFile = EvaluationText.defaultPath
    @Option(
        help:
            "Cache-manager address host:port (default: env TESSERA_CACHE_MANAGER_ADDRESS, else 127.0.0.1:7402)."
    )
    var cacheManager: ListenAddress?
    @OptionGroup var offset: PortOffsetOption

    func validate() throws {
        try offset.check(explicit: cacheManager, flag: "--cache-manager")
        _ = try parsedMethods()
    }

    /// The methods asked for, checked here so a typo fails before the cluster is dialled.
    func parsedMethods() throws -> [VariantMethod] {
        guard let methods else { return VariantMethod.quantizationMethods }
        return try Self.parseMethods(methods, option: "--methods")
    }

    /// A comma-separated list of method names (`option` names the flag in errors).
    static func parseMethods(_ list: String, option: String) throws -> [VariantMethod] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("\(option): give method names separated by commas")
        }
        do {
            return try names.map { try VariantMethod(parsing: $0) }
        } catch {
            throw ValidationError("\(option): \(error)")
        }
    }

    func run() async throws {
        try offset.installSecurity()
        let address = offset.address(
            cacheManager, environment: "TESSERA_CACHE_MANAGER_ADDRESS", defaultPort: 7402)
        let methods = try parsedMethods()
        var request = Tessera_V1_MakeVariantsRequest()
        request.model = name
        request.methods = methods.map(\.description)
        if methods.contains(where: { $0.pruning != nil }) {
            do {
                request.calibrationText = try EvaluationText(path: calibrationFile).calibration
            } catch {
                throw CLIError("\(error)")
            }
        }
        let made: [Tessera_V1_VariantMade]
        do {
            made = try await ServiceClient.with(address) { client in
                try await Tessera_V1_CacheManager.Client(wrapping: client).makeVariants(
                    request, options: .timeout(.seconds(3600))
                ) { response in
                    let view = FetchProgressView()
                    defer { view.finishLine() }
                    var made: [Tessera_V1_VariantMade] = []
                    for try await event in response.messages {
                        switch event.event {
                        case .progress(let progress)?:
                            view.update(
                                step: progress.method, fraction: progress.fraction,
                                detail:
                                    "(\(progress.index + 1)/\(progress.count)) \(Int(progress.fraction * 100))% \(progress.message)"
                            )
                        case .variant(let variant)?: made.append(variant)
                        case nil: break
                        }
                    }
                    return made
                }
            }
        } catch let error as RPCError {
            throw CLIError(
                error.code == .unavailable
                    ? "cannot reach the cache-manager at \(address): \(error.message)"
                    : "cache-manager: \(error.message)")
        }
        print(Self.table(made))
    }

    static func table(_ made: [Tessera_V1_VariantMade]) -> String {
        var rows = [["NAME", "METHOD", "SIZE MB", "SHA-256", "SECONDS", "FALLBACKS"]]
        for variant in made {
            let model = variant.model
            rows.append([
                model.model.name, model.variant.method,
                String(format: "%.1f", Double(model.fileSize) / 1e6),
                String(model.model.sha256.prefix(12)),
                variant.alreadyPresent ? "present" : String(format: "%.1f", variant.seconds),
                fallbackSummary(model.variant.fallbacks),
            ])
        }
        return TextTable.lines(rows).joined(separator: "\n")
    }

    /// "180 as Q5_0" (tensors whose rows are not whole K blocks), "-" when none.
    static func fallbackSummary(_ fallbacks: [Tessera_V1_TypeFallback]) -> String {
        guard !fallbacks.isEmpty else { return "-" }
        var counts: [String: Int] = [:]
        for fallback in fallbacks { counts[fallback.used, default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }.map { "\($0.value) as \($0.key)" }
            .joined(separator: ", ")
    }
}
