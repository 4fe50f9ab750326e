import Foundation
import Testing
import Tokenization

/// Exact agreement with llama.cpp on every case of every reference file.
@Suite struct ReferenceTokenizationTests {
    @Test func smolLMReferenceExists() throws {
        let files = try TokenizationReference.all()
        let smol = try #require(
            files.first { $0.reference.vocab == "smollm2-135m" }, "no smollm2-135m reference file")
        #expect(smol.reference.cases.count >= 60)
    }

    @Test func everyReferenceCaseMatchesLlamaCpp() throws {
        let files = try TokenizationReference.all()
        #expect(!files.isEmpty, "Tests/Reference/tokenization has no reference files")
        var checked = 0
        for (file, reference) in files {
            let tokenizer = try reference.tokenizer()
            var mismatches = 0
            for (index, testCase) in reference.cases.enumerated() {
                let ids = tokenizer.encode(
                    testCase.text, addSpecial: testCase.add_bos, parseSpecial: testCase.special)
                if ids != testCase.ids {
                    mismatches += 1
                    Issue.record(
                        "\(file) case \(index) \(testCase.text.debugDescription.prefix(80)) special=\(testCase.special) add_bos=\(testCase.add_bos)\n expected \(testCase.ids)\n got      \(ids)"
                    )
                }
                checked += 1
            }
            print(
                "tokenization reference \(file): \(reference.cases.count - mismatches)/\(reference.cases.count) cases identical"
            )
        }
        print("tokenization reference: \(checked) cases checked")
    }

    /// llama.cpp's detokenizer output (special tokens rendered) for every reference case.
    @Test func decodingMatchesLlamaCppDetokenize() throws {
        for (file, reference) in try TokenizationReference.all() {
            let tokenizer = try reference.tokenizer()
            for (index, testCase) in reference.cases.enumerated() {
                guard let expected = testCase.detokenized else { continue }
                let decoded = try tokenizer.decode(testCase.ids, renderSpecial: true)
                #expect(
                    decoded == expected,
                    "\(file) case \(index) \(testCase.text.debugDescription.prefix(60))")
            }
        }
    }

    /// Decoding what was encoded gives the text back wherever llama.cpp's decoder does not
    /// rewrite it on purpose (clean-space rules, SentencePiece's prefix space after BOS).
    @Test func referenceTextsRoundTrip() throws {
        for (file, reference) in try TokenizationReference.all()
        where reference.vocab == "smollm2-135m" {
            let tokenizer = try reference.tokenizer()
            for testCase in reference.cases {
                let decoded = try tokenizer.decode(testCase.ids, renderSpecial: testCase.special)
                #expect(
                    decoded == testCase.text,
                    "\(file): \(testCase.text.debugDescription.prefix(60))")
            }
        }
    }
}
