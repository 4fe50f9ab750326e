import Foundation
import Inference
import TesseraProto

/// `response_format`: `{"type": "text"}`, `{"type": "json_object"}` or
/// `{"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}`.
/// JSON is enforced while sampling (`Shared/Inference/Constraints`), strictly whatever
/// `strict` says; a schema the compiler cannot enforce is a 400 naming what and where (when
/// the request is prepared, by `SamplingParameters.validate()`).
enum OpenAIResponseFormat {
    static func read(_ fields: JSONFields) throws -> Tessera_V1_ResponseFormat? {
        guard let value = fields.value("response_format") else { return nil }
        let format = try JSONFields(value, context: "response_format")
        try refuseUnknown(format, allowed: ["type", "json_schema"], context: "response_format")
        switch try format.string("type") {
        case "text"?: return nil
        case "json_object"?: return Tessera_V1_ResponseFormat(.jsonObject)
        case "json_schema"?:
            guard let inner = format.value("json_schema") else {
                throw GatewayError.invalid(
                    "response_format.json_schema is required when type is \"json_schema\"",
                    parameter: "response_format")
            }
            let schema = try JSONFields(inner, context: "response_format.json_schema")
            try refuseUnknown(
                schema, allowed: ["name", "schema", "strict", "description"],
                context: "response_format.json_schema")
            _ = try schema.string("name")
            _ = try schema.string("description")
            _ = try schema.bool("strict")
            // Written back with its members in the client's order (`OrderedJSON` keeps it);
            // no schema means any JSON value.
            return Tessera_V1_ResponseFormat(
                .jsonSchema(schema.value("schema")?.serialized ?? "{}"))
        case let other:
            throw GatewayError.invalid(
                "response_format.type must be \"text\", \"json_object\" or \"json_schema\""
                    + (other.map { " (got \"\($0)\")" } ?? ""),
                parameter: "response_format")
        }
    }

    private static func refuseUnknown(_ fields: JSONFields, allowed: Set<String>, context: String)
        throws
    {
        if let unknown = fields.fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw GatewayError.invalid(
                "\(context).\(unknown) is not supported", parameter: "response_format")
        }
    }
}
