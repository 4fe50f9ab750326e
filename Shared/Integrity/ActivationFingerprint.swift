import Synchronization

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
    public init(
        values: some RandomAccessCollection<Float>, width: Int, topK: Int = 8, sketches: Int = 8
    ) {
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

    /// The row's summary; projection `s` is Σ sign(s, i) · x_i / √width (`signBit`).
    /// One pass per 8 sketches over the row (the first also takes the norm and the top-k).
    /// A last stage fingerprints 49,152 logits per token, so this is written for speed, with
    /// results bit for bit those of the plain definition: every sum is the same sequence of
    /// `Double` additions in index order (8 of them side by side in one vector), the signs come
    /// from a table made once per width, and the top-k scan makes the same comparisons.
    private static func row(_ row: ArraySlice<Float>, topK: Int, sketches: Int) -> Row {
        var sumSquares: Double = 0
        var best = TopK(topK)
        var projections: [Float] = []
        projections.reserveCapacity(sketches)
        let scale = Double(row.count).squareRoot()
        for group in 0..<max(1, (sketches + 7) / 8) {
            let signs = SignTable.bytes(width: row.count, group: group)
            var sums = SIMD8<Double>()
            row.withUnsafeBufferPointer { values in
                signs.withUnsafeBufferPointer { signs in
                    SignTable.masks.withUnsafeBufferPointer { masks in
                        guard group == 0 else {
                            for index in 0..<values.count {
                                let bits = Double(values[index]).bitPattern
                                sums += Self.flipped(bits, masks[Int(signs[index])])
                            }
                            return
                        }
                        var threshold = best.threshold
                        for index in 0..<values.count {
                            let value = values[index]
                            let double = Double(value)
                            sumSquares += double * double
                            sums += Self.flipped(double.bitPattern, masks[Int(signs[index])])
                            // Almost every entry is at most the k-th largest seen so far.
                            let magnitude = abs(value)
                            if !(magnitude <= threshold) {
                                best.offer(magnitude, at: index)
                                threshold = best.threshold
                            }
                        }
                    }
                }
            }
            for lane in 0..<min(8, sketches - group * 8) {
                projections.append(Float(sums[lane] / scale))
            }
        }
        let base = row.startIndex
        let indices = Array(best.indices[0..<best.count])
        return Row(
            norm: Float(sumSquares.squareRoot()), indices: indices,
            values: indices.map { row[base + $0] }, projections: projections)
    }

    /// `value` with its sign flipped in the lanes `mask` marks: `x` or `-x` exactly.
    @inline(__always)
    private static func flipped(_ bits: UInt64, _ mask: SIMD8<UInt64>) -> SIMD8<Double> {
        unsafeBitCast(SIMD8<UInt64>(repeating: bits) ^ mask, to: SIMD8<Double>.self)
    }

    /// The `k` largest magnitudes so far, largest first, ties to the lower index: a new entry
    /// goes before the first smaller one, and one not larger than the k-th is passed over.
    private struct TopK {
        let k: Int
        var indices: [Int]
        var magnitudes: [Float]
        var count = 0

        init(_ k: Int) {
            self.k = k
            indices = [Int](repeating: 0, count: k + 1)
            magnitudes = [Float](repeating: 0, count: k + 1)
        }

        /// Entries not above it are passed over (none while fewer than k are held).
        var threshold: Float { count == k && k > 0 ? magnitudes[k - 1] : -.infinity }

        /// Out of line: inlined, the compiler turned the scan's rare branch into a select that
        /// chained every entry to the last (twice the time for 49,152 logits).
        @inline(never)
        mutating func offer(_ magnitude: Float, at index: Int) {
            guard k > 0 else { return }
            var at = count
            for slot in 0..<count where magnitude > magnitudes[slot] {
                at = slot
                break
            }
            guard at < k else { return }  // full, and not larger than any (a NaN)
            var slot = min(count, k - 1)
            while slot > at {
                indices[slot] = indices[slot - 1]
                magnitudes[slot] = magnitudes[slot - 1]
                slot -= 1
            }
            indices[at] = index
            magnitudes[at] = magnitude
            count = min(count + 1, k)
        }
    }

    /// Per width, one byte per entry for each group of 8 sketches: bit `s` set when sketch
    /// `8·group + s` adds the entry (`signBit`), and per byte value the lanes' sign masks.
    private enum SignTable {
        static let masks: [SIMD8<UInt64>] = (0..<256).map { byte in
            var mask = SIMD8<UInt64>()
            for lane in 0..<8 where (byte >> lane) & 1 == 0 { mask[lane] = 1 << 63 }
            return mask
        }
        /// Widths in use are few (a model's embedding width and vocabulary); kept bounded anyway.
        private static let cache = Mutex<[SIMD2<Int>: [UInt8]]>([:])
        private static let capacity = 16

        static func bytes(width: Int, group: Int) -> [UInt8] {
            let key = SIMD2(width, group)
            if let bytes = cache.withLock({ $0[key] }) { return bytes }
            let bytes = (0..<width).map { index in
                var byte: UInt8 = 0
                for lane in 0..<8
                where signBit(seed: UInt64(group * 8 + lane), index: UInt64(index)) {
                    byte |= 1 << lane
                }
                return byte
            }
            cache.withLock { cache in
                if cache.count >= capacity { cache.removeAll() }
                cache[key] = bytes
            }
            return bytes
        }
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
                "\(bytes.count) bytes do not hold \(rowCount) rows of top-\(topK) and \(sketches) sketches"
            )
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
                "the replay has \(values.count / max(width, 1)) rows of \(width); the commitment \(rows.count)"
            )
        }
        let mine = ActivationFingerprint(
            values: values, width: width, topK: topK, sketches: sketches)
        var worst = FingerprintDistance.identical
        for (row, (committed, fresh)) in zip(rows, mine.rows).enumerated() {
            let base = row * width
            // Two parts, each judged on its own scale: the top-k entries are a row's few
            // large activations, the projections see every entry. Pooled, the large entries
            // would hide a change spread thinly over all the others.
            var topK = PartDistance()
            var projections = PartDistance()
            for (index, value) in zip(committed.indices, committed.values) {
                topK.add(value, values[base + index])
            }
            for (a, b) in zip(committed.projections, fresh.projections) { projections.add(a, b) }
            var both = topK
            both.merge(projections)
            let normError =
                Double(abs(committed.norm - fresh.norm))
                / max(Double(committed.norm), .leastNonzeroMagnitude)
            worst.cosine = min(worst.cosine, both.cosine)
            worst.relativeError = max(
                worst.relativeError, topK.relativeError, projections.relativeError)
            worst.normError = max(
                worst.normError, committed.norm == 0 && fresh.norm == 0 ? 0 : normError)
        }
        return worst
    }
}

