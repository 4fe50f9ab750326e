import Foundation
import GGUF
import ModelCompression
import Testing

@Suite struct VariantMethodTests {
    @Test func everyNamePrintsAsItParses() throws {
        let names = [
            "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q3_k", "q2_k",
            "q4_k+emb:q4_k", "q2_k+emb:q4_0", "wanda50-q4_0", "wanda24-q4_0",
            "wanda24-q4_k+emb:q8_0",
        ]
        for name in names {
            #expect(try VariantMethod(parsing: name).description == name)
        }
        #expect(try VariantMethod(parsing: "Q4_K+EMB:Q6_K").description == "q4_k+emb:q6_k")
        #expect(VariantMethod.quantizationMethods.map(\.description) == Array(names.prefix(10)))
    }

    @Test func partsAreWhatTheNameSays() throws {
        let method = try VariantMethod(parsing: "wanda24-q4_k+emb:q8_0")
        #expect(method.pruning == .wanda24)
        #expect(method.pruning?.pattern == .twoOfFour)
        #expect(method.layerType == .q4_K)
        #expect(method.embeddingType == .q8_0)
        #expect(VariantPruning.wanda50.pattern == .unstructured(fraction: 0.5))
        #expect(method.variantName(parent: "smollm2-135m") == "smollm2-135m:wanda24-q4_k+emb:q8_0")
    }

    @Test func unknownNamesListTheKnownOnes() {
        for name in [
            "q4", "iq4_nl", "q4_0+emb", "q4_0+out:q4_0", "wanda30-q4_0", "", "f16",
            "q4_0+emb:iq2_xs",
        ] {
            #expect(throws: VariantMethodError.unknownMethod(name)) {
                try VariantMethod(parsing: name)
            }
        }
        let message = VariantMethodError.unknownMethod("q4").description
        #expect(message.contains("unknown variant method 'q4'"))
        #expect(
            message.contains(
                "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q3_k, q2_k, wanda50-q4_0, wanda24-q4_0"
            ))
    }

    @Test func codableAsItsName() throws {
        let method = try VariantMethod(parsing: "q3_k+emb:q4_0")
        let json = try JSONEncoder().encode([method])
        #expect(String(decoding: json, as: UTF8.self) == #"["q3_k+emb:q4_0"]"#)
        #expect(try JSONDecoder().decode([VariantMethod].self, from: json) == [method])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([VariantMethod].self, from: Data(#"["q9_9"]"#.utf8))
        }
    }

    /// llama-quant.cpp's fallbacks for rows that are not whole K blocks, with Q4_0 standing
    /// in for IQ4_NL.
    @Test func kQuantFallbacksFollowLlamaCpp() {
        let expected: [(GGMLType, GGMLType)] = [
            (.q4_K, .q5_0), (.q5_K, .q5_1), (.q6_K, .q8_0), (.q3_K, .q4_0), (.q2_K, .q4_0),
        ]
        for (wanted, used) in expected {
            #expect(BlockTypeFallback.storedType(wanted: wanted, rowLength: 576) == used)
            #expect(BlockTypeFallback.storedType(wanted: wanted, rowLength: 1536) == wanted)
        }
        for type in [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1] {
            #expect(BlockTypeFallback.storedType(wanted: type, rowLength: 576) == type)
            #expect(BlockTypeFallback.storedType(wanted: type, rowLength: 40) == nil)
        }
        #expect(BlockTypeFallback.storedType(wanted: .q4_K, rowLength: 40) == nil)
    }
}
