/// The id that ties one request's log lines together across the gateway and the workers
/// (logfmt key `request_id`). Apps may bring their own (HTTP header `x-request-id`, gRPC
/// `request_id`); services pass it on as `x-request-id` metadata on the Forward calls.
public enum RequestID {
    public static let header = "x-request-id"
    public static let logKey = "request_id"
    public static let maximumLength = 128

    /// The caller's id when it is usable (1 to 128 printable ASCII characters, no spaces),
    /// else a new one.
    public static func accept(_ given: String?) -> String {
        guard let given, !given.isEmpty, given.utf8.count <= maximumLength,
            given.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else { return make() }
        return given
    }

    /// A new id: `req-` and 16 hexadecimal digits.
    public static func make() -> String { RandomID.make(prefix: "req-", digits: 16) }
}
