import Synchronization

/// One product of a batch: `output[token * weight.rows + row] = weight[row] · input[token]`.
public struct MatmulTarget {
    public let weight: WeightMatrix
    public let output: UnsafeMutablePointer<Float>

    public init(_ weight: WeightMatrix, output: UnsafeMutablePointer<Float>) {
        self.weight = weight
        self.output = output
    }
}

/// Which kernel path a batch takes.
public enum MatmulPath: Sendable {
    /// The faster path for the batch size: row-wise integer dots for a few tokens, decoded
    /// float tiles for many (the two round differently, so a token's result depends on how
    /// many share the call): single-process speed comparisons only.
    case fastest
    /// Always row-wise: each token's result is bit-identical to the same token multiplied
    /// alone, whatever else shares the call (the engine's default: batched decode, chunked
    /// prefill, replays).
    case independentRows
}

/// Multiplies weight matrices by a batch of activation rows on a thread pool.
///
/// Few tokens (decode): rows are dotted directly on the quantized blocks against 8-bit
/// quantized activations (integer SIMD), streaming each weight byte once.
/// Many tokens (prefill): rows are decoded three at a time into a small float tile and
/// multiplied against all tokens with a register-blocked FMA kernel.
///
/// Several matrices that share one input (Q/K/V, gate/up) run as one job: the input is
/// prepared once, and the output rows of all matrices are handed out to the workers in
/// chunks, so a slow worker does not hold up the others. Results do not depend on the
/// thread count or on how rows are split.
// @unchecked: its scratch buffers are raw memory written by pool threads on disjoint row
// chunks during one `multiply`, and callers serialize `multiply` (one per stage at a time).
public final class MatrixMultiplier: @unchecked Sendable {
    public let pool: ThreadPool
    /// Batches of at least this many tokens use the float GEMM path.
    public static let gemmMinimumTokens = 4

    private var activations: [Int: Q8Activations] = [:]
    private var superBlockActivations: [Int: Q8KActivations] = [:]
    private var permutedInput = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var permutedCapacity = 1
    private let nextChunk = Atomic<Int>(0)

    public init(pool: ThreadPool) {
        self.pool = pool
    }

    deinit { permutedInput.deallocate() }

    /// `input` holds `tokens` rows of `columns` floats; every target's weight must have `columns` columns.
    public func multiply(
        _ targets: [MatmulTarget], input: UnsafePointer<Float>, tokens: Int,
        path: MatmulPath = .fastest
    ) throws {
        guard let columns = targets.first?.weight.columns, tokens > 0 else { return }
        for target in targets where target.weight.columns != columns {
            throw KernelError.shapeMismatch(
                "matrices in one batch must share the input width \(columns)")
        }
        // The tile order works on whole blocks of 32 (always true for quantized types).
        if path == .fastest && tokens >= Self.gemmMinimumTokens
            && columns % TileOrder.blockSize == 0
        {
            multiplyDecodedTiles(targets, input: input, tokens: tokens, columns: columns)
            return
        }
        var quantized: Q8Activations?
        if targets.contains(where: { $0.weight.usesIntegerPath }) {
            let buffer = activationBuffer(columns: columns, tokens: tokens)
            buffer.quantize(input, tokens: tokens)
            quantized = buffer
        }
        var superBlockQuantized: Q8KActivations?
        if targets.contains(where: { $0.weight.usesSuperBlockPath }) {
            let buffer = superBlockActivationBuffer(columns: columns, tokens: tokens)
            buffer.quantize(input, tokens: tokens)
            superBlockQuantized = buffer
        }
        distribute(targets, unitRows: 1) { target, rows in
            Self.multiplyRows(
                target, rows: rows, input: input, tokens: tokens, quantized: quantized,
                superBlockQuantized: superBlockQuantized)
        }
    }

