import ArgumentParser

/// The ports a service listens on by default, and the environment variables that override
/// them (containers set those rather than flags).
public protocol ServicePorts {
    static var grpc: (variable: String, port: Int) { get }
    static var http: (variable: String, port: Int) { get }
    /// What the HTTP port serves, for `--help`.
    static var httpPurpose: String { get }
}

extension ServicePorts {
    public static var httpPurpose: String { "/metrics, /healthz, /readyz" }
}

/// The options every service has: bind host, gRPC and HTTP ports, log level. A command
/// includes them with `@OptionGroup var service: ServiceOptions<TheirPorts>`.
public struct ServiceOptions<Ports: ServicePorts>: ParsableArguments {
    @Option(help: "Address to bind (env TESSERA_HOST).")
    public var host = EnvironmentDefaults.host
    @Option(help: ArgumentHelp("gRPC port (env \(Ports.grpc.variable))."))
    public var port = EnvironmentDefaults.int(Ports.grpc.variable, Ports.grpc.port)
    @Option(help: ArgumentHelp("HTTP port for \(Ports.httpPurpose) (env \(Ports.http.variable))."))
    public var httpPort = EnvironmentDefaults.int(Ports.http.variable, Ports.http.port)
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TESSERA_LOG_LEVEL).")
    public var logLevel = EnvironmentDefaults.string("TESSERA_LOG_LEVEL", "info")
    @OptionGroup(title: "Security") public var security: SecurityOptions
    @OptionGroup(title: "Tracing") public var tracing: TracingOptions

    public init() {}

    public func validate() throws {
        try OptionChecks.port(port, "--port")
        try OptionChecks.port(httpPort, "--http-port")
    }

    public var grpcAddress: ListenAddress { ListenAddress(host: host, port: port) }
    public var httpAddress: ListenAddress { ListenAddress(host: host, port: httpPort) }
}
