import Logging
import ServiceKit

public struct VerifierConfiguration: Sendable {
    public var grpcAddress = ListenAddress(host: "127.0.0.1", port: 7403)
    public var httpAddress: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9403)

    public init() {}
}

/// Builds the verifier. It has nothing to load yet, so it reports SERVING once listening.
public func buildVerifier(_ configuration: VerifierConfiguration, logger: Logger)
    -> ServiceApplication
{
    ServiceApplication(
        name: "verifier", grpcAddress: configuration.grpcAddress,
        httpAddress: configuration.httpAddress,
        logger: logger, rpcServices: [VerifierService()])
}
