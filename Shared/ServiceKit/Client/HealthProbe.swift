import GRPCCore
import TesseraProto

/// Asks a server's `grpc.health.v1.Health` whether it is SERVING.
public enum HealthProbe {
    /// The whole probe (connect, call, close) takes at most `timeout`: a stopped or hung
    /// peer is "not serving" once it has passed, not when the peer resumes.
    public static func isServing(
        _ address: ListenAddress, service: String = "", timeout: Duration = .seconds(2)
    ) async -> Bool {
        (try? await ServiceClient.with(address, within: timeout) { client in
            await isServing(client, service: service, timeout: timeout)
        }) ?? false
    }

    /// Whether the server behind `client` reports SERVING (any transport).
    public static func isServing<Transport: ClientTransport>(
        _ client: GRPCClient<Transport>, service: String = "", timeout: Duration = .seconds(2)
    ) async -> Bool {
        let response = try? await Grpc_Health_V1_Health.Client(wrapping: client).check(
            .with { $0.service = service }, options: .timeout(timeout))
        return response?.status == .serving
    }
}

extension CallOptions {
    public static func timeout(_ duration: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = duration
        return options
    }
}
