import Foundation

/// The bytes a signature covers: fields in a fixed order, integers little-endian, strings and
/// byte strings length-prefixed, behind a domain tag so a signature over one kind of
/// statement can never be passed off as another. Protobuf bytes are not used because the
/// same message has more than one valid encoding.
struct CanonicalEncoder {
    private(set) var bytes: [UInt8] = []

    init(domain: String) { string(domain) }

    mutating func uint64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
    mutating func uint32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
    mutating func int64(_ value: Int64) { uint64(UInt64(bitPattern: value)) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    mutating func data(_ value: some Collection<UInt8>) {
        uint32(UInt32(value.count))
        bytes += value
    }
    mutating func string(_ value: String) { data(Array(value.utf8)) }
}
