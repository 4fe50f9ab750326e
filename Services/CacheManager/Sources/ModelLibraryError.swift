import ModelCompression
import ModelStore

/// What can go wrong in the model store, in its own terms: each case says what the client
/// asked for and why it cannot have it. `ModelLibraryError+GRPC.swift` gives each its status.
enum ModelLibraryError: Error, Sendable, CustomStringConvertible {
    // Importing
    case emptyImportPath
    case importPathOutside(path: String, allowed: [String])
    case unknownKnownModel(ModelFetcher.FetchError)
    case fetchFailed(name: String, reason: String)
    case unusableModel(path: String, reason: String)
    case unreadableModel(path: String)
    case nameLooksLikeHash(String)
    case nameTaken(name: String, holderSHA256: String, holderPath: String)
    // Resolving
    case modelNotFound(String, known: [String])
    // Shards
    case badShardRange(ShardCutter.CutError)
    case modelCannotBeCut(model: String, ShardCutter.CutError)
    case shardWriteFailed(ShardCutter.CutError)
    case malformedShardHash(String)
    case shardNotFound(String)
    case shardAndModelGone(String)
    case recutDiffers(String, recut: String)
    // Model files
    case modelFileGone(path: String, model: String)
    case modelFileChanged(path: String, model: String, sha256: String)
    case modelFileUnreadable(path: String, reason: String)
    // Streaming a shard file
    case shardFileUnopenable(path: String)
    case shardFileUnseekable(path: String, reason: String)
    case shardFileUnreadable(path: String, reason: String)
    case shardFileShrank(path: String, at: UInt64, of: UInt64)
    case offsetPastEnd(offset: UInt64, sha256: String, size: Int)
    // Variants (MakeVariants)
    case unknownVariantMethod(VariantMethodError)
    case variantNeedsCalibration(method: String)
    case variantOfVariant(model: String, parent: String)
    case variantSourceUnreadable(name: String, reason: String)
    case variantNotPossible(name: String, reason: String)
    case variantDiskFull(name: String, path: String)
    case variantWriteFailed(name: String, reason: String)
    case variantNameTaken(name: String, holderSHA256: String)

    // Quality budgets (SetQualityBudget)
    case budgetOnVariant(model: String, parent: String)
    case budgetVariantNotOfModel(variant: String, model: String)
    case budgetVariantChanged(variant: String, measured: String, recorded: String)
    case budgetRangesIncomplete(variant: String, layerCount: Int)

