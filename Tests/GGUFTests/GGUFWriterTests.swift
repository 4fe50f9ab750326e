import Foundation
import GGUF
import Testing

@Suite struct GGUFWriterTests {
    /// The same content the gguf Python package's GGUFWriter wrote in scripts/gguf-writer-sample.py.
    private func pythonSample() throws -> GGUFWriter {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("tessera-test"))
        writer.set("t.u8", .uint8(200))
        writer.set("t.i8", .int8(-5))
        writer.set("t.u16", .uint16(60000))
        writer.set("t.i16", .int16(-300))
        writer.set("t.u32", .uint32(4_000_000_000))
        writer.set("t.i32", .int32(-7))
        writer.set("t.f32", .float32(1.5))
        writer.set("t.bool", .bool(true))
        writer.set("t.str", .string("h\u{e9}llo \u{2581} \u{1F600}"))
        writer.set("t.u64", .uint64(1 << 63 + 5))
        writer.set("t.i64", .int64(-(1 << 40)))
        writer.set("t.f64", .float64(-0.1))
        writer.set("t.arr", .array([.string("a"), .string("bc"), .string("")]))
        writer.set("t.nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        let floats: [Float] = [0, 1, 2, 3, 4, 5]
        try writer.addTensor(
            name: "a", dimensions: [3, 2], type: .f32, bytes: floats.flatMap(Self.bytes))
        let halves: [Float16] = [1, 2, 3, 4, 5]
        try writer.addTensor(
            name: "b", dimensions: [5], type: .f16, bytes: halves.flatMap(Self.bytes))
        return writer
    }

    private static func bytes<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    @Test func producesTheSameBytesAsPythonGGUFWriter() throws {
        let reference = try TestSupport.referenceJSON("gguf/writer-sample.json")
        let expected = TestSupport.bytes(fromHex: reference["hex"] as! String)
        #expect(expected.count == reference["size"] as! Int)
        #expect(try pythonSample().encoded() == expected)
    }

    @Test func readsPythonWrittenFile() throws {
        let reference = try TestSupport.referenceJSON("gguf/writer-sample.json")
        let file = try GGUFFile(bytes: TestSupport.bytes(fromHex: reference["hex"] as! String))
        #expect(file.version == 3)
        #expect(file.metadataKeys.count == 15)
        #expect(file.metadata["t.u64"] == .uint64(1 << 63 + 5))
        #expect(file.metadata["t.str"]?.string == "h\u{e9}llo \u{2581} \u{1F600}")
        #expect(
            file.metadata["t.nested"]
                == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        let a = try #require(file.tensor(named: "a"))
        #expect(a.dimensions == [3, 2] && a.type == .f32 && a.elementCount == 6)
        let values = file.bytes(of: a).withMemoryRebound(to: Float.self) { Array($0) }
        #expect(values == [0, 1, 2, 3, 4, 5])
        let b = try #require(file.tensor(named: "b"))
        #expect(b.offset == 32 && b.byteCount == 10)
    }

    @Test func roundTripsEveryValueTypeAndTensorBytes() throws {
        var writer = GGUFWriter(alignment: 64)
        let values: [(String, GGUFValue)] = [
            ("k.u8", .uint8(1)), ("k.i8", .int8(-1)), ("k.u16", .uint16(2)), ("k.i16", .int16(-2)),
            ("k.u32", .uint32(3)), ("k.i32", .int32(-3)), ("k.u64", .uint64(.max)),
            ("k.i64", .int64(.min)),
            ("k.f32", .float32(-2.5)), ("k.f64", .float64(1e300)), ("k.bool", .bool(false)),
            ("k.str", .string("")), ("k.empty", .array([])),
            ("k.deep", .array([.array([.array([.float32(1)])])])),
        ]
        for (key, value) in values { writer.set(key, value) }
        writer.set("k.u8", .uint8(9))  // replaces the value, keeps the position
        let q8: [UInt8] = (0..<68).map { UInt8($0) }
        try writer.addTensor(name: "q", dimensions: [64, 1], type: .q8_0, bytes: q8)
        try writer.addTensor(name: "r", dimensions: [1], type: .f32, bytes: [0, 0, 128, 63])

        let file = try GGUFFile(bytes: writer.encoded())
        #expect(file.alignment == 64)
        #expect(file.metadataKeys == ["general.alignment"] + values.map(\.0))
        #expect(file.metadata["k.u8"] == .uint8(9))
        for (key, value) in values.dropFirst() where key != "k.empty" {
            #expect(file.metadata[key] == value, "\(key)")
        }
        #expect(file.metadata["k.empty"]?.array?.isEmpty == true)
        #expect(file.dataOffset % 64 == 0)
        #expect(Array(file.bytes(of: file.tensor(named: "q")!)) == q8)
        #expect(file.tensor(named: "r")!.offset == 128)
        #expect(Array(file.bytes(of: file.tensor(named: "r")!)) == [0, 0, 128, 63])
    }

