/// A context-free grammar over bytes, in the shape llama.cpp's GBNF grammars take once
/// parsed: rules, each a list of alternatives, each a sequence of byte sets and references
/// to rules. Output constraints (JSON, JSON schemas) are compiled to one and matched a byte
/// at a time by `GrammarMatcher`. Grammars must not be left-recursive (ours are generated,
/// never written by users).
public struct Grammar: Sendable {
    /// One symbol of an alternative. Alternatives are stored end to end in `elements`, each
    /// followed by `.end`, so a parse position is a single index.
    enum Element: Sendable, Equatable {
        case bytes(ByteSet)
        case rule(Int32)
        case end
    }

    let elements: [Element]
    /// For each rule, where each of its alternatives starts in `elements`.
    let alternatives: [[Int32]]
    let root: Int32

    public var ruleCount: Int { alternatives.count }
    public var elementCount: Int { elements.count }
}

/// A grammar written as nested expressions, the way a converter thinks of it; the builder
/// lowers it to rules (choices and repetitions become auxiliary rules).
public indirect enum GrammarExpression: Sendable {
    case bytes(ByteSet)
    case sequence([GrammarExpression])
    case choice([GrammarExpression])
    case rule(Int)
    /// `item` at least `min` and at most `max` times (nil: no limit).
    case repetition(GrammarExpression, min: Int, max: Int?)

    public static let empty = GrammarExpression.sequence([])

    public static func literal(_ text: String) -> GrammarExpression {
        .sequence(text.utf8.map { .bytes(ByteSet($0...$0)) })
    }

    public static func optional(_ item: GrammarExpression) -> GrammarExpression {
        .repetition(item, min: 0, max: 1)
    }

    public static func zeroOrMore(_ item: GrammarExpression) -> GrammarExpression {
        .repetition(item, min: 0, max: nil)
    }
}

public enum GrammarError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case undefinedRule(Int)

    public var description: String {
        switch self {
        case .tooLarge(let limit):
            "the constraint needs a grammar of more than \(limit) symbols; make the schema smaller (fewer or smaller bounded repetitions)"
        case .undefinedRule(let id): "grammar rule \(id) is referenced but never defined"
        }
    }
}

/// Collects rules; `declare` then `define` allows recursion (a JSON value contains values).
public struct GrammarBuilder: Sendable {
    typealias Alternative = [Grammar.Element]
    private var rules: [[Alternative]?] = []
    private var symbolCount = 0
    /// Bounds the work one request can cause (a schema with `maxLength: 1000000`).
    public let symbolLimit: Int

    public init(symbolLimit: Int = 200_000) {
        self.symbolLimit = symbolLimit
    }

    public mutating func declare() -> Int {
        rules.append(nil)
        return rules.count - 1
    }

    public mutating func define(_ id: Int, _ expression: GrammarExpression) throws(GrammarError) {
        rules[id] = try alternatives(of: expression)
    }

    /// A new rule for `expression`.
    public mutating func rule(_ expression: GrammarExpression) throws(GrammarError) -> Int {
        let id = declare()
        try define(id, expression)
        return id
    }

    public func build(root: Int) throws(GrammarError) -> Grammar {
        var elements: [Grammar.Element] = []
        var starts: [[Int32]] = []
        for (id, alternatives) in rules.enumerated() {
            guard let alternatives else { throw .undefinedRule(id) }
            starts.append(
                alternatives.map { alternative in
                    let start = Int32(elements.count)
                    elements += alternative
                    elements.append(.end)
                    return start
                })
        }
        return Grammar(elements: elements, alternatives: starts, root: Int32(root))
    }

    private mutating func alternatives(of expression: GrammarExpression) throws(GrammarError)
        -> [Alternative]
    {
        if case .choice(let options) = expression {
            var result: [Alternative] = []
            for option in options { result += try alternatives(of: option) }
            return result
        }
        return [try sequence(of: expression)]
    }

    private mutating func sequence(of expression: GrammarExpression) throws(GrammarError)
        -> Alternative
    {
        let result: Alternative
        switch expression {
        case .bytes(let set): result = [.bytes(set)]
        case .rule(let id): result = [.rule(Int32(id))]
        case .sequence(let items):
            var elements: Alternative = []
            for item in items { elements += try sequence(of: item) }
            return elements
        case .choice: result = [.rule(Int32(try rule(expression)))]
        case .repetition(let item, let min, let max):
            result = try repetition(item, min: min, max: max)
        }
        symbolCount += result.count
        guard symbolCount <= symbolLimit else { throw .tooLarge(limit: symbolLimit) }
        return result
    }

    /// `min` copies, then either a right-recursive star rule (S ::= item S | ε) or a chain of
    /// `max - min` optional copies (O_k ::= item O_k-1 | ε). Right recursion keeps the
    /// matcher's stacks flat: the recursive reference is in tail position.
    private mutating func repetition(_ item: GrammarExpression, min: Int, max: Int?)
        throws(GrammarError) -> Alternative
    {
        let once = try sequence(of: item)
        var result: Alternative = []
        for _ in 0..<min {
            result += once
            guard result.count <= symbolLimit else { throw .tooLarge(limit: symbolLimit) }
        }
        if let max {
            guard max > min else { return result }
            var tail: Int? = nil
            for _ in 0..<(max - min) {
                let id = declare()
                rules[id] = [once + (tail.map { [.rule(Int32($0))] } ?? []), []]
                symbolCount += once.count + 1
                guard symbolCount <= symbolLimit else { throw .tooLarge(limit: symbolLimit) }
                tail = id
            }
            return result + [.rule(Int32(tail!))]
        }
        let star = declare()
        rules[star] = [once + [.rule(Int32(star))], []]
        return result + [.rule(Int32(star))]
    }
}
