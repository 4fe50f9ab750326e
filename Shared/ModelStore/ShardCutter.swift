import Foundation
import GGUF
import Integrity
import ModelArchitecture

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a cut produced: the shard's identity (SHA-256 of its bytes) and what it holds.
public struct ShardInfo: Sendable, Equatable {
    public var sha256: String
    public var sizeBytes: Int
    public var layers: Range<Int>
    public var hasEmbedding: Bool
    public var hasOutput: Bool

    public init(
        sha256: String, sizeBytes: Int, layers: Range<Int>, hasEmbedding: Bool, hasOutput: Bool
    ) {
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.layers = layers
        self.hasEmbedding = hasEmbedding
        self.hasOutput = hasOutput
    }
}

/// Cuts a model into shards as docs/generation-protocol.md defines them: a GGUF v3 file with
/// every metadata key of the model plus `tessera.shard.*`, and the tensors of one layer range
/// under their original names (with the embedding for the first range and the output head
/// for the last). `[0, 0)` is the vocabulary shard: metadata only.
///
/// The bytes depend only on the model and the range (tensors keep the model's order, offsets
/// are recomputed the way `GGUFWriter` lays them out), so a shard's SHA-256 is its identity.
/// Tensor bytes stream from the model's mapping to the file: a shard never sits in memory.
public enum ShardCutter {
    public static let firstLayerKey = "tessera.shard.first_layer"
    public static let lastLayerKey = "tessera.shard.last_layer"
    public static let modelSHA256Key = "tessera.shard.model_sha256"

    public enum CutError: Error, CustomStringConvertible, Equatable, Sendable {
        case missingMetadata(key: String)
        case rangeOutsideModel(first: Int, last: Int, layerCount: Int)
        case emptyRange(first: Int)
        case missingTensor(name: String)
        case invalidModelHash(String)
        case writeFailed(path: String, reason: String)
        /// The model is not one Tessera runs (its architecture, a misshapen or unknown
        /// tensor), in the architecture description's words.
        case modelMismatch(String)

        public var description: String {
            switch self {
            case .missingMetadata(let key):
                "the model has no metadata key \(key)"
            case .rangeOutsideModel(let first, let last, let layerCount):
                "layer range [\(first), \(last)) is outside the model's \(layerCount) layers"
            case .emptyRange(let first):
                "layer range [\(first), \(first)) is empty (only [0, 0), the vocabulary shard, may be)"
            case .missingTensor(let name):
                "the model has no tensor \(name), which the shard needs"
            case .invalidModelHash(let hash):
                "model SHA-256 '\(hash)' is not 64 lowercase hex digits"
            case .writeFailed(let path, let reason):
                "cannot write shard \(path): \(reason)"
            case .modelMismatch(let detail): detail
            }
        }
    }

    /// Number of transformer blocks (`<architecture>.block_count`).
    public static func layerCount(of model: GGUFFile) throws -> Int {
        try architecture(of: model).layerCount
    }

    /// The model's architecture description, its errors in the cutter's terms.
    static func architecture(of model: GGUFFile) throws(CutError) -> ModelArchitecture {
        do {
            return try ModelArchitecture(gguf: model)
        } catch {
            throw CutError(error)
        }
    }

    /// The names, in model order, of the tensors the shard for `layers` holds.
    public static func tensorNames(model: GGUFFile, layers: Range<Int>) throws -> [String] {
        try selectTensors(model: model, layers: layers).map(\.name)
    }

