import GRPCNIOTransportHTTP2

/// What one process needs for mutual TLS, as PEM text: the cluster authority it trusts and
/// its own certificate and key.
public struct TLSMaterial: Sendable, Equatable {
    public var authorityPEM: String
    public var certificatePEM: String
    public var keyPEM: String
    /// The revocation list next to the certificates (`RevocationList`); nil: none.
    public var revocationListPath: String?
    /// Whether a client checks that the server's certificate names the address it dialled
    /// (a DNS name or IP address among its alternative names), besides the CA's signature.
    /// Off only for deployments that dial peers by addresses no certificate can name in
    /// advance (`--tls-skip-server-name-check`: compose's and Kubernetes' worker replicas).
    public var checksServerNames = true
    /// How long a server waits for an accepted connection to complete its TLS handshake
    /// before closing it (`--tls-handshake-timeout-s`; `HandshakeDeadlineHandler`).
    public var handshakeTimeout: Duration = .seconds(10)

    public init(
        authorityPEM: String, certificatePEM: String, keyPEM: String,
        revocationListPath: String? = nil
    ) {
        self.authorityPEM = authorityPEM
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        self.revocationListPath = revocationListPath
    }

    var authority: TLSConfig.CertificateSource { .bytes(Array(authorityPEM.utf8), format: .pem) }
    var certificate: TLSConfig.CertificateSource {
        .bytes(Array(certificatePEM.utf8), format: .pem)
    }
    var key: TLSConfig.PrivateKeySource { .bytes(Array(keyPEM.utf8), format: .pem) }
}

/// How a process's gRPC connections are protected: mutual TLS with the cluster's
/// certificates (and role checks on every RPC), or plaintext behind an explicit `--insecure`.
public enum ClusterSecurity: Sendable, Equatable {
    case insecure
    case mutualTLS(TLSMaterial)

    /// Servers present their certificate and require one from every client, signed by the
    /// cluster authority (a missing or foreign certificate fails the handshake). The
    /// client's name is not checked against its address: its role, from the certificate,
    /// is checked per RPC instead (`RoleCheckInterceptor`).
    var server: HTTP2ServerTransport.Posix.TransportSecurity {
        switch self {
        case .insecure: return .plaintext
        case .mutualTLS(let material):
            return .mTLS(certificateChain: [material.certificate], privateKey: material.key) {
                $0.trustRoots = .certificates([material.authority])
                $0.clientCertificateVerification = .noHostnameVerification
            }
        }
    }

    /// Clients present their certificate and verify that the server's was signed by the
    /// cluster authority and names the address dialled (the DNS name, or the IP address
    /// connected to), so a member cannot answer at another member's address. Unless the
    /// material says not to (`checksServerNames`); docs/security.md, "Hostnames".
    var client: HTTP2ClientTransport.Posix.TransportSecurity {
        switch self {
        case .insecure: return .plaintext
        case .mutualTLS(let material):
            return .mTLS(certificateChain: [material.certificate], privateKey: material.key) {
                $0.trustRoots = .certificates([material.authority])
                $0.serverCertificateVerification =
                    material.checksServerNames ? .fullVerification : .noHostnameVerification
            }
        }
    }

    public var isInsecure: Bool { self == .insecure }

    /// The revocation list servers consult, when running mutual TLS with one.
    var revocationList: RevocationList? {
        guard case .mutualTLS(let material) = self, let path = material.revocationListPath
        else { return nil }
        return RevocationList(path: path)
    }
}
