/// A message from the wire that cannot become a domain value (a missing field, an address
/// that is not host:port, a range that does not fit). Raised by the conversions here; a
/// server that throws it answers INVALID_ARGUMENT naming the field
/// (InvalidMessage+RPCError.swift, kept apart so the conversions build without gRPC, as
/// scripts/fuzz builds them).
public struct InvalidMessage: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault, as the .proto names it (`open.downstream[0].address`).
    public var field: String
    public var reason: String

    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field) \(reason)" }
}
