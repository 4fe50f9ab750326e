/// The highest logits of a step, reported with each sampled token.
enum TopLogits {
    /// The `count` largest logits, highest first, ties by lower id; one pass, no full sort.
    static func largest(_ logits: [Float], count: Int) -> [(id: Int32, logit: Float)] {
        guard count > 0 else { return [] }
        var best: [(id: Int32, logit: Float)] = []
        best.reserveCapacity(count + 1)
        for (index, logit) in logits.enumerated() where !logit.isNaN {
            if best.count == count, logit <= best[best.count - 1].logit { continue }
            var slot = best.count
            while slot > 0 && best[slot - 1].logit < logit { slot -= 1 }
            best.insert((Int32(index), logit), at: slot)  // logits are indexed by token id
            if best.count > count { best.removeLast() }
        }
        return best
    }
}
