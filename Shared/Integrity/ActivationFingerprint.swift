/// A small, tolerant summary of a stage's output rows that a replay can compare against
/// without the rows themselves (after TOPLOC's top-k fingerprints). Per row it keeps:
/// the L2 norm, the `topK` largest-magnitude entries (index and exact value) and `sketches`
/// random ±1 projections (seeded by row width: public, fixed before anything is computed).
/// A replay recomputes the same summary from its own rows and measures how far apart the two
/// are; honest runs differ only by floating-point noise (docs/verification.md, "Honest noise").
///
/// Layout (little-endian): version u8, topK u8, sketches u8, width u32, rows u32, then per
/// row: norm f32, topK × (index u32, value f32), sketches × f32: 100 bytes per row at 8 + 8.
public struct ActivationFingerprint: Sendable, Equatable {
    public static let version: UInt8 = 1
    public var topK: Int
    public var sketches: Int
    public var width: Int
    public var rows: [Row]

    public struct Row: Sendable, Equatable {
        public var norm: Float
        public var indices: [Int]
        public var values: [Float]
        public var projections: [Float]
    }

    /// Summarises `values` (`rows` rows of `width`, row-major).
    public init(values: some RandomAccessCollection<Float>, width: Int, topK: Int = 8, sketches: Int = 8)
    {
        precondition(width > 0 && values.count % width == 0, "values must be whole rows")
        let topK = min(topK, width)
        self.topK = topK
        self.sketches = sketches
        self.width = width
        let array = Array(values)
        rows = stride(from: 0, to: array.count, by: width).map { start in
            Self.row(array[start..<(start + width)], topK: topK, sketches: sketches)
        }
    }

    private static func row(_ row: ArraySlice<Float>, topK: Int, sketches: Int) -> Row {
        let base = row.startIndex
        var sumSquares: Double = 0
        for value in row { sumSquares += Double(value) * Double(value) }
        // The top-k by magnitude, ties to the lower index (a deterministic order).
        var best: [(index: Int, magnitude: Float)] = []
        best.reserveCapacity(topK + 1)
        for (offset, value) in row.enumerated() {
            let magnitude = abs(value)
            if best.count == topK, let last = best.last, magnitude <= last.magnitude { continue }
            let at = best.firstIndex(where: { magnitude > $0.magnitude }) ?? best.count
            best.insert((offset, magnitude), at: at)
            if best.count > topK { best.removeLast() }
        }
        return Row(
            norm: Float(sumSquares.squareRoot()),
            indices: best.map(\.index),
            values: best.map { row[base + $0.index] },
            projections: (0..<sketches).map { projection(row, seed: UInt64($0)) })
    }

    /// Σ sign(seed, i) · x_i / √width, with the signs from a fixed hash of (seed, i).
    private static func projection(_ row: ArraySlice<Float>, seed: UInt64) -> Float {
        var sum: Double = 0
        for (offset, value) in row.enumerated() {
            sum += signBit(seed: seed, index: UInt64(offset)) ? Double(value) : -Double(value)
        }
        return Float(sum / Double(row.count).squareRoot())
    }

    /// SplitMix64 of (seed, index): one bit per weight.
    private static func signBit(seed: UInt64, index: UInt64) -> Bool {
        var z = seed &* 0x9E37_79B9_7F4A_7C15 &+ index &+ 0x632B_E59B_D9B4_E019
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (z ^ (z >> 31)) & 1 == 1
    }

    // MARK: Encoding

    public var encoded: [UInt8] {
        var out: [UInt8] = [Self.version, UInt8(topK), UInt8(sketches)]
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        put32(UInt32(width))
        put32(UInt32(rows.count))
        for row in rows {
            put32(row.norm.bitPattern)
            for (index, value) in zip(row.indices, row.values) {
                put32(UInt32(index))
                put32(value.bitPattern)
            }
            for projection in row.projections { put32(projection.bitPattern) }
        }
        return out
    }

