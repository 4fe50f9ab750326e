/// A parsed JSON document, so request fields can be checked one by one with messages that
/// name the field and say what was expected (OpenAI fields such as `stop` take several shapes).
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// How the value reads in an error message.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Typed access to the fields of a JSON object, throwing `GatewayError.invalidArgument`
/// naming the field when it has the wrong type or range. Absent and null mean "not given".
struct JSONFields {
    let fields: [String: JSONValue]

    init(_ value: JSONValue, context: String = "the request body") throws {
        guard case .object(let fields) = value else {
            throw GatewayError.invalid("\(context) must be a JSON object, not \(value.kindName)")
        }
        self.fields = fields
    }

    func value(_ name: String) -> JSONValue? {
        guard let value = fields[name], value != .null else { return nil }
        return value
    }

    func string(_ name: String) throws -> String? {
        guard let value = value(name) else { return nil }
        guard case .string(let text) = value else { throw Self.wrongType(name, "a string", value) }
        return text
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = value(name) else { return nil }
        guard case .bool(let flag) = value else { throw Self.wrongType(name, "a boolean", value) }
        return flag
    }

    func number(_ name: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let value = value(name) else { return nil }
        guard case .number(let number) = value, number.isFinite else {
            throw Self.wrongType(name, "a number", value)
        }
        if let range, !range.contains(number) {
            throw GatewayError.invalid(
                "\(name) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)) (got \(Self.format(number)))",
                parameter: name)
        }
        return number
    }

    func integer(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let value = value(name) else { return nil }
        guard case .number(let number) = value, number.isFinite, number.rounded() == number,
            let integer = Int64(exactly: number)
        else { throw Self.wrongType(name, "an integer", value) }
        guard range.contains(integer) else {
            throw GatewayError.invalid(
                "\(name) must be between \(range.lowerBound) and \(range.upperBound) (got \(integer))",
                parameter: name)
        }
        return integer
    }

    static func wrongType(_ name: String, _ expected: String, _ value: JSONValue) -> GatewayError {
        GatewayError.invalid("\(name) must be \(expected), not \(value.kindName)", parameter: name)
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
