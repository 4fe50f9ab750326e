import Foundation
import GRPCCore
import ModelCompression
import TesseraProto

/// MakeVariants: checks the whole request first (the model, every method, calibration
/// text), so a bad one fails before anything is made; then makes the variants one after
/// another, streaming the builder's progress and each variant's manifest.
extension CacheManagerService {
    func makeVariants(
        request: ServerRequest<Tessera_V1_MakeVariantsRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Tessera_V1_MakeVariantsEvent> {
        let library = try openLibrary()
        let message = request.message
        let parent = try await library.resolve(message.model)
        let methods = try Self.variantMethods(message.methods)
        if let pruned = methods.first(where: { $0.pruning != nil }), message.calibrationText.isEmpty
        {
            throw ModelLibraryError.variantNeedsCalibration(method: pruned.description)
        }
        return StreamingServerResponse { writer in
            for (index, method) in methods.enumerated() {
                let outcome = try await Self.makeVariant(
                    method, of: parent, index: index, count: methods.count,
                    calibrationText: message.calibrationText, library: library, writer: writer)
                let shards = try await library.catalog.shards(ofModel: outcome.model.sha256)
                try await writer.write(
                    .with {
                        $0.variant = .with {
                            $0.model = outcome.model.manifest(shards: shards)
                            $0.alreadyPresent = outcome.alreadyPresent
                            $0.seconds = outcome.seconds
                        }
                    })
            }
            return [:]
        }
    }

    /// The methods asked for (deduplicated, in order); none means every quantization method.
    static func variantMethods(_ names: [String]) throws -> [VariantMethod] {
        guard !names.isEmpty else { return VariantMethod.quantizationMethods }
        var methods: [VariantMethod] = []
        for name in names {
            let method: VariantMethod
            do {
                method = try VariantMethod(parsing: name.trimmingCharacters(in: .whitespaces))
            } catch {
                throw ModelLibraryError.unknownVariantMethod(error)
            }
            if !methods.contains(method) { methods.append(method) }
        }
        return methods
    }

    /// Makes one variant while relaying the builder's progress (from its blocking thread)
    /// to the stream; the newest update wins when the client reads slower than it comes.
    private static func makeVariant(
        _ method: VariantMethod, of parent: ModelRow, index: Int, count: Int,
        calibrationText: String, library: ModelLibrary,
        writer: RPCWriter<Tessera_V1_MakeVariantsEvent>
    ) async throws -> VariantOutcome {
        let (updates, continuation) = AsyncStream.makeStream(
            of: Tessera_V1_VariantProgress.self, bufferingPolicy: .bufferingNewest(8))
        return try await withThrowingTaskGroup(of: VariantOutcome?.self) { group in
            group.addTask {
                defer { continuation.finish() }
                return try await library.variant(
                    of: parent, method: method, calibrationText: calibrationText,
                    progress: { fraction, text in
                        continuation.yield(
                            .with {
                                $0.index = UInt32(index)
                                $0.count = UInt32(count)
                                $0.method = method.description
                                $0.fraction = fraction
                                $0.message = text
                            })
                    })
            }
            for await update in updates {
                try await writer.write(.with { $0.progress = update })
            }
            var made: VariantOutcome?
            for try await outcome in group where outcome != nil { made = outcome }
            guard let made else { throw RPCError(code: .internalError, message: "no variant") }
            return made
        }
    }
}