    public init(encoded bytes: [UInt8]) throws {
        guard bytes.count >= 11, bytes[0] == Self.version else {
            throw FingerprintError.malformed("not a version-\(Self.version) fingerprint")
        }
        let topK = Int(bytes[1])
        let sketches = Int(bytes[2])
        self.topK = topK
        self.sketches = sketches
        var offset = 3
        func get32() -> UInt32 {
            defer { offset += 4 }
            return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        }
        let width = Int(get32())
        self.width = width
        let rowCount = Int(get32())
        let rowBytes = 4 + topK * 8 + sketches * 4
        guard width > 0, topK <= width, bytes.count == 11 + rowCount * rowBytes else {
            throw FingerprintError.malformed(
                "\(bytes.count) bytes do not hold \(rowCount) rows of top-\(topK) and \(sketches) sketches")
        }
        var rows: [Row] = []
        for _ in 0..<rowCount {
            let norm = Float(bitPattern: get32())
            var indices: [Int] = []
            var values: [Float] = []
            for _ in 0..<topK {
                indices.append(Int(get32()))
                values.append(Float(bitPattern: get32()))
            }
            guard indices.allSatisfy({ $0 < width }) else {
                throw FingerprintError.malformed("a top-k index is outside the width \(width)")
            }
            let projections = (0..<sketches).map { _ in Float(bitPattern: get32()) }
            rows.append(Row(norm: norm, indices: indices, values: values, projections: projections))
        }
        self.rows = rows
    }

    // MARK: Comparison

    /// How far `replayed` (full rows) is from this committed summary, row by row; the worst row
    /// counts. The compared vector is the committed top-k entries and the projections.
    public func distance(toReplayed replayed: some RandomAccessCollection<Float>) throws
        -> FingerprintDistance
    {
        let values = Array(replayed)
        guard values.count == rows.count * width else {
            throw FingerprintError.mismatch(
                "the replay has \(values.count / max(width, 1)) rows of \(width); the commitment \(rows.count)")
        }
        let mine = ActivationFingerprint(values: values, width: width, topK: topK, sketches: sketches)
        var worst = FingerprintDistance.identical
        for (row, (committed, fresh)) in zip(rows, mine.rows).enumerated() {
            let base = row * width
            var dot: Double = 0
            var committedSquares: Double = 0
            var freshSquares: Double = 0
            var differenceSquares: Double = 0
            func add(_ a: Float, _ b: Float) {
                let (a, b) = (Double(a), Double(b))
                dot += a * b
                committedSquares += a * a
                freshSquares += b * b
                differenceSquares += (a - b) * (a - b)
            }
            for (index, value) in zip(committed.indices, committed.values) {
                add(value, values[base + index])
            }
            for (a, b) in zip(committed.projections, fresh.projections) { add(a, b) }
            let cosine =
                committedSquares == 0 && freshSquares == 0
                ? 1 : dot / max((committedSquares * freshSquares).squareRoot(), .leastNonzeroMagnitude)
            let relative = (differenceSquares / max(committedSquares, .leastNonzeroMagnitude)).squareRoot()
            let normError =
                Double(abs(committed.norm - fresh.norm)) / max(Double(committed.norm), .leastNonzeroMagnitude)
            worst.cosine = min(worst.cosine, cosine)
            worst.relativeError = max(worst.relativeError, committed.norm == 0 && fresh.norm == 0 ? 0 : relative)
            worst.normError = max(worst.normError, committed.norm == 0 && fresh.norm == 0 ? 0 : normError)
        }
        return worst
    }
}

/// The worst row's distance between a committed fingerprint and a replay.
public struct FingerprintDistance: Sendable, Equatable {
    public var cosine: Double
    /// ‖committed − replayed‖ / ‖committed‖ over the top-k entries and projections.
    public var relativeError: Double
    /// |norm − replayed norm| / norm.
    public var normError: Double

    public static let identical = FingerprintDistance(cosine: 1, relativeError: 0, normError: 0)

    public init(cosine: Double, relativeError: Double, normError: Double) {
        self.cosine = cosine
        self.relativeError = relativeError
        self.normError = normError
    }

    public func within(_ tolerance: FingerprintTolerance) -> Bool {
        relativeError <= tolerance.relativeError && normError <= tolerance.normError
    }
}

/// The band an honest replay stays in. Calibrated on honest runs across thread counts and
/// kernel builds (docs/verification.md); the defaults are far above the measured noise and
/// far below the smallest fault in the detection matrix.
public struct FingerprintTolerance: Sendable, Equatable {
    public var relativeError: Double
    public var normError: Double

    public init(relativeError: Double = 1e-3, normError: Double = 1e-3) {
        self.relativeError = relativeError
        self.normError = normError
    }
}

public enum FingerprintError: Error, CustomStringConvertible {
    case malformed(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed fingerprint: \(why)"
        case .mismatch(let why): "fingerprint does not fit the replay: \(why)"
        }
    }
}