    private func multiplyDecodedTiles(
        _ targets: [MatmulTarget], input: UnsafePointer<Float>, tokens: Int, columns: Int
    ) {
        let needed = tokens * columns
        if needed > permutedCapacity {
            permutedInput.deallocate()
            permutedInput = .allocate(capacity: needed)
            permutedCapacity = needed
        }
        TileOrder.permute(input, count: needed, into: permutedInput)
        let permuted = UnsafePointer(permutedInput)
        let tile = FloatGEMM.rowTile
        distribute(targets, unitRows: tile) { target, rows in
            let weight = target.weight
            withUnsafeTemporaryAllocation(of: Float.self, capacity: (tile + 1) * columns) {
                buffer in
                let decoded = buffer.baseAddress!
                let scratch = decoded + tile * columns
                var first = rows.lowerBound
                while first < rows.upperBound {
                    let count = min(tile, rows.upperBound - first)
                    for r in 0..<count {
                        TileOrder.decodeRow(
                            weight.type, weight.base + (first + r) * weight.rowBytes,
                            columns: columns,
                            into: decoded + r * columns, scratch: scratch)
                    }
                    if count < tile {
                        (decoded + count * columns).initialize(
                            repeating: 0, count: (tile - count) * columns)
                    }
                    FloatGEMM.multiplyTile(
                        weights: decoded, rowCount: count, firstRow: first, input: permuted,
                        tokens: tokens,
                        columns: columns, output: target.output, outputStride: weight.rows)
                    first += count
                }
            }
        }
    }

    /// Hands out the rows of all targets in chunks (multiples of `unitRows`) to the pool's workers.
    private func distribute(
        _ targets: [MatmulTarget], unitRows: Int, _ work: (MatmulTarget, Range<Int>) -> Void
    ) {
        let unitsPerTarget = targets.map { ($0.weight.rows + unitRows - 1) / unitRows }
        let totalUnits = unitsPerTarget.reduce(0, +)
        // Small chunks balance load between workers; big enough to amortize the atomic.
        var chunkUnits = max(max(1, 16 / unitRows), totalUnits / (pool.threadCount * 8))
        // Whole groups of four rows, which the packed kernels compute together.
        if unitRows == 1 { chunkUnits = (chunkUnits + 3) / 4 * 4 }
        let chunkCount = (totalUnits + chunkUnits - 1) / chunkUnits
        nextChunk.store(0, ordering: .relaxed)
        pool.run { _ in
            while true {
                let chunk = self.nextChunk.add(1, ordering: .relaxed).oldValue
                if chunk >= chunkCount { break }
                var start = chunk * chunkUnits
                let end = min(start + chunkUnits, totalUnits)
                // Map the global unit range onto the matrices it spans.
                var targetStart = 0
                for (index, target) in targets.enumerated() {
                    let targetEnd = targetStart + unitsPerTarget[index]
                    if start < targetEnd && start < end {
                        let localEnd = min(end, targetEnd) - targetStart
                        let firstRow = (start - targetStart) * unitRows
                        let endRow = min(localEnd * unitRows, target.weight.rows)
                        work(target, firstRow..<endRow)
                        start = targetStart + localEnd
                    }
                    targetStart = targetEnd
                }
            }
        }
    }

    private static func multiplyRows(
        _ target: MatmulTarget, rows: Range<Int>, input: UnsafePointer<Float>, tokens: Int,
        quantized: Q8Activations?, superBlockQuantized: Q8KActivations?
    ) {
        let weight = target.weight
        if KQuantDotKernels.supports(weight.type), let superBlockQuantized {
            KQuantDotKernels.multiply(
                type: weight.type, weights: weight.base, rowBytes: weight.rowBytes,
                columns: weight.columns, rows: rows, activations: superBlockQuantized,
                output: target.output, outputStride: weight.rows)
            return
        }
        if let quantized, let packed = weight.packedRows,
            packed.multiply(
                rows: rows, activations: quantized, output: target.output,
                outputStride: weight.rows)
        {
            return
        }
        if IntegerDotKernels.supports(weight.type), let quantized {
            IntegerDotKernels.multiply(
                type: weight.type, weights: weight.base, rowBytes: weight.rowBytes, rows: rows,
                activations: quantized, output: target.output, outputStride: weight.rows)
            return
        }
        FloatDotKernels.multiply(
            type: weight.type, weights: weight.base, rowBytes: weight.rowBytes,
            columns: weight.columns,
            rows: rows, input: input, tokens: tokens, output: target.output,
            outputStride: weight.rows)
    }

    /// As `activationBuffer`, for the K-quants' Q8_K activations.
    private func superBlockActivationBuffer(columns: Int, tokens: Int) -> Q8KActivations {
        if let existing = superBlockActivations[columns], existing.capacity >= tokens {
            return existing
        }
        let buffer = Q8KActivations(columns: columns, capacity: tokens)
        superBlockActivations[columns] = buffer
        return buffer
    }

    /// Reuses one activation buffer per input width, growing it when a bigger batch arrives.
    private func activationBuffer(columns: Int, tokens: Int) -> Q8Activations {
        if let existing = activations[columns], existing.capacity >= tokens { return existing }
        let buffer = Q8Activations(columns: columns, capacity: tokens)
        activations[columns] = buffer
        return buffer
    }
}
