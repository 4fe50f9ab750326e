import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// A second gRPC listener beside a service's own, for machines that have no certificate yet:
/// server-side TLS only (the server presents its cluster certificate; clients present none)
/// and nothing on it but the enrollment service, so the main listener keeps refusing every
/// handshake without a client certificate. Small message and stream limits
/// (`MessageLimits.enrollment`), since anyone may connect.
public struct EnrollmentListener: Service {
    public let address: ListenAddress
    let services: [any RegistrableRPCService]
    let material: TLSMaterial
    let logger: Logger
    /// The address actually bound (port 0 picks one).
    public let bound: OneShot<ListenAddress>

    /// Nil (with a configuration error) when the process runs without TLS: enrolling over
    /// plaintext would hand the token to any observer.
    public init(
        address: ListenAddress, security: ClusterSecurity, logger: Logger,
        bound: OneShot<ListenAddress> = OneShot(),
        services: () throws -> [any RegistrableRPCService]
    ) throws {
        self.bound = bound
        guard case .mutualTLS(let material) = security else {
            throw ServiceError.configuration(
                "enrollment needs TLS (--tls-dir with the cluster CA); it cannot run --insecure")
        }
        self.address = address
        self.services = try services()
        self.material = material
        self.logger = logger
    }

    public func run() async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: address.host, port: address.port),
            transportSecurity: .tls(
                certificateChain: [material.certificate], privateKey: material.key),
            config: ClusterSecurity.mutualTLS(material).serverConfig(MessageLimits.enrollment))
        let server = GRPCServer(
            transport: MessageCapTransport(
                base: transport, maxMessageBytes: MessageLimits.enrollment.maxReceiveBytes),
            services: services)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await withGracefulShutdownHandler {
                    try await server.serve()
                } onGracefulShutdown: {
                    server.beginGracefulShutdown()
                }
            }
            group.addTask {
                guard let port = try? await transport.listeningAddress.ipv4?.port else { return }
                let boundAddress = ListenAddress(host: address.host, port: port)
                bound.set(boundAddress)
                logger.info("enrollment listening", metadata: ["address": "\(boundAddress)"])
            }
        }
    }
}
