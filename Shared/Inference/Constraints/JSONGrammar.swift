/// The JSON rules (RFC 8259) that output constraints are built from, defined once in a
/// builder. As in llama.cpp's JSON grammars, whitespace between tokens is limited (one
/// space, or a newline and up to 20 spaces or tabs of indentation) so a model cannot fill
/// its budget with blank space, integers have at most 16 digits, fractions at most 16 and
/// exponents 2 (every number fits a double), and strings must be valid UTF-8 with no lone
/// surrogate escapes.
struct JSONGrammar {
    /// Optional whitespace between tokens.
    let space: Int
    /// One character inside a string (an escape, or a UTF-8 sequence other than `"`, `\`
    /// and control characters).
    let character: Int
    let string: Int
    let integer: Int
    let number: Int
    let boolean: Int
    let null: Int
    /// Any JSON value, and any object and array (of any values).
    let value: Int
    let object: Int
    let array: Int

    init(_ builder: inout GrammarBuilder) throws(GrammarError) {
        let digit = GrammarExpression.bytes(ByteSet(UInt8(ascii: "0")...UInt8(ascii: "9")))
        space = try builder.rule(
            .choice([
                .empty, .literal(" "),
                .sequence([
                    .literal("\n"),
                    .repetition(.bytes(ByteSet(characters: " \t")), min: 0, max: 20),
                ]),
            ]))
        let continuation = GrammarExpression.bytes(ByteSet(0x80...0xBF))
        let hex = GrammarExpression.bytes(ByteSet(characters: "0123456789abcdefABCDEF"))
        let d = ByteSet(characters: "dD")
        let notD = ByteSet(characters: "0123456789abcefABCEF")
        character = try builder.rule(
            .choice([
                .bytes(ByteSet(0x20...0x21, 0x23...0x5B, 0x5D...0x7F)),
                // UTF-8 as RFC 3629 allows it: no overlong forms, no surrogates, ≤ U+10FFFF.
                .sequence([.bytes(ByteSet(0xC2...0xDF)), continuation]),
                .sequence([
                    .bytes(ByteSet(0xE0...0xE0)), .bytes(ByteSet(0xA0...0xBF)), continuation,
                ]),
                .sequence([.bytes(ByteSet(0xE1...0xEC, 0xEE...0xEF)), continuation, continuation]),
                .sequence([
                    .bytes(ByteSet(0xED...0xED)), .bytes(ByteSet(0x80...0x9F)), continuation,
                ]),
                .sequence([
                    .bytes(ByteSet(0xF0...0xF0)), .bytes(ByteSet(0x90...0xBF)), continuation,
                    continuation,
                ]),
                .sequence([.bytes(ByteSet(0xF1...0xF3)), continuation, continuation, continuation]),
                .sequence([
                    .bytes(ByteSet(0xF4...0xF4)), .bytes(ByteSet(0x80...0x8F)), continuation,
                    continuation,
                ]),
                .sequence([
                    .literal("\\"),
                    .choice([
                        .bytes(ByteSet(characters: "\"\\/bfnrt")),
                        // \u escapes of whole characters: no lone surrogates, which many
                        // JSON parsers (Foundation's among them) refuse.
                        .sequence([.literal("u"), .bytes(notD), hex, hex, hex]),
                        .sequence([
                            .literal("u"), .bytes(d), .bytes(ByteSet(characters: "01234567")), hex,
                            hex,
                        ]),
                        .sequence([
                            .literal("u"), .bytes(d), .bytes(ByteSet(characters: "89abAB")), hex,
                            hex,
                            .literal("\\u"), .bytes(d), .bytes(ByteSet(characters: "cdefCDEF")),
                            hex, hex,
                        ]),
                    ]),
                ]),
            ]))
        string = try builder.rule(Self.quoted(.zeroOrMore(.rule(character))))
        integer = try builder.rule(
            .sequence([
                .optional(.literal("-")),
                .choice([
                    .literal("0"),
                    .sequence([
                        .bytes(ByteSet(UInt8(ascii: "1")...UInt8(ascii: "9"))),
                        .repetition(digit, min: 0, max: 15),
                    ]),
                ]),
            ]))
        number = try builder.rule(
            .sequence([
                .rule(integer),
                .optional(.sequence([.literal("."), .repetition(digit, min: 1, max: 16)])),
                .optional(
                    .sequence([
                        .bytes(ByteSet(characters: "eE")),
                        .optional(.bytes(ByteSet(characters: "+-"))),
                        .repetition(digit, min: 1, max: 2),
                    ])),
            ]))
        boolean = try builder.rule(.choice([.literal("true"), .literal("false")]))
        null = try builder.rule(.literal("null"))

        value = builder.declare()
        let member = GrammarExpression.sequence([
            .rule(string), .rule(space), .literal(":"), .rule(space), .rule(value),
        ])
        object = try builder.rule(Self.delimited("{", member, "}", space: space))
        array = try builder.rule(Self.delimited("[", .rule(value), "]", space: space))
        try builder.define(
            value,
            .choice([
                .rule(object), .rule(array), .rule(string), .rule(number), .rule(boolean),
                .rule(null),
            ]))
    }

    static func quoted(_ body: GrammarExpression) -> GrammarExpression {
        .sequence([.literal("\""), body, .literal("\"")])
    }

    /// `open` items separated by commas `close`, with optional whitespace around each item;
    /// at least `min` and at most `max` items.
    static func delimited(
        _ open: String, _ item: GrammarExpression, _ close: String, space: Int, min: Int = 0,
        max: Int? = nil
    ) -> GrammarExpression {
        let spaced = GrammarExpression.sequence([item, .rule(space)])
        let next = GrammarExpression.sequence([.literal(","), .rule(space), spaced])
        let items: GrammarExpression
        if max == 0 {
            items = .empty
        } else {
            let rest = GrammarExpression.repetition(
                next, min: Swift.max(min - 1, 0), max: max.map { $0 - 1 })
            let some = GrammarExpression.sequence([spaced, rest])
            items = min > 0 ? some : .optional(some)
        }
        return .sequence([.literal(open), .rule(space), items, .literal(close)])
    }
}
