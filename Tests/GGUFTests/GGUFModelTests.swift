import Foundation
import GGUF
import Testing

/// Reads the real SmolLM2-135M file and compares it with what the `gguf` Python package read
/// (Tests/Reference/gguf/smollm2-135m.json, made by scripts/gguf-reference.py).
@Suite struct GGUFModelTests {
    @Test func headerMatchesPythonReader() throws {
        let file = try GGUFFile(path: try TestSupport.modelPath())
        let reference = try TestSupport.referenceJSON("gguf/smollm2-135m.json")
        #expect(file.version == UInt32(reference["version"] as! Int))
        #expect(file.alignment == reference["alignment"] as! Int)
        #expect(file.dataOffset == reference["data_offset"] as! Int)
        #expect(file.fileSize == 98_362_432)
    }

    @Test func tensorsMatchPythonReader() throws {
        let file = try GGUFFile(path: try TestSupport.modelPath())
        let reference =
            try TestSupport.referenceJSON("gguf/smollm2-135m.json")["tensors"] as! [[String: Any]]
        #expect(file.tensors.count == reference.count)
        #expect(file.tensors.count == 272)
        for (tensor, expected) in zip(file.tensors, reference) {
            #expect(tensor.name == expected["name"] as! String)
            #expect(tensor.type.name == expected["type"] as! String)
            #expect(tensor.type.rawValue == UInt32(expected["type_id"] as! Int))
            #expect(tensor.dimensions == expected["shape"] as! [Int])
            #expect(tensor.offset == expected["offset"] as! Int)
            #expect(tensor.byteCount == expected["n_bytes"] as! Int)
        }
        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.dimensions == [576, 49152])
        #expect(embedding.type == .q8_0)
        #expect(file.bytes(of: embedding).count == embedding.byteCount)
        for layer in 0..<30 {
            #expect(file.tensor(named: "blk.\(layer).attn_q.weight") != nil)
        }
        #expect(file.tensor(named: "blk.30.attn_q.weight") == nil)
    }

    @Test func metadataMatchesPythonReader() throws {
        let file = try GGUFFile(path: try TestSupport.modelPath())
        let reference =
            try TestSupport.referenceJSON("gguf/smollm2-135m.json")["metadata"] as! [[String: Any]]
        #expect(file.metadataKeys == reference.map { $0["key"] as! String })
        for entry in reference {
            let key = entry["key"] as! String
            let types = entry["types"] as! [String]
            let value = try #require(file.metadata[key], "missing key \(key)")
            if types[0] == "ARRAY" {
                let array = try #require(value.array, "\(key) is not an array")
                #expect(array.count == entry["count"] as! Int, "length of \(key)")
                let first = entry["first"] as! [Any]
                for (element, expected) in zip(array, first) {
                    expectEqual(element, expected, type: types[1], key: key)
                }
                if let last = array.last {
                    expectEqual(last, entry["last"]!, type: types[1], key: key)
                }
            } else {
                expectEqual(value, entry["value"]!, type: types[0], key: key)
            }
        }
        #expect(file.metadata["llama.block_count"]?.int == 30)
        #expect(file.metadata["llama.embedding_length"]?.int == 576)
        #expect(file.metadata["tokenizer.ggml.tokens"]?.array?.count == 49152)
        #expect(file.metadata["tokenizer.ggml.token_type"]?.array?.count == 49152)
        #expect(file.metadata["tokenizer.ggml.pre"]?.string == "smollm")
    }

    private func expectEqual(_ value: GGUFValue, _ expected: Any, type: String, key: String) {
        #expect(value.typeID == GGUFValueType(named: type), "type of \(key)")
        switch value {
        case .string(let s): #expect(s == expected as? String, "\(key)")
        case .bool(let b): #expect(b == expected as? Bool, "\(key)")
        case .float32(let f):
            #expect(f == Float((expected as! [String: Double])["float"]!), "\(key)")
        case .float64(let d): #expect(d == (expected as! [String: Double])["float"]!, "\(key)")
        default: #expect(value.int == expected as? Int, "\(key)")
        }
    }

    @Test func openingMissingOrNonRegularPathThrows() {
        #expect(throws: GGUFError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
        #expect(throws: GGUFError.self) { try GGUFFile(path: "/tmp") }
    }
}

extension GGUFValueType {
    init?(named name: String) {
        guard let match = Self.allCases.first(where: { "\($0)".uppercased() == name }) else {
            return nil
        }
        self = match
    }
}
