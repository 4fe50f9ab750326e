import Foundation

/// Builds a GGUF v3 file: metadata in insertion order, then tensor infos, then each tensor's
/// bytes padded to the alignment.
public struct GGUFWriter {
    public let alignment: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var pending: [PendingTensor] = []
    /// The first invalid metadata value passed to `set`, reported by `write(to:)` and `encoded()`.
    private var invalidValueError: GGUFError?

    private struct PendingTensor {
        let name: String
        let dimensions: [Int]
        let type: GGMLType
        let bytes: [UInt8]
    }

    /// `alignment` must be a power of two; any other value falls back to 32. A non-default
    /// alignment is recorded as `general.alignment` so readers find the tensors.
    public init(alignment: Int = 32) {
        let valid = alignment > 0 && alignment.nonzeroBitCount == 1 && alignment <= 1 << 20
        self.alignment = valid ? alignment : 32
        if self.alignment != 32 { set("general.alignment", .uint32(UInt32(self.alignment))) }
    }

    /// Sets a metadata value. A key set twice keeps its first position and the last value.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if invalidValueError == nil, let problem = Self.problem(in: value) {
            invalidValueError = .invalidValue(key: key, reason: problem)
        }
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    public mutating func addTensor(name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8])
        throws
    {
        guard !pending.contains(where: { $0.name == name }) else {
            throw GGUFError.duplicateTensor(name)
        }
        guard (1...GGUFHeaderParser.maxDimensions).contains(dimensions.count) else {
            throw GGUFError.invalidTensorDimensions(
                tensor: name, reason: "\(dimensions.count) dimensions, expected 1 to 4")
        }
        guard dimensions.allSatisfy({ $0 > 0 }) else {
            throw GGUFError.invalidTensorDimensions(
                tensor: name, reason: "dimensions \(dimensions) must be positive")
        }
        guard dimensions[0] % type.blockSize == 0 else {
            throw GGUFError.invalidTensorDimensions(
                tensor: name,
                reason:
                    "row length \(dimensions[0]) is not a multiple of the \(type.name) block size")
        }
        var elements = 1
        for dimension in dimensions {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw GGUFError.invalidTensorDimensions(
                    tensor: name, reason: "element count overflows")
            }
            elements = product
        }
        let expected = try type.byteCount(elements: elements)
        guard expected == bytes.count else {
            throw GGUFError.tensorSizeMismatch(tensor: name, expected: expected, given: bytes.count)
        }
        pending.append(PendingTensor(name: name, dimensions: dimensions, type: type, bytes: bytes))
    }

    public mutating func addTensor(
        name: String, dimensions: [Int], type: GGMLType, copying source: UnsafeRawBufferPointer
    ) throws {
        try addTensor(name: name, dimensions: dimensions, type: type, bytes: Array(source))
    }

    /// Writes atomically: to a temporary file beside `path`, then renamed over it.
    public func write(to path: String) throws {
        let image = try encoded()
        let target = URL(fileURLWithPath: path)
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(
                ".\(target.lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp")
        do {
            try Data(image).write(to: temporary)
            guard rename(temporary.path, target.path) == 0 else {
                throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
        } catch let error as GGUFError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw GGUFError.writeFailed(path: path, reason: "\(error)")
        }
    }

    /// The file image, or an empty array when a metadata value was invalid
    /// (use `encoded()` or `write(to:)` to get the error instead).
    public func serialized() -> [UInt8] {
        (try? encoded()) ?? []
    }

    /// The file image; throws when a metadata value set earlier was invalid.
    public func encoded() throws -> [UInt8] {
        if let invalidValueError { throw invalidValueError }
        var out: [UInt8] = []
        append(UInt32(GGUFHeaderParser.magic), to: &out)
        append(UInt32(3), to: &out)
        append(UInt64(pending.count), to: &out)
        append(UInt64(keys.count), to: &out)
        for key in keys {
            let value = values[key]!
            appendString(key, to: &out)
            append(value.typeID.rawValue, to: &out)
            appendValue(value, to: &out)
        }
        var dataOffsets: [Int] = []
        var runningOffset = 0
        for tensor in pending {
            dataOffsets.append(runningOffset)
            runningOffset = alignUp(runningOffset + tensor.bytes.count, to: alignment)
        }
        for (tensor, offset) in zip(pending, dataOffsets) {
            appendString(tensor.name, to: &out)
            append(UInt32(tensor.dimensions.count), to: &out)
            for dimension in tensor.dimensions { append(UInt64(dimension), to: &out) }
            append(tensor.type.rawValue, to: &out)
            append(UInt64(offset), to: &out)
        }
        if !pending.isEmpty {
            out.append(
                contentsOf: repeatElement(0, count: alignUp(out.count, to: alignment) - out.count))
            for tensor in pending {
                out.append(contentsOf: tensor.bytes)
                out.append(
                    contentsOf: repeatElement(
                        0, count: alignUp(out.count, to: alignment) - out.count))
            }
        }
        return out
    }

    /// GGUF arrays hold one element type; nested arrays are checked the same way.
    private static func problem(in value: GGUFValue) -> String? {
        guard case .array(let elements) = value, let first = elements.first else { return nil }
        guard elements.allSatisfy({ $0.typeID == first.typeID }) else {
            return "array elements have different types"
        }
        return elements.lazy.compactMap(problem(in:)).first
    }

    private func appendValue(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .bool(let v): append(UInt8(v ? 1 : 0), to: &out)
        case .string(let v): appendString(v, to: &out)
        case .array(let elements):
            // An empty array has no element to name its type; uint8 is as good as any.
            append((elements.first?.typeID ?? .uint8).rawValue, to: &out)
            append(UInt64(elements.count), to: &out)
            for element in elements { appendValue(element, to: &out) }
        }
    }

    private func appendString(_ string: String, to out: inout [UInt8]) {
        let utf8 = Array(string.utf8)
        append(UInt64(utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    private func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}
