import GRPCCore
import TesseraProto

/// Asks a server's `grpc.health.v1.Health` whether it is SERVING.
public enum HealthProbe {
    public static func isServing(_ address: ListenAddress, service: String = "") async -> Bool {
        do {
            return try await ServiceClient.with(address) { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                let response = try await health.check(
                    .with { $0.service = service }, options: .timeout(.seconds(2)))
                return response.status == .serving
            }
        } catch {
            return false
        }
    }
}

extension CallOptions {
    public static func timeout(_ duration: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = duration
        return options
    }
}
