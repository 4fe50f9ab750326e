import GRPCCore

/// The one place the cache-manager's errors become gRPC statuses (the server converts any
/// thrown `RPCErrorConvertible`); the message is the error's description.
extension ModelLibraryError: RPCErrorConvertible {
    var rpcErrorCode: RPCError.Code {
        switch self {
        case .emptyImportPath, .unusableModel, .unreadableModel, .nameLooksLikeHash, .badShardRange,
            .malformedShardHash, .unknownVariantMethod, .variantNeedsCalibration,
            .budgetRangesIncomplete:
            .invalidArgument
        case .unknownKnownModel, .modelNotFound, .shardNotFound, .shardAndModelGone: .notFound
        case .nameTaken, .variantNameTaken: .alreadyExists
        case .importPathOutside: .permissionDenied
        case .fetchFailed, .shardFileUnopenable: .unavailable
        case .modelCannotBeCut, .modelFileGone, .modelFileChanged, .modelFileUnreadable,
            .variantOfVariant, .variantNotPossible, .budgetOnVariant, .budgetVariantNotOfModel,
            .budgetVariantChanged:
            .failedPrecondition
        case .variantDiskFull: .resourceExhausted
        case .variantSourceUnreadable: .dataLoss
        case .variantWriteFailed: .internalError
        case .shardWriteFailed, .shardFileUnseekable, .shardFileUnreadable: .internalError
        case .recutDiffers, .shardFileShrank: .dataLoss
        case .offsetPastEnd: .outOfRange
        }
    }

    var rpcErrorMessage: String { description }
}
