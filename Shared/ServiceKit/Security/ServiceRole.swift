import X509

/// What a certificate holder is allowed to be in the cluster. The role is written into the
/// certificate's subject as its organizational unit (`OU=worker`), the holder's name as its
/// common name, so a server learns both from the TLS handshake and nothing a peer says later.
public enum ServiceRole: String, Sendable, CaseIterable, CustomStringConvertible {
    case gateway
    case scheduler
    case cacheManager = "cache-manager"
    case worker
    case verifier
    /// The `tessera` command line run by whoever operates the cluster (status, model import,
    /// reputations, removing workers).
    case `operator`
    /// An application using the gateway's gRPC API; it may call nothing else.
    case client

    public var description: String { rawValue }

    /// The roles, as a sentence fragment for error messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Who is on the other end of a connection, as its certificate says.
public struct PeerIdentity: Sendable, Equatable {
    public var role: ServiceRole
    public var name: String

    public init(role: ServiceRole, name: String) {
        self.role = role
        self.name = name
    }

    /// The identity a cluster certificate carries, or nil when its subject names no known
    /// role (a certificate from this CA made some other way is treated as unknown).
    public init?(certificate: Certificate) {
        var role: ServiceRole?
        var name = ""
        for relativeName in certificate.subject {
            for attribute in relativeName {
                switch attribute.type {
                case .RDNAttributeType.organizationalUnitName:
                    role = String(attribute.value).flatMap { ServiceRole(rawValue: $0) }
                case .RDNAttributeType.commonName:
                    name = String(attribute.value) ?? ""
                default: break
                }
            }
        }
        guard let role else { return nil }
        self.init(role: role, name: name)
    }
}