/// Sums for the distance between a committed and a replayed vector.
private struct PartDistance {
    var dot: Double = 0
    var committedSquares: Double = 0
    var freshSquares: Double = 0
    var differenceSquares: Double = 0

    mutating func add(_ a: Float, _ b: Float) {
        let (a, b) = (Double(a), Double(b))
        dot += a * b
        committedSquares += a * a
        freshSquares += b * b
        differenceSquares += (a - b) * (a - b)
    }

    mutating func merge(_ other: PartDistance) {
        dot += other.dot
        committedSquares += other.committedSquares
        freshSquares += other.freshSquares
        differenceSquares += other.differenceSquares
    }

    var cosine: Double {
        committedSquares == 0 && freshSquares == 0
            ? 1 : dot / max((committedSquares * freshSquares).squareRoot(), .leastNonzeroMagnitude)
    }

    /// ‖committed − replayed‖ / ‖committed‖; 0 when both are zero.
    var relativeError: Double {
        guard committedSquares > 0 || freshSquares > 0 else { return 0 }
        return (differenceSquares / max(committedSquares, .leastNonzeroMagnitude)).squareRoot()
    }
}

/// The worst row's distance between a committed fingerprint and a replay.
public struct FingerprintDistance: Sendable, Equatable {
    public var cosine: Double
    /// ‖committed − replayed‖ / ‖committed‖, the larger of the top-k entries' and the
    /// projections'.
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

    public init(relativeError: Double = 1e-4, normError: Double = 1e-4) {
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
