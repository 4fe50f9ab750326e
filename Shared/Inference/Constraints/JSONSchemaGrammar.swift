import Foundation

/// Compiles a JSON schema to a grammar whose every sentence is a JSON text valid against it,
/// so constrained decoding can only write conforming output. Like OpenAI's structured
/// outputs and llama.cpp's converter, it covers the common subset and refuses the rest by
/// name rather than ignoring it:
/// - `type` (one or a list), `enum`, `const`, `anyOf`, `allOf` with one member, `$ref` to
///   `#`, `#/$defs/…` or `#/definitions/…` (recursion allowed), `nullable`;
/// - objects: `properties` written in the schema's order, the `required` ones always and
///   the others optionally; no other members are generated, whatever
///   `additionalProperties` allows (a subset of the valid documents, never an invalid one);
/// - arrays: `items`, `minItems`, `maxItems`; strings: `minLength`, `maxLength`;
/// - annotations (`title`, `description`, `default`, `examples`, …) are read and ignored.
/// Refused: `pattern`, `format`, numeric bounds, `oneOf`, `not`, `prefixItems` and any
/// keyword not listed.
public enum JSONSchemaGrammar {
    /// Any JSON object (OpenAI's `json_object` mode).
    public static func anyObject() -> Grammar {
        var builder = GrammarBuilder()
        do {
            let json = try JSONGrammar(&builder)
            return try builder.build(root: json.object)
        } catch {
            preconditionFailure("the fixed JSON grammar is well formed: \(error)")
        }
    }

    public static func compile(_ schema: OrderedJSON) throws(ConstraintError) -> Grammar {
        do {
            var builder = GrammarBuilder()
            let json = try JSONGrammar(&builder)
            var compiler = SchemaCompiler(json: json, document: schema)
            let root = try compiler.expression(schema, at: "#", depth: 0, builder: &builder)
            let rootRule = try builder.rule(root)
            return try builder.build(root: rootRule)
        } catch let error as ConstraintError {
            throw error
        } catch let error as GrammarError {
            throw ConstraintError(path: "#", reason: error.description)
        } catch {
            throw ConstraintError(path: "#", reason: "\(error)")
        }
    }
}

/// What is wrong with a schema, and where (a JSON pointer into it).
public struct ConstraintError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "at \(path): \(reason)" }
}