    /// Writes the shard for `layers` to `path` atomically (a temporary file beside it, then a
    /// rename) and returns its hash and size. Cutting the same range twice gives the same bytes.
    public static func cut(
        model: GGUFFile, modelSHA256: String, layers: Range<Int>, to path: String
    ) throws -> ShardInfo {
        guard modelSHA256.count == 64, modelSHA256.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        else {
            throw CutError.invalidModelHash(modelSHA256)
        }
        let layerCount = try layerCount(of: model)
        let tensors = try selectTensors(model: model, layers: layers)
        let (header, alignment) = try headerBytes(
            model: model, modelSHA256: modelSHA256, layers: layers, tensors: tensors)

        let temporary = temporaryPath(beside: path)
        do {
            try writeFile(
                at: temporary, header: header, tensors: tensors, model: model, alignment: alignment)
            // Re-read what was written: a shard that does not parse must never be published.
            let written = try GGUFFile(path: temporary)
            guard written.tensors.count == tensors.count else {
                throw CutError.writeFailed(
                    path: path,
                    reason: "wrote \(written.tensors.count) tensors, expected \(tensors.count)")
            }
            let digest = try FileDigest.sha256Hex(ofFile: temporary)
            guard rename(temporary, path) == 0 else {
                throw CutError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            let isVocabulary = layers.isEmpty
            return ShardInfo(
                sha256: digest, sizeBytes: written.fileSize, layers: layers,
                hasEmbedding: !isVocabulary && layers.lowerBound == 0,
                hasOutput: !isVocabulary && layers.upperBound == layerCount)
        } catch CutError.writeFailed(_, let reason) {
            unlink(temporary)
            // name the shard, not the temporary
            throw CutError.writeFailed(path: path, reason: reason)
        } catch let error as CutError {
            unlink(temporary)
            throw error
        } catch {
            unlink(temporary)
            throw CutError.writeFailed(path: path, reason: "\(error)")
        }
    }

    // MARK: - Choosing tensors

    /// The tensors of the range as the model's `TensorLayout` lists them (each checked for
    /// presence and shape, so a shard that would not load is never cut), in model order.
    static func selectTensors(model: GGUFFile, layers: Range<Int>) throws -> [GGUFTensorInfo] {
        let architecture = try architecture(of: model)
        let layerCount = architecture.layerCount
        guard layers.lowerBound >= 0, layers.upperBound <= layerCount else {
            throw CutError.rangeOutsideModel(
                first: layers.lowerBound, last: layers.upperBound, layerCount: layerCount)
        }
        if layers.isEmpty {
            guard layers.lowerBound == 0 else {
                throw CutError.emptyRange(first: layers.lowerBound)
            }
            return []
        }
        let layout = TensorLayout(architecture)
        do {
            try layout.validate(model, layers: layers)
        } catch {
            throw CutError(error)
        }
        let wanted = Set(layout.stageTensors(layers: layers, in: model).map(\.name))
        return model.tensors.filter { wanted.contains($0.name) }
    }

    /// `N` for a tensor named `blk.N.<anything>`.
    public static func blockIndex(of name: String) -> Int? {
        TensorLayout.blockIndex(of: name)
    }

    // MARK: - Laying out the file

    /// Magic, version, counts, metadata, tensor infos and padding up to the data section.
    /// Metadata is encoded by `GGUFWriter` (so values round-trip exactly as it writes them);
    /// the tensor infos follow with offsets laid out as `GGUFWriter` lays out data.
    /// Returns the bytes and the alignment the data section uses.
    static func headerBytes(
        model: GGUFFile, modelSHA256: String, layers: Range<Int>, tensors: [GGUFTensorInfo]
    ) throws -> (bytes: [UInt8], alignment: Int) {
        var writer = GGUFWriter(alignment: model.alignment)
        for key in model.metadataKeys {
            if let value = model.metadata[key] { writer.set(key, value) }
        }
        writer.set(firstLayerKey, .uint32(UInt32(layers.lowerBound)))
        writer.set(lastLayerKey, .uint32(UInt32(layers.upperBound)))
        writer.set(modelSHA256Key, .string(modelSHA256))
        // magic, version, tensor count (0 so far), kv count, metadata
        var bytes = try writer.encoded()
        let alignment = writer.alignment
        guard tensors.isEmpty else {
            // Bytes 8..<16 hold the tensor count (GGUF v3, little-endian uint64).
            withUnsafeBytes(of: UInt64(tensors.count).littleEndian) { count in
                bytes.replaceSubrange(8..<16, with: count)
            }
            var offset = 0
            for tensor in tensors {
                append(string: tensor.name, to: &bytes)
                append(UInt32(tensor.dimensions.count), to: &bytes)
                for dimension in tensor.dimensions { append(UInt64(dimension), to: &bytes) }
                append(tensor.type.rawValue, to: &bytes)
                append(UInt64(offset), to: &bytes)
                offset = alignUp(offset + tensor.byteCount, alignment)
            }
            bytes += [UInt8](repeating: 0, count: alignUp(bytes.count, alignment) - bytes.count)
            return (bytes, alignment)
        }
        return (bytes, alignment)
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(string: String, to bytes: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }

    private static func alignUp(_ value: Int, _ alignment: Int) -> Int {
        (value + alignment - 1) / alignment * alignment
    }

    // MARK: - Writing

    private static func temporaryPath(beside path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent()
            .appendingPathComponent(
                ".\(url.lastPathComponent).\(getpid()).\(UInt64.random(in: 0...UInt64.max)).tmp"
            ).path
    }

    /// Header, then each tensor's bytes straight from the model's mapping, each padded to the
    /// alignment; flushed to disk before the caller renames it into place.
    private static func writeFile(
        at path: String, header: [UInt8], tensors: [GGUFTensorInfo], model: GGUFFile, alignment: Int
    ) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CutError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        try header.withUnsafeBytes { try writeAll($0, to: descriptor, path: path) }
        let padding = [UInt8](repeating: 0, count: alignment)
        for tensor in tensors {
            let data = model.bytes(of: tensor)
            guard data.count == tensor.byteCount else {
                throw CutError.writeFailed(
                    path: path, reason: "tensor \(tensor.name) lies outside the model file")
            }
            try writeAll(data, to: descriptor, path: path)
            let padded = alignUp(tensor.byteCount, alignment) - tensor.byteCount
            try padding.withUnsafeBytes {
                try writeAll(
                    UnsafeRawBufferPointer(rebasing: $0[0..<padded]), to: descriptor, path: path)
            }
        }
        guard fsync(descriptor) == 0 else {
            throw CutError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    private static func writeAll(
        _ buffer: UnsafeRawBufferPointer, to descriptor: Int32, path: String
    ) throws {
        var written = 0
        while written < buffer.count {
            let result = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw CutError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            written += result
        }
    }
}

extension ShardCutter.CutError {
    /// The one translation of the architecture description's errors into the cutter's.
    init(_ error: ArchitectureError) {
        switch error {
        case .missingMetadata(let key): self = .missingMetadata(key: key)
        case .missingTensor(let name): self = .missingTensor(name: name)
        default: self = .modelMismatch(error.description)
        }
    }
}
