import Testing

@testable import Integrity

/// The tolerant fingerprint: exact replays are at distance zero, float noise stays tiny,
/// real changes (a skipped layer is a different vector; noise of 1%) are far outside the band.
@Suite struct FingerprintTests {
    static func rows(_ count: Int, width: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<(count * width)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 100
        }
    }

    @Test func encodingRoundTripsAndHasTheDocumentedSize() throws {
        let values = Self.rows(3, width: 576, seed: 1)
        let fingerprint = ActivationFingerprint(values: values, width: 576)
        let bytes = fingerprint.encoded
        #expect(bytes.count == 11 + 3 * 100)
        #expect(try ActivationFingerprint(encoded: bytes) == fingerprint)
        #expect(throws: FingerprintError.self) {
            try ActivationFingerprint(encoded: Array(bytes.dropLast()))
        }
        var badIndex = bytes
        badIndex[11 + 4] = 0xff  // first row's first top-k index
        badIndex[11 + 5] = 0xff
        #expect(throws: FingerprintError.self) { try ActivationFingerprint(encoded: badIndex) }
    }

    @Test func topKHoldsTheLargestMagnitudes() {
        var row = [Float](repeating: 0.5, count: 64)
        row[3] = -9
        row[40] = 8
        row[7] = 7.5
        let fingerprint = ActivationFingerprint(values: row, width: 64, topK: 3)
        #expect(fingerprint.rows[0].indices == [3, 40, 7])
        #expect(fingerprint.rows[0].values == [-9, 8, 7.5])
    }

    @Test func distancesSeparateNoiseFromFaults() throws {
        let width = 576
        let values = Self.rows(4, width: width, seed: 2)
        let committed = try ActivationFingerprint(
            encoded: ActivationFingerprint(values: values, width: width).encoded)
        #expect(try committed.distance(toReplayed: values) == .identical)
        let tolerance = FingerprintTolerance()
        // One unit in the last place on every value: honest float noise.
        let ulp = values.map { $0.nextUp }
        let tiny = try committed.distance(toReplayed: ulp)
        #expect(tiny.within(tolerance))
        #expect(tiny.relativeError < 1e-5)
        // 1% noise on every value, and a different vector: both far outside.
        var state: UInt64 = 9
        let noisy = values.map { value -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return value * (1 + (state >> 63 == 0 ? 0.01 : -0.01))
        }
        #expect(!(try committed.distance(toReplayed: noisy)).within(tolerance))
        let other = Self.rows(4, width: width, seed: 3)
        let far = try committed.distance(toReplayed: other)
        #expect(far.cosine < 0.9)
        #expect(throws: FingerprintError.self) {
            try committed.distance(toReplayed: Array(values.prefix(width)))
        }
    }
}
