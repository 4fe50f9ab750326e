import GRPCCore
import ServiceKit
import TesseraProto

/// `SetServing`: records the operator's serving marks for a model. The scheduler calls it
/// (the only role allowed) after checking that the model fits on its workers; the
/// cache-manager only checks the numbers and that the model exists.
extension CacheManagerService {
    /// More replicas than any cluster this runs on could place; a larger pin is a typo.
    static let maxPinReplicas: UInt32 = 64

    func setServing(
        request: ServerRequest<Tessera_V1_SetServingRequest>, context: ServerContext
    ) async throws -> ServerResponse<Tessera_V1_ModelManifest> {
        let library = try openLibrary()
        let message = request.message
        guard !message.model.isEmpty else { throw InvalidMessage("model", "is required") }
        guard message.marks.pinReplicas <= Self.maxPinReplicas else {
            throw InvalidMessage(
                "marks.pin_replicas",
                "must be at most \(Self.maxPinReplicas), got \(message.marks.pinReplicas)")
        }
        let model = try await library.resolve(message.model)
        let row = ServingMarksRow(
            modelSha256: model.sha256, servable: message.marks.servable,
            pinReplicas: Int(message.marks.pinReplicas),
            idleTimeoutS: Int(message.marks.idleTimeoutS))
        try await library.catalog.setServingMarks(row)
        var manifest = model.manifest(
            shards: try await library.catalog.shards(ofModel: model.sha256))
        manifest.serving = row.message
        return ServerResponse(message: manifest)
    }
}
