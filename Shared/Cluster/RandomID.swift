/// Random identifiers: a prefix and lowercase hexadecimal digits, zero-padded, so ids of
/// one kind all have the same shape (worker ids `w-…`, request ids `req-…`).
public enum RandomID {
    /// `prefix` and `digits` hex digits (at most 16) of random bits.
    public static func make(prefix: String, digits: Int) -> String {
        let digits = min(max(digits, 1), 16)
        let bits =
            digits == 16
            ? UInt64.random(in: .min ... .max) : UInt64.random(in: 0..<(1 << (4 * UInt64(digits))))
        let hex = String(bits, radix: 16)
        return prefix + String(repeating: "0", count: digits - hex.count) + hex
    }
}
