import GRPCCore
import Placement
import ServiceKit
import TesseraProto

/// `SetQualityBudget`: records (or removes) a model's quality budget. The operator's CLI
/// measures the sensitivities (`tessera model budget`); here they are checked against the
/// catalog: the model is not itself a variant, every variant is one of it and is the very
/// file measured, and each variant's ranges cover every layer once, in order.
extension CacheManagerService {
    func setQualityBudget(
        request: ServerRequest<Tessera_V1_SetQualityBudgetRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ModelManifest> {
        let library = try openLibrary()
        let message = request.message
        guard !message.model.isEmpty else { throw InvalidMessage("model", "is required") }
        let setting = message.hasBudget ? try message.budget.domain() : nil
        let model = try await library.resolve(message.model)
        if model.isVariant {
            throw ModelLibraryError.budgetOnVariant(
                model: model.name, parent: model.parameters?.parentName ?? model.parentSha256 ?? "")
        }
        var row: QualityBudgetRow?
        if let setting {
            var seen = Set<String>()
            for entry in setting.variants {
                guard seen.insert(entry.variant).inserted else {
                    throw InvalidMessage("budget.variants", "names \(entry.variant) twice")
                }
                let variant = try await library.resolve(entry.variant)
                guard variant.parentSha256 == model.sha256 else {
                    throw ModelLibraryError.budgetVariantNotOfModel(
                        variant: entry.variant, model: model.name)
                }
                guard variant.sha256 == entry.variantSHA256 else {
                    throw ModelLibraryError.budgetVariantChanged(
                        variant: entry.variant, measured: entry.variantSHA256,
                        recorded: variant.sha256)
                }
                guard Self.coverEveryLayerOnce(entry.ranges, layerCount: model.profile.layerCount)
                else {
                    throw ModelLibraryError.budgetRangesIncomplete(
                        variant: entry.variant, layerCount: model.profile.layerCount)
                }
            }
            row = QualityBudgetRow(
                modelSha256: model.sha256, maxMeanKl: setting.maxMeanKL,
                variants: setting.variants, setAt: .now)
        }
        try await library.catalog.setQualityBudget(row, ofModel: model.sha256)
        var manifest = model.manifest(
            shards: try await library.catalog.shards(ofModel: model.sha256))
        if let marks = try await library.catalog.servingMarks(ofModel: model.sha256) {
            manifest.serving = marks.message
        }
        if let row { manifest.qualityBudget = Tessera_V1_QualityBudget(row.setting) }
        return ServerResponse(message: manifest)
    }

    static func coverEveryLayerOnce(_ ranges: [RangeSensitivity], layerCount: Int) -> Bool {
        var next = 0
        for range in ranges {
            guard range.layers.lowerBound == next else { return false }
            next = range.layers.upperBound
        }
        return next == layerCount
    }
}
