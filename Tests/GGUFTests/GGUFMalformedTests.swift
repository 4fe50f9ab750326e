import GGUF
import Testing

/// Each malformed file must throw the error that names its problem.
@Suite struct GGUFMalformedTests {
    /// One F32 tensor "w" of 4 elements and one metadata key.
    private func validFile(tensorType: UInt32 = 0, dims: [UInt64] = [4], offset: UInt64 = 0)
        -> RawGGUF
    {
        var raw = RawGGUF()
        raw.header(tensors: 1, keys: 1)
        raw.string("general.name")
        raw.u32(8)
        raw.string("x")
        raw.tensorInfo("w", dims: dims, type: tensorType, offset: offset)
        raw.padTo(32)
        raw.bytes += [UInt8](repeating: 0, count: 16)
        return raw
    }

    private func expectError(
        _ bytes: [UInt8], _ expected: GGUFError, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try GGUFFile(bytes: bytes)
            Issue.record("parsed, expected \(expected)", sourceLocation: sourceLocation)
        } catch let error as GGUFError {
            #expect(error == expected, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func theBaselineIsValid() throws {
        let file = try GGUFFile(bytes: validFile().bytes)
        #expect(file.tensors.first?.byteCount == 16)
        #expect(file.dataOffset == 96)
    }

    @Test func wrongMagic() {
        var bytes = validFile().bytes
        bytes[0] = UInt8(ascii: "X")
        expectError(bytes, .badMagic(found: 0x4655_4758))
        expectError([], .truncated(what: "magic", offset: 0, needed: 4, available: 0))
    }

    @Test func versionOneAndFutureVersions() {
        var raw = RawGGUF()
        raw.header(version: 1, tensors: 0, keys: 0)
        expectError(raw.bytes, .unsupportedVersion(1))
        #expect(GGUFError.unsupportedVersion(1).description.contains("unsupported version 1"))
        raw = RawGGUF()
        raw.header(version: 4, tensors: 0, keys: 0)
        expectError(raw.bytes, .unsupportedVersion(4))
        raw = RawGGUF()
        raw.header(version: 2, tensors: 0, keys: 0)
        #expect((try? GGUFFile(bytes: raw.bytes))?.version == 2)
    }

    @Test func truncatedHeader() {
        let bytes = Array(validFile().bytes.prefix(20))
        expectError(
            bytes, .truncated(what: "metadata key count", offset: 16, needed: 8, available: 4))
        let midKey = Array(validFile().bytes.prefix(30))
        #expect(throws: GGUFError.self) { try GGUFFile(bytes: midKey) }
    }

    @Test func truncatedTensorData() {
        let bytes = Array(validFile().bytes.dropLast(1))
        expectError(bytes, .tensorPastEnd(tensor: "w", end: 16, dataSize: 15))
    }

    @Test func tensorOffsetPastEnd() {
        expectError(
            validFile(offset: 1 << 40).bytes,
            .tensorPastEnd(tensor: "w", end: 1 << 40 + 16, dataSize: 16))
        expectError(
            validFile(offset: UInt64.max - 31).bytes,
            .tensorPastEnd(tensor: "w", end: .max - 15, dataSize: 16))
    }

    @Test func misalignedOffset() {
        expectError(
            validFile(offset: 4).bytes,
            .misalignedTensorOffset(tensor: "w", offset: 4, alignment: 32))
    }

