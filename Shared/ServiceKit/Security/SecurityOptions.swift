import ArgumentParser

/// The flags every service (and the `tessera` CLI) takes to choose its `ClusterSecurity`.
public struct SecurityOptions: ParsableArguments, Sendable {
    @Option(
        help: ArgumentHelp(
            "Directory holding ca.pem, NAME.pem and NAME.key for mutual TLS (env TESSERA_TLS_DIR).",
            valueName: "dir"))
    public var tlsDir = EnvironmentDefaults.string("TESSERA_TLS_DIR", "")
    @Option(
        help: "Certificate NAME to use from --tls-dir (env TESSERA_TLS_NAME; default: the role).")
    public var tlsName = EnvironmentDefaults.string("TESSERA_TLS_NAME", "")
    @Flag(
        help:
            "Plaintext gRPC with no certificates and no role checks (env TESSERA_INSECURE=1); only for a network you trust."
    )
    public var insecure = false
    @Flag(
        help:
            "Check only that servers' certificates are the cluster's, not that they name the address dialled (env TESSERA_TLS_SKIP_SERVER_NAME_CHECK=1); for peers reached at addresses no certificate names, such as container replicas."
    )
    public var tlsSkipServerNameCheck = false
    @Option(
        help:
            "Close a connection that has not completed its TLS handshake this many seconds after connecting (env TESSERA_TLS_HANDSHAKE_TIMEOUT_S)."
    )
    public var tlsHandshakeTimeoutS = EnvironmentDefaults.double(
        "TESSERA_TLS_HANDSHAKE_TIMEOUT_S", 10)

    public init() {}

    var skipsServerNameCheck: Bool {
        tlsSkipServerNameCheck
            || EnvironmentDefaults.string("TESSERA_TLS_SKIP_SERVER_NAME_CHECK", "") == "1"
    }

    /// Plaintext if asked for (flag or TESSERA_INSECURE=1), else the certificate `tlsName`
    /// (default `defaultName`) from `tlsDir`; neither is a configuration error saying how
    /// to get one.
    public func resolve(defaultName: String) throws -> ClusterSecurity {
        if insecure || EnvironmentDefaults.string("TESSERA_INSECURE", "") == "1" {
            return .insecure
        }
        guard !tlsDir.isEmpty else {
            throw ServiceError.configuration(
                "no TLS certificates: give --tls-dir DIR (env TESSERA_TLS_DIR; make one with "
                    + "`tessera certs init` and `tessera certs issue`), or --insecure for plaintext"
            )
        }
        guard tlsHandshakeTimeoutS > 0, tlsHandshakeTimeoutS <= 3600 else {
            throw ServiceError.configuration(
                "--tls-handshake-timeout-s must be more than 0 and at most 3600 seconds")
        }
        let name = tlsName.isEmpty ? defaultName : tlsName
        do {
            var material = try CertificateDirectory(path: tlsDir).material(for: name)
            material.checksServerNames = !skipsServerNameCheck
            material.handshakeTimeout = .milliseconds(Int64(tlsHandshakeTimeoutS * 1000))
            return .mutualTLS(material)
        } catch {
            throw ServiceError.configuration("TLS certificate '\(name)': \(error)")
        }
    }
}
