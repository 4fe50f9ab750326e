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
    /// JSON or uses what the compiler does not support, saying where.
    public func grammar() throws(ConstraintError) -> Grammar? {
        switch self {
        case .text: return nil
        case .jsonObject: return JSONSchemaGrammar.anyObject()
        case .jsonSchema(let text):
            let schema: OrderedJSON
            do {
                schema = try OrderedJSON(parsing: text)
            } catch {
                throw ConstraintError(path: "#", reason: "the schema is not JSON: \(error)")
            }
            return try JSONSchemaGrammar.compile(schema)
        }
    }
}
