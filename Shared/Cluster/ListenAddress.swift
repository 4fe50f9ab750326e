/// A `host:port` pair: where a service listens, or where a peer is reached. Addresses are
/// parsed into this type once, where they enter the system (flags, registrations, the
/// wire's conversions); the rest of the code never splits strings on ':'.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (IPv4 or a name); the port must be 0...65535.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"),
            let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// A peer's address: like `init?(parsing:)`, but port 0 (listen anywhere) cannot be dialled.
    public init?(peer text: String) {
        guard let address = ListenAddress(parsing: text), address.port > 0 else { return nil }
        self = address
    }

    public var description: String { "\(host):\(port)" }
}
