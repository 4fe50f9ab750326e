/// Parses the GGUF header (magic, version, metadata, tensor infos) and validates every
/// tensor against the size of the file, without touching the tensor data itself.
struct GGUFHeader {
    var version: UInt32
    var alignment: Int
    var metadata: [String: GGUFValue]
    var metadataKeys: [String]
    var tensors: [GGUFTensorInfo]
    var dataOffset: Int
}

enum GGUFHeaderParser {
    static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian
    static let defaultAlignment = 32
    static let maxDimensions = 4
    /// Deep enough for any real file, shallow enough that recursion cannot exhaust the stack.
    static let maxArrayNesting = 8

    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> GGUFHeader {
        var reader = GGUFByteReader(bytes)
        let foundMagic = try reader.read(UInt32.self, "magic")
        guard foundMagic == magic else { throw GGUFError.badMagic(found: foundMagic) }
        let version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }

        // A tensor info takes at least 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes.
        let tensorCount64 = try reader.read(UInt64.self, "tensor count")
        let keyCount = try reader.readCount("metadata key count", minimumSize: 8 + 4 + 1)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(keyCount)
        for index in 0..<keyCount {
            let key = try reader.readString("key of metadata entry \(index)")
            let rawType = try reader.read(UInt32.self, "value type of key \(key)")
            let value = try readValue(&reader, rawType: rawType, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError.duplicateKey(key)
            }
            keys.append(key)
        }

        let alignment = try self.alignment(from: metadata["general.alignment"])

        let tensorLimit = UInt64(reader.remaining / 32)
        guard tensorCount64 <= tensorLimit else {
            throw GGUFError.absurdCount(
                what: "tensor count", count: tensorCount64, limit: tensorLimit)
        }
        var infos: [(name: String, dims: [Int], type: GGMLType, offset: UInt64, bytes: Int)] = []
        infos.reserveCapacity(Int(tensorCount64))
        var names = Set<String>()
        for index in 0..<Int(tensorCount64) {
            let info = try readTensorInfo(&reader, index: index)
            guard names.insert(info.name).inserted else {
                throw GGUFError.duplicateTensor(info.name)
            }
            infos.append(info)
        }

        let dataOffset = alignUp(reader.position, to: alignment)
        let dataSize = max(0, bytes.count - dataOffset)
        let tensors = try infos.map { info -> GGUFTensorInfo in
            guard info.offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensorOffset(
                    tensor: info.name, offset: info.offset, alignment: alignment)
            }
            let (end, overflow) = info.offset.addingReportingOverflow(UInt64(info.bytes))
            guard !overflow, end <= UInt64(dataSize) else {
                throw GGUFError.tensorPastEnd(
                    tensor: info.name, end: overflow ? .max : end, dataSize: dataSize)
            }
            return GGUFTensorInfo(
                name: info.name, dimensions: info.dims, type: info.type, offset: Int(info.offset),
                byteCount: info.bytes)
        }
        return GGUFHeader(
            version: version, alignment: alignment, metadata: metadata, metadataKeys: keys,
            tensors: tensors,
            dataOffset: dataOffset)
    }

    private static func readTensorInfo(
        _ reader: inout GGUFByteReader, index: Int
    ) throws -> (name: String, dims: [Int], type: GGMLType, offset: UInt64, bytes: Int) {
        let name = try reader.readString("name of tensor \(index)")
        let dimCount = try reader.read(UInt32.self, "dimension count of tensor \(name)")
        guard (1...UInt32(maxDimensions)).contains(dimCount) else {
            throw GGUFError.invalidTensorDimensions(
                tensor: name, reason: "\(dimCount) dimensions, expected 1 to \(maxDimensions)")
        }
        var dims: [Int] = []
        var elements = 1
        for axis in 0..<Int(dimCount) {
            let raw = try reader.read(UInt64.self, "dimension \(axis) of tensor \(name)")
            guard raw > 0, raw <= UInt64(Int64.max) else {
                throw GGUFError.invalidTensorDimensions(
                    tensor: name, reason: "dimension \(axis) is \(raw)")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(raw))
            guard !overflow else {
                throw GGUFError.invalidTensorDimensions(
                    tensor: name, reason: "element count overflows")
            }
            elements = product
            dims.append(Int(raw))
        }
        let rawType = try reader.read(UInt32.self, "type of tensor \(name)")
        guard let type = GGMLType(rawValue: rawType) else {
            throw GGUFError.unsupportedTensorType(tensor: name, type: rawType)
        }
        guard dims[0] % type.blockSize == 0 else {
            throw GGUFError.invalidTensorDimensions(
                tensor: name,
                reason:
                    "row length \(dims[0]) is not a multiple of the \(type.name) block size \(type.blockSize)"
            )
        }
        let byteCount: Int
        do {
            byteCount = try type.byteCount(elements: elements)
        } catch {
            throw GGUFError.invalidTensorDimensions(tensor: name, reason: "byte size overflows")
        }
        let offset = try reader.read(UInt64.self, "offset of tensor \(name)")
        return (name, dims, type, offset, byteCount)
    }

    private static func readValue(
        _ reader: inout GGUFByteReader, rawType: UInt32, key: String, depth: Int
    ) throws -> GGUFValue {
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw GGUFError.unknownValueType(key: key, type: rawType)
        }
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, "value of \(key)"))
        case .int8: return .int8(try reader.read(Int8.self, "value of \(key)"))
        case .uint16: return .uint16(try reader.read(UInt16.self, "value of \(key)"))
        case .int16: return .int16(try reader.read(Int16.self, "value of \(key)"))
        case .uint32: return .uint32(try reader.read(UInt32.self, "value of \(key)"))
        case .int32: return .int32(try reader.read(Int32.self, "value of \(key)"))
        case .uint64: return .uint64(try reader.read(UInt64.self, "value of \(key)"))
        case .int64: return .int64(try reader.read(Int64.self, "value of \(key)"))
        case .float32:
            return .float32(Float(bitPattern: try reader.read(UInt32.self, "value of \(key)")))
        case .float64:
            return .float64(Double(bitPattern: try reader.read(UInt64.self, "value of \(key)")))
        case .bool:
            let raw = try reader.read(UInt8.self, "value of \(key)")
            guard raw <= 1 else {
                throw GGUFError.invalidValue(key: key, reason: "bool stored as \(raw)")
            }
            return .bool(raw == 1)
        case .string: return .string(try reader.readString("value of \(key)"))
        case .array:
            guard depth < maxArrayNesting else { throw GGUFError.nestingTooDeep(key: key) }
            let elementRaw = try reader.read(UInt32.self, "array element type of \(key)")
            guard let elementType = GGUFValueType(rawValue: elementRaw) else {
                throw GGUFError.unknownValueType(key: key, type: elementRaw)
            }
            let count = try reader.readCount(
                "array length of \(key)", minimumSize: elementType.minimumEncodedSize)
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count {
                values.append(
                    try readValue(&reader, rawType: elementRaw, key: key, depth: depth + 1))
            }
            return .array(values)
        }
    }

    private static func alignment(from value: GGUFValue?) throws -> Int {
        guard let value else { return defaultAlignment }
        guard let alignment = value.int else {
            throw GGUFError.invalidAlignment("value \(value) is not an integer")
        }
        guard alignment > 0, alignment.nonzeroBitCount == 1, alignment <= 1 << 20 else {
            throw GGUFError.invalidAlignment("\(alignment) is not a power of two up to 1 MiB")
        }
        return alignment
    }
}

func alignUp(_ value: Int, to alignment: Int) -> Int {
    (value + alignment - 1) / alignment * alignment
}
