/// Matches bytes against a `Grammar` the way llama.cpp's grammar sampler does: the state is
/// the set of parse stacks still alive, each waiting on a byte set (or empty: the text so far
/// is a complete sentence). Stacks are persistent linked lists, so advancing shares the
/// frames below the top instead of copying them.
public struct GrammarMatcher: Sendable {
    /// One pending position: `position` indexes `Grammar.elements`; `below` is where to go
    /// on when the alternative at `position` ends.
    final class Frame: Sendable {
        let position: Int32
        let below: Frame?

        init(_ position: Int32, below: Frame?) {
            self.position = position
            self.below = below
        }
    }

    /// The live stacks; nil stands for the empty stack (everything matched).
    public struct State: Sendable {
        var stacks: [Frame?]

        /// The text so far is a complete sentence of the grammar.
        public var isComplete: Bool { stacks.contains { $0 == nil } }
        /// No continuation at all: the text so far is not a prefix of any sentence.
        public var isDead: Bool { stacks.isEmpty }
        /// Complete, and nothing may follow.
        public var isFinished: Bool { stacks.allSatisfy { $0 == nil } && !stacks.isEmpty }
    }

    public let grammar: Grammar
    /// Expansion deeper than this is cut: only a grammar that repeats an item that can be
    /// empty gets there, and cutting keeps the matcher from looping on it.
    private let expansionLimit = 512

    public init(grammar: Grammar) {
        self.grammar = grammar
    }

    public var initialState: State {
        var stacks: [Frame?] = []
        for start in grammar.alternatives[Int(grammar.root)] {
            expand(Frame(start, below: nil), into: &stacks, depth: 0)
        }
        return State(stacks: stacks)
    }

    /// The state after `byte`; dead when no stack takes it.
    public func advance(_ state: State, byte: UInt8) -> State {
        var next: [Frame?] = []
        for case let frame? in state.stacks {
            guard case .bytes(let set) = grammar.elements[Int(frame.position)], set.contains(byte)
            else { continue }
            expand(Frame(frame.position + 1, below: frame.below), into: &next, depth: 0)
        }
        return State(stacks: next)
    }

    public func advance(_ state: State, bytes: some Sequence<UInt8>) -> State {
        var state = state
        for byte in bytes {
            state = advance(state, byte: byte)
            if state.isDead { break }
        }
        return state
    }

    /// Whether `bytes` can follow the text matched so far (not necessarily completing it).
    public func accepts(_ bytes: [UInt8], from state: State) -> Bool {
        !advance(state, bytes: bytes).isDead
    }

    /// Brings `frame` to positions that wait on a byte set (or to the empty stack), and adds
    /// each result once.
    private func expand(_ frame: Frame?, into stacks: inout [Frame?], depth: Int) {
        guard depth < expansionLimit else { return }
        guard let frame else {
            if !stacks.contains(where: { $0 == nil }) { stacks.append(nil) }
            return
        }
        switch grammar.elements[Int(frame.position)] {
        case .bytes:
            if !stacks.contains(where: { Self.same($0, frame) }) { stacks.append(frame) }
        case .end:
            expand(frame.below, into: &stacks, depth: depth + 1)
        case .rule(let rule):
            // A reference in tail position needs no frame to come back to.
            let next = frame.position + 1
            let continuation =
                grammar.elements[Int(next)] == .end ? frame.below : Frame(next, below: frame.below)
            for start in grammar.alternatives[Int(rule)] {
                expand(Frame(start, below: continuation), into: &stacks, depth: depth + 1)
            }
        }
    }

    private static func same(_ a: Frame?, _ b: Frame?) -> Bool {
        var a = a
        var b = b
        while true {
            guard let left = a, let right = b else { return a == nil && b == nil }
            if left === right { return true }
            guard left.position == right.position else { return false }
            a = left.below
            b = right.below
        }
    }
}