private struct SchemaCompiler {
    let json: JSONGrammar
    let document: OrderedJSON
    /// `$ref` targets already given a rule (also what makes recursive schemas finite).
    var references: [String: Int] = [:]

    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment",
        "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
    ]
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems",
        "maxItems", "minLength", "maxLength", "enum", "const", "anyOf", "allOf", "$ref",
        "nullable",
    ]
    static let maxDepth = 64
    static let maxBound = 10_000

    init(json: JSONGrammar, document: OrderedJSON) {
        self.json = json
        self.document = document
    }

    mutating func expression(
        _ schema: OrderedJSON, at path: String, depth: Int, builder: inout GrammarBuilder
    ) throws -> GrammarExpression {
        func fail(_ reason: String) -> ConstraintError {
            ConstraintError(path: path, reason: reason)
        }
        guard depth <= Self.maxDepth else {
            throw fail("schemas nested deeper than \(Self.maxDepth) levels are not supported")
        }
        if case .bool(let allowed) = schema {
            guard allowed else { throw fail("the schema false allows no value") }
            return .rule(json.value)
        }
        guard case .object(let members) = schema else {
            throw fail("a schema must be an object or a boolean, not \(schema.kindName)")
        }
        for member in members
        where !Self.keywords.contains(member.key) && !Self.annotations.contains(member.key) {
            throw fail("the keyword \"\(member.key)\" is not supported")
        }
        if let reference = schema["$ref"] {
            guard let target = reference.stringValue else { throw fail("$ref must be a string") }
            return .rule(try rule(forReference: target, at: path, depth: depth, builder: &builder))
        }
        if let constant = schema["const"] { return .literal(constant.serialized) }
        if let values = schema["enum"] {
            guard case .array(let items) = values, !items.isEmpty else {
                throw fail("enum must be a non-empty array")
            }
            return .choice(items.map { .literal($0.serialized) })
        }
        if let options = schema["anyOf"] {
            guard case .array(let items) = options, !items.isEmpty else {
                throw fail("anyOf must be a non-empty array")
            }
            var choices: [GrammarExpression] = []
            for (index, item) in items.enumerated() {
                choices.append(
                    try expression(
                        item, at: "\(path)/anyOf/\(index)", depth: depth + 1, builder: &builder))
            }
            return .choice(choices)
        }
        if let all = schema["allOf"] {
            guard case .array(let items) = all, items.count == 1 else {
                throw fail("allOf is supported with exactly one schema")
            }
            return try expression(
                items[0], at: "\(path)/allOf/0", depth: depth + 1, builder: &builder)
        }
        var types = try Self.types(of: schema, at: path)
        if case .bool(true) = schema["nullable"], !types.contains("null") { types.append("null") }
        var choices: [GrammarExpression] = []
        for type in types {
            choices.append(try typed(type, schema, at: path, depth: depth, builder: &builder))
        }
        return choices.count == 1 ? choices[0] : .choice(choices)
    }

    /// The `type` list, or the type the other keywords imply, or every type.
    private static func types(of schema: OrderedJSON, at path: String) throws -> [String] {
        switch schema["type"] {
        case .string(let type)?: return [type]
        case .array(let items)?:
            let names = items.compactMap(\.stringValue)
            guard names.count == items.count, !names.isEmpty else {
                throw ConstraintError(
                    path: path, reason: "type must be a string or a non-empty array of strings")
            }
            return names
        case nil:
            if schema["properties"] != nil || schema["required"] != nil { return ["object"] }
            if schema["items"] != nil || schema["minItems"] != nil || schema["maxItems"] != nil {
                return ["array"]
            }
            if schema["minLength"] != nil || schema["maxLength"] != nil { return ["string"] }
            return ["any"]
        case let other?:
            throw ConstraintError(
                path: path, reason: "type must be a string or an array, not \(other.kindName)")
        }
    }

    private mutating func typed(
        _ type: String, _ schema: OrderedJSON, at path: String, depth: Int,
        builder: inout GrammarBuilder
    ) throws -> GrammarExpression {
        switch type {
        case "any": return .rule(json.value)
        case "null": return .rule(json.null)
        case "boolean": return .rule(json.boolean)
        case "integer": return .rule(json.integer)
        case "number": return .rule(json.number)
        case "string":
            let (min, max) = try bounds(schema, "minLength", "maxLength", at: path)
            if min == 0 && max == nil { return .rule(json.string) }
            return JSONGrammar.quoted(.repetition(.rule(json.character), min: min, max: max))
        case "array":
            let (min, max) = try bounds(schema, "minItems", "maxItems", at: path)
            let item: GrammarExpression =
                if let items = schema["items"] {
                    .rule(
                        try builder.rule(
                            try expression(
                                items, at: "\(path)/items", depth: depth + 1, builder: &builder)))
                } else {
                    .rule(json.value)
                }
            return JSONGrammar.delimited("[", item, "]", space: json.space, min: min, max: max)
        case "object":
            return try object(schema, at: path, depth: depth, builder: &builder)
        default:
            throw ConstraintError(path: path, reason: "unknown type \"\(type)\"")
        }
    }

    /// `{` the listed properties in order, required ones always, others optionally `}`.
    /// T(i) is "properties i… with none written yet", U(i) "properties i… after a comma".
    private mutating func object(
        _ schema: OrderedJSON, at path: String, depth: Int, builder: inout GrammarBuilder
    ) throws -> GrammarExpression {
        var properties: [(key: String, value: OrderedJSON)] = []
        switch schema["properties"] {
        case nil: break
        case .object(let members)?: properties = members
        case let other?:
            throw ConstraintError(
                path: path, reason: "properties must be an object, not \(other.kindName)")
        }
        var required: Set<String> = []
        if let list = schema["required"] {
            guard case .array(let items) = list, items.allSatisfy({ $0.stringValue != nil }) else {
                throw ConstraintError(path: path, reason: "required must be an array of strings")
            }
            required = Set(items.compactMap(\.stringValue))
            if let missing = items.compactMap(\.stringValue).first(where: { name in
                !properties.contains { $0.key == name }
            }) {
                throw ConstraintError(
                    path: path,
                    reason:
                        "required names \"\(missing)\", which is not in properties (only listed properties are generated)"
                )
            }
        }
        if properties.isEmpty {
            if case .bool(false) = schema["additionalProperties"] {
                return .sequence([.literal("{"), .rule(json.space), .literal("}")])
            }
            return .rule(json.object)
        }
        var members: [Int] = []
        for property in properties {
            let value = try expression(
                property.value, at: "\(path)/properties/\(Self.escape(property.key))",
                depth: depth + 1, builder: &builder)
            members.append(
                try builder.rule(
                    .sequence([
                        .literal(OrderedJSON.quoted(property.key)), .rule(json.space),
                        .literal(":"),
                        .rule(json.space), value, .rule(json.space),
                    ])))
        }
        var first = GrammarExpression.empty  // T(n)
        var later = GrammarExpression.empty  // U(n)
        for index in properties.indices.reversed() {
            let member = GrammarExpression.rule(members[index])
            let afterComma = GrammarExpression.sequence([
                .literal(","), .rule(json.space), member, later,
            ])
            let asFirst = GrammarExpression.sequence([member, later])
            if required.contains(properties[index].key) {
                later = .rule(try builder.rule(afterComma))
                first = .rule(try builder.rule(asFirst))
            } else {
                let nextFirst = first
                later = .rule(try builder.rule(.choice([afterComma, later])))
                first = .rule(try builder.rule(.choice([asFirst, nextFirst])))
            }
        }
        return .sequence([.literal("{"), .rule(json.space), first, .literal("}")])
    }

    private func bounds(_ schema: OrderedJSON, _ minKey: String, _ maxKey: String, at path: String)
        throws -> (Int, Int?)
    {
        func read(_ key: String) throws -> Int? {
            guard let value = schema[key] else { return nil }
            guard let number = value.integerValue, (0...Self.maxBound).contains(number) else {
                throw ConstraintError(
                    path: path, reason: "\(key) must be an integer from 0 to \(Self.maxBound)")
            }
            return number
        }
        let min = try read(minKey) ?? 0
        let max = try read(maxKey)
        if let max, max < min {
            throw ConstraintError(path: path, reason: "\(maxKey) \(max) is below \(minKey) \(min)")
        }
        return (min, max)
    }

    private mutating func rule(
        forReference reference: String, at path: String, depth: Int, builder: inout GrammarBuilder
    ) throws -> Int {
        if let known = references[reference] { return known }
        guard reference == "#" || reference.hasPrefix("#/") else {
            throw ConstraintError(
                path: path,
                reason:
                    "$ref \"\(reference)\" is not supported (only references inside the schema, #/…)"
            )
        }
        var target = document
        for token in reference.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false)
        where reference != "#" {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(
                of: "~0", with: "~")
            if case .array(let items) = target, let index = Int(key), items.indices.contains(index)
            {
                target = items[index]
            } else if let next = target[key] {
                target = next
            } else {
                throw ConstraintError(path: path, reason: "$ref \"\(reference)\" points at nothing")
            }
        }
        let id = builder.declare()
        references[reference] = id
        try builder.define(
            id, try expression(target, at: reference, depth: depth + 1, builder: &builder))
        return id
    }

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