    @Test func writesAtomicallyToDisk() throws {
        var writer = GGUFWriter()
        writer.set("general.name", .string("disk"))
        let path = NSTemporaryDirectory() + "tessera-writer-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        try writer.write(to: path)  // replacing an existing file works too
        let file = try GGUFFile(path: path)
        #expect(file.metadata["general.name"]?.string == "disk")
        #expect(throws: GGUFError.self) { try writer.write(to: "/nonexistent-dir/x.gguf") }
    }

    @Test func rejectsInvalidInput() throws {
        var writer = GGUFWriter()
        #expect(throws: GGUFError.tensorSizeMismatch(tensor: "t", expected: 8, given: 4)) {
            try writer.addTensor(name: "t", dimensions: [2], type: .f32, bytes: [0, 0, 0, 0])
        }
        #expect(throws: GGUFError.self) {
            try writer.addTensor(name: "t", dimensions: [16], type: .q4_0, bytes: [])
        }
        #expect(throws: GGUFError.self) {
            try writer.addTensor(name: "t", dimensions: [0], type: .f32, bytes: [])
        }
        #expect(throws: GGUFError.self) {
            try writer.addTensor(
                name: "t", dimensions: [1, 1, 1, 1, 1], type: .f32, bytes: [0, 0, 0, 0])
        }
        try writer.addTensor(name: "t", dimensions: [1], type: .f32, bytes: [0, 0, 0, 0])
        #expect(throws: GGUFError.duplicateTensor("t")) {
            try writer.addTensor(name: "t", dimensions: [1], type: .f32, bytes: [0, 0, 0, 0])
        }
        writer.set("mixed", .array([.int32(1), .string("x")]))
        #expect(
            throws: GGUFError.invalidValue(
                key: "mixed", reason: "array elements have different types")
        ) {
            try writer.encoded()
        }
        #expect(writer.serialized().isEmpty)
    }

    @Test func typeTableMatchesGGML() throws {
        #expect(GGMLType.q4_1.blockBytes == 20 && GGMLType.q4_1.blockSize == 32)
        #expect(
            GGMLType.q8_0.blockBytes == 34 && GGMLType.q4_K.blockBytes == 144
                && GGMLType.q6_K.blockBytes == 210)
        #expect(GGMLType.f32.name == "F32" && GGMLType.bf16.rawValue == 30)
        #expect(try GGMLType.q4_K.byteCount(elements: 512) == 288)
        #expect(throws: GGUFError.self) { try GGMLType.q4_0.byteCount(elements: 33) }
        #expect(throws: GGUFError.self) { try GGMLType.f32.byteCount(elements: -1) }
        let supported = GGMLType.allCases.filter(\.isSupportedByEngine).map(\.name)
        #expect(
            Set(supported) == [
                "F32", "F16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K",
                "Q5_K", "Q6_K",
            ])
    }
}

@Suite struct GGMLTypeReferenceTests {
    /// Block geometry against gguf-py's GGML_QUANT_SIZES (dumped in the reference JSON).
    @Test func blockGeometryMatchesPythonPackage() throws {
        let sizes =
            try TestSupport.referenceJSON("gguf/smollm2-135m.json")["type_sizes"]
            as! [[String: Any]]
        #expect(sizes.count >= 30)
        for entry in sizes {
            let id = UInt32(entry["id"] as! Int)
            let type = try #require(
                GGMLType(rawValue: id), "type id \(id) (\(entry["name"]!)) unknown")
            #expect(type.name == entry["name"] as! String)
            #expect(type.blockSize == entry["block_size"] as! Int, "\(type.name)")
            // ggml's block_q8_1 is 36 bytes (half2 + 32 int8); gguf-py's table keeps an old 40.
            if type != .q8_1 {
                #expect(type.blockBytes == entry["type_size"] as! Int, "\(type.name)")
            }
        }
        #expect(
            Set(sizes.map { $0["id"] as! Int }) == Set(GGMLType.allCases.map { Int($0.rawValue) }))
    }
}