    var description: String {
        switch self {
        case .emptyImportPath: "ImportModel: path is empty"
        case .importPathOutside(let path, let allowed):
            "ImportModel: \(path) is outside the import directories ("
                + (allowed.isEmpty ? "none configured" : allowed.joined(separator: ", "))
                + "; the cache-manager's --import-dir)"
        case .unknownKnownModel(let error): "ImportModel: \(error)"
        case .fetchFailed(let name, let reason): "ImportModel: cannot fetch \(name): \(reason)"
        case .unusableModel(let path, let reason):
            "ImportModel: \(path) is not a usable model: \(reason)"
        case .unreadableModel(let path): "ImportModel: cannot read \(path)"
        case .nameLooksLikeHash(let name):
            "ImportModel: the name '\(name)' looks like a SHA-256; choose another"
        case .nameTaken(let name, let holder, let path):
            "ImportModel: the name '\(name)' already belongs to model \(holder) (\(path)); choose another with display_name"
        case .modelNotFound(let wanted, let known):
            "model '\(wanted)' is not in the catalog (it has: \(known.isEmpty ? "nothing" : known.joined(separator: ", "))); "
                + "import it with ImportModel"
        case .badShardRange(let error): "GetShard: \(error)"
        case .modelCannotBeCut(let model, let error):
            "GetShard: model \(model) cannot be cut: \(error)"
        case .shardWriteFailed(let error): "GetShard: \(error)"
        case .malformedShardHash(let sha):
            "DownloadShard: shard_sha256 '\(sha)' is not 64 lowercase hex digits"
        case .shardNotFound(let sha):
            "DownloadShard: no shard \(sha) in the catalog; ask GetShard for it first"
        case .shardAndModelGone(let sha): "DownloadShard: shard \(sha) is gone and so is its model"
        case .recutDiffers(let sha, let recut):
            "DownloadShard: shard \(sha) is gone and cutting it again gave \(recut)"
        case .modelFileGone(let path, let model):
            "model file \(path) of \(model) is gone; import it again"
        case .modelFileChanged(let path, let model, let sha):
            "model file \(path) changed since it was imported as \(model) (SHA-256 now \(sha)); import it again"
        case .modelFileUnreadable(let path, let reason):
            "model file \(path) cannot be read: \(reason)"
        case .shardFileUnopenable(let path): "DownloadShard: cannot open \(path); retry"
        case .shardFileUnseekable(let path, let reason):
            "DownloadShard: cannot seek in \(path): \(reason)"
        case .shardFileUnreadable(let path, let reason):
            "DownloadShard: cannot read \(path): \(reason)"
        case .shardFileShrank(let path, let position, let total):
            "DownloadShard: \(path) ended at \(position) of \(total) bytes"
        case .offsetPastEnd(let offset, let sha, let size):
            "DownloadShard: offset \(offset) is beyond the end of shard \(sha) (\(size) bytes)"
        case .unknownVariantMethod(let error): "MakeVariants: \(error)"
        case .variantNeedsCalibration(let method):
            "MakeVariants: method \(method) prunes with Wanda and needs calibration_text"
        case .variantOfVariant(let model, let parent):
            "MakeVariants: \(model) is itself a variant; make variants from its parent \(parent) "
                + "(quantize from the best precision available)"
        case .variantSourceUnreadable(let name, let reason):
            "MakeVariants: cannot make \(name): \(reason)"
        case .variantNotPossible(let name, let reason):
            "MakeVariants: cannot make \(name): \(reason)"
        case .variantDiskFull(let name, let path):
            "MakeVariants: no space left on the device for \(name) (\(path)); nothing was recorded "
                + "and the partial file was removed"
        case .variantWriteFailed(let name, let reason):
            "MakeVariants: cannot write \(name): \(reason)"
        case .variantNameTaken(let name, let holder):
            "MakeVariants: the name '\(name)' already belongs to model \(holder), which is not that variant"
        case .budgetOnVariant(let model, let parent):
            "SetQualityBudget: \(model) is a variant; set the budget on its parent \(parent)"
        case .budgetVariantNotOfModel(let variant, let model):
            "SetQualityBudget: \(variant) is not a variant of \(model) (make it with `tessera model variants \(model)`)"
        case .budgetVariantChanged(let variant, let measured, let recorded):
            "SetQualityBudget: the sensitivity of \(variant) was measured on file \(measured), but the catalog's "
                + "\(variant) is \(recorded); measure it again"
        case .budgetRangesIncomplete(let variant, let layerCount):
            "SetQualityBudget: the sensitivity ranges of \(variant) must cover layers 0 to \(layerCount - 1) "
                + "once each, in order"
        }
    }

    /// A failed variant, by whose fault: the source file, the method, or the disk.
    init(variant name: String, _ error: VariantBuildError) {
        switch error {
        case .unreadableSource:
            self = .variantSourceUnreadable(name: name, reason: error.description)
        case .unsupportedSource, .undecodableTensor, .noTypeFits, .pruningFailed:
            self = .variantNotPossible(name: name, reason: error.description)
        case .calibrationTextMissing(let method): self = .variantNeedsCalibration(method: method)
        case .diskFull(let path): self = .variantDiskFull(name: name, path: path)
        case .writeFailed: self = .variantWriteFailed(name: name, reason: error.description)
        }
    }

    /// A failed cut, by whose fault: the range asked for, the model, or the store's disk.
    init(cutting model: String, _ error: ShardCutter.CutError) {
        switch error {
        case .rangeOutsideModel, .emptyRange: self = .badShardRange(error)
        case .missingTensor, .missingMetadata, .invalidModelHash, .modelMismatch:
            self = .modelCannotBeCut(model: model, error)
        case .writeFailed: self = .shardWriteFailed(error)
        }
    }
}
