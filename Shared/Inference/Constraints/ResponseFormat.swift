import Synchronization

/// What shape the output must take. `jsonObject` and `jsonSchema` are enforced while
/// sampling (constrained decoding): the last stage only ever picks tokens that keep the text
/// a prefix of a valid document, and end-of-generation only once it is complete.
public enum ResponseFormat: Sendable, Equatable, Codable {
    case text
    /// Any JSON object (OpenAI's `json_object`).
    case jsonObject
    /// A JSON text valid against this schema (its JSON text, members in the order given).
    case jsonSchema(String)

    /// The API's name for the kind (OpenAI's `response_format.type`).
    public var kindName: String {
        switch self {
        case .text: "text"
        case .jsonObject: "json_object"
        case .jsonSchema: "json_schema"
        }
    }

    /// The grammar the output must match; nil for free text. Throws when the schema is not
    /// JSON or uses what the compiler does not support, saying where. Compiled grammars are
    /// kept (`GrammarCache`): validation at the gateway and at every stage, and the last
    /// stage's sessions, would otherwise compile the same schema again and again.
    public func grammar() throws(ConstraintError) -> Grammar? {
        switch self {
        case .text: return nil
        case .jsonObject: return GrammarCache.anyObject
        case .jsonSchema(let text):
            if let known = GrammarCache.shared.grammar(for: text) { return known }
            let schema: OrderedJSON
            do {
                schema = try OrderedJSON(parsing: text)
            } catch {
                throw ConstraintError(path: "#", reason: "the schema is not JSON: \(error)")
            }
            let grammar = try JSONSchemaGrammar.compile(schema)
            GrammarCache.shared.keep(grammar, for: text)
            return grammar
        }
    }
}

/// The grammars of the schemas seen last, by schema text. Small and bounded: a process
/// serves few distinct schemas at a time, and a client sending a new one each time only
/// costs a compile, as without the cache.
final class GrammarCache: Sendable {
    static let shared = GrammarCache()
    static let anyObject = JSONSchemaGrammar.anyObject()
    static let capacity = 32

    private let grammars = Mutex<[String: Grammar]>([:])

    func grammar(for schema: String) -> Grammar? { grammars.withLock { $0[schema] } }

    func keep(_ grammar: Grammar, for schema: String) {
        grammars.withLock { grammars in
            if grammars.count >= Self.capacity { grammars.removeAll() }
            grammars[schema] = grammar
        }
    }
}
