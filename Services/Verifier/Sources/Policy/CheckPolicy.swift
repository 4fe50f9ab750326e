/// Which receipts are replayed: each with the rate of its least trusted worker. The draw is
/// a hash of the receipt id under a seed, so one seed gives the same selection in any order
/// and after a restart (tests fix the seed; the service draws one at start, so workers cannot
/// predict which receipts are checked).
struct CheckPolicy: Sendable, Equatable {
    var newWorkerRate: Double = 1
    var trustedRate: Double = 0.05
    var seed: UInt64

    func rate(for trust: WorkerTrust) -> Double {
        switch trust {
        case .new: newWorkerRate
        case .trusted: trustedRate
        case .quarantined: 1  // still serving what it was given: check all of it
        }
    }

    /// The rate of the least trusted of `trusts` (1 when there are none: nothing to lean on).
    func rate(for trusts: some Sequence<WorkerTrust>) -> Double {
        trusts.map(rate(for:)).max() ?? 1
    }

    func selects(receiptID: String, rate: Double) -> Bool {
        draw(receiptID) < rate
    }

    /// Uniform in [0, 1): SplitMix64 of the seed and the id's FNV-1a hash.
    func draw(_ receiptID: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in receiptID.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        var z = (seed ^ hash) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(UInt64(1) << 53)
    }
}
