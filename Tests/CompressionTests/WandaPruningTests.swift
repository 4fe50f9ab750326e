import Inference
import ModelCompression
import Testing

/// Wanda's row rule on matrices small enough to check by hand.
struct WandaPruningTests {
    // Scores |W|·‖X‖ with norms (1, 2, 1, 4, 1, 1, 3, 1):
    //   row 0:  4  2  0.5  4  |  1  3  1.5  0.1
    //   row 1:  1  1  1    8  |  2  2  3    0.5
    static let weights: [Float] = [
        4, -1, 0.5, 1, -1, 3, 0.5, 0.1,
        1, 0.5, -1, -2, 2, 2, -1, 0.5,
    ]
    static let norms: [Float] = [1, 2, 1, 4, 1, 1, 3, 1]

    @Test func halfOfEachRowGoesByScoreNotByMagnitude() throws {
        var values = Self.weights
        try WandaPruning.prune(
            &values, rows: 2, columns: 8, norms: Self.norms, pattern: .unstructured(fraction: 0.5))
        // Row 0 keeps the scores 4, 4, 3 and 2 (columns 0, 3, 5, 1): column 1 (|w| = 1) stays,
        // column 4 (|w| = 1 too, norm 1) goes. Row 1 removes 0.5 (column 7) and the three
        // tied 1s (columns 0, 1, 2), keeping 8, 3, 2, 2 (columns 3, 6, 4, 5).
        #expect(values == [4, -1, 0, 1, 0, 3, 0, 0, 0, 0, 0, -2, 2, 2, -1, 0])
    }

    @Test func twoOfEveryFourKeepsTheTwoHighestScores() throws {
        var values = Self.weights
        try WandaPruning.prune(&values, rows: 2, columns: 8, norms: Self.norms, pattern: .twoOfFour)
        // Row 0: groups (4 2 0.5 4) → columns 0 and 3 (tie at 4 keeps both); (1 3 1.5 0.1) → 5, 6.
        // Row 1: (1 1 1 8) → 3, and of the tied 1s the highest column, 2; (2 2 3 0.5) → 6, and
        // of the tied 2s the higher column, 5.
        #expect(values == [4, 0, 0, 1, 0, 3, 0.5, 0, 0, 0, -1, -2, 0, 2, -1, 0])
        for group in stride(from: 0, to: values.count, by: 4) {
            #expect(values[group..<(group + 4)].filter { $0 == 0 }.count >= 2)
        }
    }

    @Test func refusesMismatchedShapesAndFractions() {
        var values: [Float] = [1, 2, 3, 4, 5, 6]
        #expect(throws: WandaError.self) {
            try WandaPruning.prune(
                &values, rows: 2, columns: 3, norms: [1, 1], pattern: .unstructured(fraction: 0.5))
        }
        #expect(throws: WandaError.self) {
            try WandaPruning.prune(
                &values, rows: 2, columns: 3, norms: [1, 1, 1], pattern: .twoOfFour)
        }
        #expect(throws: WandaError.badFraction(1.5)) {
            try WandaPruning.prune(
                &values, rows: 2, columns: 3, norms: [1, 1, 1],
                pattern: .unstructured(fraction: 1.5))
        }
    }

    @Test func transformPrunesBlockWeightsOnlyAndNeedsTheirNorms() throws {
        var norms = InputNorms()
        norms.setNorms([1, 1, 1, 1], layer: 2, site: .feedForwardDown)
        let transform = Wanda.transform(norms: norms, pattern: .twoOfFour)
        var down: [Float] = [1, 2, 3, 4]
        try transform("blk.2.ffn_down.weight", &down, 1, 4)
        #expect(down == [0, 0, 3, 4])
        var embedding: [Float] = [1, 2, 3, 4]
        try transform("token_embd.weight", &embedding, 1, 4)
        #expect(embedding == [1, 2, 3, 4])
        var query: [Float] = [1, 2, 3, 4]
        #expect(throws: WandaError.missingNorms(tensor: "blk.2.attn_q.weight")) {
            try transform("blk.2.attn_q.weight", &query, 1, 4)
        }
    }
}
