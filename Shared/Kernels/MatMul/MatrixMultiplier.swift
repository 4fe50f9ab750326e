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

/// Multiplies weight matrices by a batch of activation rows on a thread pool.
///
/// Several matrices that share one input (Q/K/V, gate/up) run as one job: the input is
/// quantized to 8-bit blocks once, and the output rows of all matrices are handed out to
/// the workers in chunks, so a slow worker does not hold up the others.
public final class MatrixMultiplier: @unchecked Sendable {
    public let pool: ThreadPool
    private var activations: [Int: Q8Activations] = [:]
    private let nextChunk = Atomic<Int>(0)

    public init(pool: ThreadPool) {
        self.pool = pool
    }

    /// `input` holds `tokens` rows of `columns` floats; every target's weight must have `columns` columns.
    public func multiply(_ targets: [MatmulTarget], input: UnsafePointer<Float>, tokens: Int) throws {
        guard let columns = targets.first?.weight.columns, tokens > 0 else { return }
        for target in targets where target.weight.columns != columns {
            throw KernelError.shapeMismatch("matrices in one batch must share the input width \(columns)")
        }
        let quantized: Q8Activations?
        if targets.contains(where: { $0.weight.usesIntegerPath }) {
            let buffer = activationBuffer(columns: columns, tokens: tokens)
            buffer.quantize(input, tokens: tokens)
            quantized = buffer
        } else {
            quantized = nil
        }

        let totalRows = targets.reduce(0) { $0 + $1.weight.rows }
        // Small chunks balance load between workers; big enough to amortize the atomic.
        let chunkRows = max(8, totalRows / (pool.threadCount * 8))
        let chunkCount = (totalRows + chunkRows - 1) / chunkRows
        nextChunk.store(0, ordering: .relaxed)
        pool.run { _ in
            while true {
                let chunk = self.nextChunk.add(1, ordering: .relaxed).oldValue
                if chunk >= chunkCount { break }
                var start = chunk * chunkRows
                let end = min(start + chunkRows, totalRows)
                // Map the global row range onto the matrices it spans.
                var matrixStart = 0
                for target in targets {
                    let matrixEnd = matrixStart + target.weight.rows
                    if start < matrixEnd && start < end {
                        let localRows = (start - matrixStart)..<(min(end, matrixEnd) - matrixStart)
                        Self.run(target, rows: localRows, input: input, tokens: tokens, quantized: quantized)
                        start = matrixStart + localRows.upperBound
                    }
                    matrixStart = matrixEnd
                }
            }
        }
    }

    private static func run(
        _ target: MatmulTarget, rows: Range<Int>, input: UnsafePointer<Float>, tokens: Int, quantized: Q8Activations?
    ) {
        let weight = target.weight
        switch weight.type {
        case .q4_1:
            IntegerDotKernels.multiply(
                Q4_1Format.self, weights: weight.base, rowBytes: weight.rowBytes, rows: rows,
                activations: quantized!, output: target.output, outputStride: weight.rows)
        case .q4_0:
            IntegerDotKernels.multiply(
                Q4_0Format.self, weights: weight.base, rowBytes: weight.rowBytes, rows: rows,
                activations: quantized!, output: target.output, outputStride: weight.rows)
        case .q8_0:
            IntegerDotKernels.multiply(
                Q8_0Format.self, weights: weight.base, rowBytes: weight.rowBytes, rows: rows,
                activations: quantized!, output: target.output, outputStride: weight.rows)
        default:
            FloatDotKernels.multiply(
                type: weight.type, weights: weight.base, rowBytes: weight.rowBytes, columns: weight.columns,
                rows: rows, input: input, tokens: tokens, output: target.output, outputStride: weight.rows)
        }
    }

    /// Reuses one activation buffer per input width, growing it when a bigger batch arrives.
    private func activationBuffer(columns: Int, tokens: Int) -> Q8Activations {
        if let existing = activations[columns], existing.capacity >= tokens { return existing }
        let buffer = Q8Activations(columns: columns, capacity: tokens)
        activations[columns] = buffer
        return buffer
    }
}
