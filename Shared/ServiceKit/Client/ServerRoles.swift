/// Which role serves each gRPC service: what a client expects to find in the certificate of
/// the server it calls (`ServerRoleCheckInterceptor`), the counterpart of `RolePolicy`'s
/// table of who may call what. A service missing here is refused, so a new service stays
/// closed on the client side too until someone says who serves it.
public enum ServerRoles {
    static let table: [String: ServiceRole] = [
        "tessera.v1.Scheduler": .scheduler,
        // The enrollment listener is the scheduler's (it holds the CA key).
        "tessera.v1.Enrollment": .scheduler,
        "tessera.v1.CacheManager": .cacheManager,
        "tessera.v1.InferenceWorker": .worker,
        "tessera.v1.Gateway": .gateway,
        "tessera.v1.Verifier": .verifier,
    ]

    /// Served by every Tessera process, so any cluster certificate will do.
    static let anyServer: Set<String> = ["grpc.health.v1.Health"]

    /// What a client calling `service` (`package.Service`) must find on the other end.
    public enum Expectation: Equatable, Sendable {
        case role(ServiceRole)
        case anyRole
        case unknownService
    }

    public static func expectation(for service: String) -> Expectation {
        if let role = table[service] { return .role(role) }
        return anyServer.contains(service) ? .anyRole : .unknownService
    }
}