    @Test func unknownTensorType() {
        expectError(validFile(tensorType: 99).bytes, .unsupportedTensorType(tensor: "w", type: 99))
        #expect(
            GGUFError.unsupportedTensorType(tensor: "w", type: 99).description
                == "unsupported tensor type 99 in tensor w")
        // removed Q4_2
        expectError(validFile(tensorType: 4).bytes, .unsupportedTensorType(tensor: "w", type: 4))
    }

    @Test func absurdDimensions() {
        expectError(
            validFile(dims: [1, 1, 1, 1, 1]).bytes,
            .invalidTensorDimensions(tensor: "w", reason: "5 dimensions, expected 1 to 4"))
        expectError(
            validFile(dims: []).bytes,
            .invalidTensorDimensions(tensor: "w", reason: "0 dimensions, expected 1 to 4"))
        expectError(
            validFile(dims: [4, 0]).bytes,
            .invalidTensorDimensions(tensor: "w", reason: "dimension 1 is 0"))
        expectError(
            validFile(dims: [1 << 32, 1 << 32]).bytes,
            .invalidTensorDimensions(tensor: "w", reason: "element count overflows"))
        expectError(
            validFile(dims: [UInt64.max]).bytes,
            .invalidTensorDimensions(tensor: "w", reason: "dimension 0 is \(UInt64.max)"))
        // Q4_0 rows must hold whole 32-element blocks.
        #expect(throws: GGUFError.self) {
            try GGUFFile(bytes: validFile(tensorType: 2, dims: [4]).bytes)
        }
        // 2^61 F32 elements: the element count fits but the byte size does not.
        expectError(
            validFile(dims: [1 << 61]).bytes,
            .invalidTensorDimensions(tensor: "w", reason: "byte size overflows"))
    }

    @Test func absurdCountsAreRejectedBeforeAllocating() {
        var raw = RawGGUF()
        raw.header(tensors: 1 << 60, keys: 0)
        expectError(raw.bytes, .absurdCount(what: "tensor count", count: 1 << 60, limit: 0))
        raw = RawGGUF()
        raw.header(tensors: 0, keys: UInt64.max)
        expectError(raw.bytes, .absurdCount(what: "metadata key count", count: .max, limit: 0))

        raw = RawGGUF()
        raw.header(tensors: 0, keys: 1)
        raw.string("a")
        raw.u32(9)
        raw.u32(4)
        raw.u64(1 << 50)  // u32 array of 2^50 elements
        expectError(raw.bytes, .absurdCount(what: "array length of a", count: 1 << 50, limit: 0))

        raw = RawGGUF()
        raw.header(tensors: 0, keys: 1)
        raw.u64(1 << 62)
        raw.bytes += [UInt8](repeating: 65, count: 20)  // key length 2^62
        expectError(
            raw.bytes,
            .absurdCount(what: "length of key of metadata entry 0", count: 1 << 62, limit: 20))
    }

    @Test func badMetadata() {
        var raw = RawGGUF()
        raw.header(tensors: 0, keys: 1)
        raw.string("k")
        raw.u32(13)
        raw.u32(0)
        expectError(raw.bytes, .unknownValueType(key: "k", type: 13))

        raw = RawGGUF()
        raw.header(tensors: 0, keys: 2)
        raw.string("k")
        raw.u32(4)
        raw.u32(1)
        raw.string("k")
        raw.u32(4)
        raw.u32(2)
        expectError(raw.bytes, .duplicateKey("k"))

        raw = RawGGUF()
        raw.header(tensors: 0, keys: 1)
        raw.string("b")
        raw.u32(7)
        raw.bytes.append(2)
        expectError(raw.bytes, .invalidValue(key: "b", reason: "bool stored as 2"))

        raw = RawGGUF()
        raw.header(tensors: 0, keys: 1)
        raw.string("deep")
        raw.u32(9)
        for _ in 0..<20 {
            raw.u32(9)
            raw.u64(1)
        }
        raw.bytes += [UInt8](repeating: 0, count: 64)
        expectError(raw.bytes, .nestingTooDeep(key: "deep"))

        raw = RawGGUF()
        raw.header(tensors: 0, keys: 1)
        raw.string("general.alignment")
        raw.u32(4)
        raw.u32(24)
        expectError(raw.bytes, .invalidAlignment("24 is not a power of two up to 1 MiB"))
    }

    @Test func duplicateTensorNames() {
        var raw = RawGGUF()
        raw.header(tensors: 2, keys: 0)
        raw.tensorInfo("w", dims: [4], type: 0, offset: 0)
        raw.tensorInfo("w", dims: [4], type: 0, offset: 32)
        raw.padTo(32)
        raw.bytes += [UInt8](repeating: 0, count: 64)
        expectError(raw.bytes, .duplicateTensor("w"))
    }
}
