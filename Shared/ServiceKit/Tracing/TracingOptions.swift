import ArgumentParser

/// The flags that turn span export on: every service takes them (through `ServiceOptions`).
/// Off unless an endpoint is given; docs/tracing.md says how to point them at a collector.
public struct TracingOptions: ParsableArguments, Sendable {
    @Option(
        help: ArgumentHelp(
            "OTLP/gRPC endpoint to export spans to, e.g. http://127.0.0.1:4317; empty: no tracing (env OTEL_EXPORTER_OTLP_ENDPOINT).",
            valueName: "url"))
    public var otlpEndpoint = EnvironmentDefaults.string("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    @Option(
        help:
            "Trace one decode step in N on each worker; prefill and replay steps are always traced (env TESSERA_TRACE_DECODE_EVERY)."
    )
    public var traceDecodeEvery = EnvironmentDefaults.int("TESSERA_TRACE_DECODE_EVERY", 16)

    public init() {}

    public func validate() throws {
        guard traceDecodeEvery >= 1 else {
            throw ValidationError("--trace-decode-every must be at least 1")
        }
        guard
            otlpEndpoint.isEmpty || otlpEndpoint.hasPrefix("http://")
                || otlpEndpoint.hasPrefix("https://")
        else {
            throw ValidationError(
                "--otlp-endpoint must be an http:// or https:// URL, got '\(otlpEndpoint)'")
        }
    }

    public var isEnabled: Bool { !otlpEndpoint.isEmpty }
}
