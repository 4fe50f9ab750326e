/// Why a join token could not be made, spent or used. The scheduler maps these to gRPC
/// statuses in one place (`EnrollmentError+GRPC`); a joining worker prints them.
public enum EnrollmentError: Error, Equatable, CustomStringConvertible {
    case malformedToken
    /// No token with this id, or the secret does not match (not told apart, so a guess
    /// learns nothing).
    case unknownToken(id: String)
    case tokenUsed(id: String, by: String)
    case tokenExpired(id: String)
    case revoked(name: String)
    /// Another machine already enrolled under this name.
    case nameTaken(name: String)
    case badName(String)
    /// A name the worker asked to be reached at (a subjectAltName) that is not issued, and why.
    case badAlternativeName(String, String)
    case badRequest(String)
    /// The enrollment server's CA is not the one the token names: an impostor or a wrong address.
    case authorityMismatch(expected: String, got: String)
    case noAuthorityKey(String)
    case store(String)

    public var description: String {
        switch self {
        case .malformedToken:
            "not a join token (expected tsj.ID.SECRET.FINGERPRINT, as `tessera certs join-token` prints)"
        case .unknownToken(let id): "join token \(id) is unknown or its secret is wrong"
        case .tokenUsed(let id, let name):
            "join token \(id) was already used (by '\(name)'); make a new one with `tessera certs join-token`"
        case .tokenExpired(let id):
            "join token \(id) has expired; make a new one with `tessera certs join-token`"
        case .revoked(let name):
            "the name '\(name)' is revoked; an operator must remove it from the `revoked` file before it can enroll again"
        case .nameTaken(let name):
            "a certificate named '\(name)' was already issued; choose another --worker-id or a token made with --name"
        case .badName(let name):
            "'\(name)' cannot name a certificate (letters, digits, '-', '_' and '.', at most 64)"
        case .badAlternativeName(let name, let reason):
            "the certificate cannot name '\(name)': \(reason) (--advertise-host and --san give the names a worker asks for)"
        case .badRequest(let reason): "bad enrollment request: \(reason)"
        case .authorityMismatch(let expected, let got):
            "the enrollment server's CA has SHA-256 \(got), but the join token names \(expected): wrong address, or not this cluster's scheduler"
        case .noAuthorityKey(let path):
            "enrollment needs the cluster CA's key (ca.key) in \(path)"
        case .store(let reason): "join token store: \(reason)"
        }
    }
}
