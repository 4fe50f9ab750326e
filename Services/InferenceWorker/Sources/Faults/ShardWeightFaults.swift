import Foundation
import GGUF
import ServiceKit

/// The file `ShardHost` maps for a verified shard file (and its hash), when not that file.
typealias ShardPathMapping = @Sendable (_ verified: String, _ sha: String) async throws -> String

/// The weight faults of the test-only faulty worker (`WorkerFaults`): a modified copy of a
/// verified shard file, which the worker maps in its place while still claiming the original
/// SHA-256 in its commitments, the way a worker cutting costs would.
/// - skipped layers: the layer's attention output and feed-forward down projection weigh zero
///   (every block's scales zeroed), so both residual branches add nothing and the layer is
///   the identity;
/// - low bit: every Q4_0/Q4_1 quant loses its lowest bit (nibble bytes `& 0xEE`): 3-bit weights;
/// - swapped layers: two layers' tensors trade their bytes (same names, shapes and types).
struct ShardWeightFaults: Sendable, Equatable {
    var skippedLayers: Set<Int> = []
    var lowBit = false
    /// Pairs [A, B] of layers whose tensors trade places.
    var swappedLayers: [[Int]] = []

    var isEmpty: Bool { skippedLayers.isEmpty && !lowBit && swappedLayers.isEmpty }

    /// Names the transform in the copy's file name, so each (shard, faults) is made once.
    var tag: String {
        (skippedLayers.sorted().map { "skip\($0)" } + (lowBit ? ["lowbit"] : [])
            + swappedLayers.map { "swap\($0[0])x\($0[1])" })
            .joined(separator: "-")
    }

    /// The shared directory of modified copies (test-only; left for the OS to clean).
    static let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tessera-faulty-shards").path

    /// Maps each verified file to its modified copy, made off the cooperative pool.
    var mapping: ShardPathMapping {
        { path, sha in try await Offload.run { try copy(of: path, sha: sha) } }
    }

    /// The modified copy of the verified shard file at `path`: made on first use (written
    /// aside, then renamed, so a concurrent or interrupted maker never leaves half a file).
    func copy(of path: String, sha: String) throws -> String {
        let target = "\(Self.directory)/\(sha)-\(tag).gguf"
        if FileManager.default.fileExists(atPath: target) { return target }
        try FileManager.default.createDirectory(
            atPath: Self.directory, withIntermediateDirectories: true)
        let file = try GGUFFile(path: path)
        var bytes = [UInt8](file.rawBytes)
        try bytes.withUnsafeMutableBytes { bytes in
            for layer in skippedLayers {
                for name in ["attn_output", "ffn_down"] {
                    // A layer this shard does not hold is skipped elsewhere, or not at all.
                    guard let tensor = file.tensor(named: "blk.\(layer).\(name).weight") else {
                        continue
                    }
                    try Self.zeroScales(of: tensor, in: bytes, dataOffset: file.dataOffset)
                }
            }
            for pair in swappedLayers {
                try Self.swap(layer: pair[0], with: pair[1], of: file, in: bytes)
            }
            if lowBit {
                for tensor in file.tensors {
                    Self.dropLowestBit(of: tensor, in: bytes, dataOffset: file.dataOffset)
                }
            }
        }
        let partial = "\(target).\(getpid()).partial"
        try Data(bytes).write(to: URL(fileURLWithPath: partial))
        if rename(partial, target) != 0 {
            try? FileManager.default.removeItem(atPath: partial)
            throw CocoaError(.fileWriteUnknown)
        }
        return target
    }

    /// Sets every block's scale fields (ggml layouts, as Shared/Kernels reads them) to zero,
    /// so every weight of the tensor decodes to 0; float tensors are zeroed outright.
    private static func zeroScales(
        of tensor: GGUFTensorInfo, in bytes: UnsafeMutableRawBufferPointer, dataOffset: Int
    ) throws {
        let scales: Range<Int>
        switch tensor.type {
        case .f32, .f16, .bf16: scales = 0..<tensor.type.blockBytes
        case .q4_0, .q8_0: scales = 0..<2  // f16 d
        case .q4_1: scales = 0..<4  // f16 d, f16 m
        case .q4_K: scales = 0..<4  // f16 d, f16 dmin
        case .q6_K: scales = 208..<210  // f16 d after the quants and sub-scales
        default:
            throw WorkerError.unsupportedShard(
                "skip-layer cannot zero \(tensor.name) of type \(tensor.type.name)")
        }
        forEachBlock(of: tensor, dataOffset: dataOffset) { block in
            for offset in scales { bytes[block + offset] = 0 }
        }
    }

    /// Every `blk.A.*` tensor trades bytes with `blk.B.*` of the same name; both layers must be
    /// in this shard.
    private static func swap(
        layer a: Int, with b: Int, of file: GGUFFile, in bytes: UnsafeMutableRawBufferPointer
    ) throws {
        let prefix = "blk.\(a)."
        let own = file.tensors.filter { $0.name.hasPrefix(prefix) }
        guard !own.isEmpty else {
            throw WorkerError.unsupportedShard("swap-layers: this shard does not hold layer \(a)")
        }
        for tensor in own {
            let name = "blk.\(b)." + tensor.name.dropFirst(prefix.count)
            guard let other = file.tensor(named: name), other.byteCount == tensor.byteCount,
                other.type == tensor.type
            else {
                throw WorkerError.unsupportedShard("swap-layers: no \(name) like \(tensor.name)")
            }
            let first = file.dataOffset + tensor.offset
            let second = file.dataOffset + other.offset
            for offset in 0..<tensor.byteCount {
                bytes.swapAt(first + offset, second + offset)
            }
        }
    }

    private static func dropLowestBit(
        of tensor: GGUFTensorInfo, in bytes: UnsafeMutableRawBufferPointer, dataOffset: Int
    ) {
        let nibbles: Range<Int>
        switch tensor.type {
        case .q4_0: nibbles = 2..<18
        case .q4_1: nibbles = 4..<20
        default: return
        }
        forEachBlock(of: tensor, dataOffset: dataOffset) { block in
            for offset in nibbles { bytes[block + offset] &= 0xEE }
        }
    }

    private static func forEachBlock(
        of tensor: GGUFTensorInfo, dataOffset: Int, _ body: (Int) -> Void
    ) {
        let start = dataOffset + tensor.offset
        let size = tensor.type.blockBytes
        for block in stride(from: start, to: start + tensor.byteCount, by: size) { body(block) }
    }
}
