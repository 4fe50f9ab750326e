import ArgumentParser
import Foundation
import GRPCCore
import Integrity
import ModelCompression
import ModelEvaluation
import Placement
import ServiceKit
import TesseraProto

/// `tessera model budget NAME --max-kl X --variants q4_0,…`: gives a model a quality budget
/// (docs/variants.md, "Placement with a quality budget"). Each allowed variant's per-range
/// sensitivity is measured here, by the code of `tessera eval --sensitivity`, on files
/// checked to be the very ones the cache-manager holds (same SHA-256), then recorded with
/// the budget (SetQualityBudget). The scheduler then lets stages run those variants while a
/// pipeline's predicted KL stays within the budget. `--clear` removes the budget.
struct ModelBudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Let the scheduler run stages of a model on its variants within a KL budget.",
        discussion: """
            The variants must exist in the cache-manager (`tessera model variants NAME \
            --methods …`). Their sensitivities are measured here on GPL-3's evaluation part \
            against the model, which must be on this machine too (`tessera model pull`, or \
            --reference PATH).
            """)

    @Argument(help: "The model, as the cache-manager names it (e.g. smollm2-135m).")
    var name: String
    @Option(help: "Most mean KL divergence (nats) a pipeline may be predicted to cost.")
    var maxKl: Double?
    @Option(help: "Comma-separated variant methods stages may run (e.g. q8_0,q4_0).")
    var variants: String?
    @Flag(help: "Remove the model's budget: it is served only at its own precision again.")
    var clear = false
    @Option(help: "The model's GGUF file here (default: the downloaded file of NAME).")
    var reference: String?
    @Option(help: "Layers per measured range.")
    var rangeSize = 5
    @Option(help: "Window length of the measurement.")
    var context = 512
    @Option(help: "Evaluation tokens (whole windows of --context).")
    var tokens = 2048
    @Option(help: "Worker threads.")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(
        help:
            "Cache-manager address host:port (default: env TESSERA_CACHE_MANAGER_ADDRESS, else 127.0.0.1:7402)."
    )
    var cacheManager: ListenAddress?
    @OptionGroup var offset: PortOffsetOption

    func validate() throws {
        try offset.check(explicit: cacheManager, flag: "--cache-manager")
        if clear {
            guard maxKl == nil, variants == nil else {
                throw ValidationError("--clear takes neither --max-kl nor --variants")
            }
            return
        }
        guard let maxKl else { throw ValidationError("give --max-kl (or --clear)") }
        guard maxKl.isFinite, maxKl >= 0 else {
            throw ValidationError("--max-kl must be a KL divergence of at least 0")
        }
        _ = try parsedMethods()
        guard rangeSize > 0 else { throw ValidationError("--range-size must be positive") }
        guard context >= 16 else { throw ValidationError("--context must be at least 16") }
        guard tokens >= context else {
            throw ValidationError("--tokens must be at least --context")
        }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
    }

    func parsedMethods() throws -> [VariantMethod] {
        try ModelVariantsCommand.parseMethods(variants ?? "", option: "--variants")
    }

    func run() async throws {
        try offset.installSecurity()
        let address = offset.address(
            cacheManager, environment: "TESSERA_CACHE_MANAGER_ADDRESS", defaultPort: 7402)
        var request = Tessera_V1_SetQualityBudgetRequest()
        request.model = name
        if !clear {
            request.budget = Tessera_V1_QualityBudget(try await measure(address: address))
        }
        let manifest: Tessera_V1_ModelManifest
        do {
            manifest = try await ServiceClient.with(address) { client in
                try await Tessera_V1_CacheManager.Client(wrapping: client).setQualityBudget(
                    request, options: .timeout(.seconds(30)))
            }
        } catch let error as RPCError {
            throw Self.cliError(error, address: address)
        }
        print(Self.summary(manifest))
    }

    /// Each variant's sensitivity, measured on local files identical to the catalog's.
    private func measure(address: ListenAddress) async throws -> QualityBudgetSetting {
        let (model, catalogVariants) = try await catalogEntries(address: address)
        let referencePath = try ModelResolution.path(reference ?? name)
        let referenceSHA = try FileDigest.sha256Hex(ofFile: referencePath)
        guard referenceSHA == model.model.sha256 else {
            throw CLIError(
                "\(referencePath) (SHA-256 \(referenceSHA.prefix(12))) is not the cache-manager's "
                    + "\(name) (\(model.model.sha256.prefix(12))); give its file with --reference")
        }
        let evaluationText: EvaluationText
        do {
            evaluationText = try EvaluationText(path: EvaluationText.defaultPath)
        } catch {
            throw CLIError("\(error)")
        }
        var options = EvaluationOptions(text: evaluationText)
        options.contextLength = context
        options.evaluationTokens = tokens
        options.threads = threads
        let progress = FetchProgressView()
        var measured: [VariantSensitivity] = []
        for (method, variant) in catalogVariants {
            let path = try EvalCommand.makeVariant(
                method, source: referencePath, parentSHA256: referenceSHA,
                calibration: evaluationText.calibration, progress: progress)
            let sha = try FileDigest.sha256Hex(ofFile: path)
            guard sha == variant.model.sha256 else {
                throw CLIError(
                    "the variant made here (\(path), SHA-256 \(sha.prefix(12))) differs from the "
                        + "cache-manager's \(variant.model.name) (\(variant.model.sha256.prefix(12))); "
                        + "its sensitivity cannot be measured here")
            }
            let report = try SensitivityAnalysis.run(
                reference: EvaluatedModel(
                    label: EvalCommand.referenceLabel(referencePath), path: referencePath),
                variant: EvaluatedModel(label: variant.model.name, path: path),
                rangeSize: rangeSize, options: options
            ) { fraction in
                progress.update(
                    step: "sensitivity of " + variant.model.name, fraction: fraction,
                    detail: "\(Int(fraction * 100))%")
            }
            progress.finishLine()
            print(EvalSensitivityOutput.text(report))
            measured.append(
                VariantSensitivity(
                    variant: variant.model.name, variantSHA256: sha,
                    evaluationTokens: tokens / context * context,
                    ranges: report.ranges.map {
                        RangeSensitivity(
                            layers: $0.first..<$0.end, meanKLDivergence: $0.meanKLDivergence)
                    }))
        }
        return QualityBudgetSetting(maxMeanKL: maxKl ?? 0, variants: measured)
    }

    /// The model's manifest and each asked-for variant's, from the cache-manager.
    private func catalogEntries(address: ListenAddress) async throws -> (
        Tessera_V1_ModelManifest, [(VariantMethod, Tessera_V1_ModelManifest)]
    ) {
        let methods = try parsedMethods()
        do {
            return try await ServiceClient.with(address) { client in
                let api = Tessera_V1_CacheManager.Client(wrapping: client)
                let model = try await api.getModel(
                    .with { $0.model = name }, options: .timeout(.seconds(30)))
                var variants: [(VariantMethod, Tessera_V1_ModelManifest)] = []
                for method in methods {
                    let variantName = method.variantName(parent: model.model.name)
                    do {
                        variants.append(
                            (
                                method,
                                try await api.getModel(
                                    .with { $0.model = variantName },
                                    options: .timeout(.seconds(30)))
                            ))
                    } catch let error as RPCError where error.code == .notFound {
                        throw CLIError(
                            "the cache-manager has no \(variantName); make it first with "
                                + "`tessera model variants \(model.model.name) --methods \(method.description)`"
                        )
                    }
                }
                return (model, variants)
            }
        } catch let error as RPCError {
            throw Self.cliError(error, address: address)
        }
    }

    static func cliError(_ error: RPCError, address: ListenAddress) -> CLIError {
        CLIError(
            error.code == .unavailable
                ? "cannot reach the cache-manager at \(address): \(error.message)"
                : "cache-manager: \(error.message)")
    }

    static func summary(_ manifest: Tessera_V1_ModelManifest) -> String {
        guard manifest.hasQualityBudget else {
            return "\(manifest.model.name): no quality budget; served only at its own precision"
        }
        let budget = manifest.qualityBudget
        var lines = [
            "\(manifest.model.name): quality budget mean KL \(String(format: "%.4f", budget.maxMeanKl)) per pipeline"
        ]
        for variant in budget.variants {
            let costs = variant.ranges.map {
                "\($0.layers.first)-\($0.layers.last - 1): \(String(format: "%.4f", $0.meanKl))"
            }
            lines.append("  \(variant.variant): \(costs.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}
