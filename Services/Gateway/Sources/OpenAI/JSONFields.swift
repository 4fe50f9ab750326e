import Inference

/// Typed access to the fields of a JSON object, throwing `GatewayError.invalidArgument`
/// naming the field when it has the wrong type or range. Absent and null mean "not given".
/// Documents are `OrderedJSON` (parsed once per request; a JSON schema's member order is
/// the order the model writes the properties in); a repeated member name counts once, the
/// last one.
struct JSONFields {
    let fields: [String: OrderedJSON]

    init(_ value: OrderedJSON, context: String = "the request body") throws {
        guard case .object(let members) = value else {
            throw GatewayError.invalid("\(context) must be a JSON object, not \(value.kindName)")
        }
        fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
    }

    func value(_ name: String) -> OrderedJSON? {
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
        guard let number = Self.finite(value) else { throw Self.wrongType(name, "a number", value) }
        if let range, !range.contains(number) {
            throw GatewayError.invalid(
                "\(name) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)) (got \(Self.format(number)))",
                parameter: name)
        }
        return number
    }

    func integer(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let value = value(name) else { return nil }
        guard let integer = Self.exactInteger(value) else {
            throw Self.wrongType(name, "an integer", value)
        }
        guard range.contains(integer) else {
            throw GatewayError.invalid(
                "\(name) must be between \(range.lowerBound) and \(range.upperBound) (got \(integer))",
                parameter: name)
        }
        return integer
    }

    /// A JSON number that is an integer, read exactly: digits as written (through a Double,
    /// 9223372036854775000 would become 9223372036854774784), else a whole number written
    /// another way (`5.0`, `1e3`) that a Double holds exactly.
    static func exactInteger(_ value: OrderedJSON) -> Int64? {
        guard case .number(let text) = value else { return nil }
        if let integer = Int64(text) { return integer }
        guard let number = finite(value), number.rounded() == number else { return nil }
        return Int64(exactly: number)
    }

    /// A JSON number's value, when it is one and fits a Double.
    static func finite(_ value: OrderedJSON) -> Double? {
        guard case .number(let text) = value, let number = Double(text), number.isFinite else {
            return nil
        }
        return number
    }

    static func wrongType(_ name: String, _ expected: String, _ value: OrderedJSON)
        -> GatewayError
    {
        GatewayError.invalid("\(name) must be \(expected), not \(value.kindName)", parameter: name)
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
