import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// The process's tracer: swift-otel's, exporting over OTLP/gRPC, when `TracingOptions`
/// names an endpoint; else swift-distributed-tracing's no-op tracer (nothing is recorded
/// and spans cost a task-local lookup).
public enum ProcessTracing {
    private static let state = Mutex(State())

    private struct State {
        var bootstrapped = false
        var enabled = false
        var decodeStepEvery = 16
    }

    /// Spans are being recorded and exported.
    public static var isEnabled: Bool { state.withLock { $0.enabled } }

    /// A worker traces decode step n when n is a multiple of this (see `tracesStep`).
    public static var decodeStepEvery: Int { state.withLock { $0.decodeStepEvery } }

    /// Installs the OTLP tracer for the whole process, once (later calls return nil: tests
    /// start several services in one process, and the instrumentation system takes one
    /// bootstrap). Returns the service that batches and exports spans: run it in the
    /// service group, where it flushes what is left at shutdown. `serviceName` is the
    /// resource's `service.name` unless OTEL_SERVICE_NAME says otherwise.
    public static func bootstrap(_ options: TracingOptions, serviceName: String, logger: Logger)
        throws -> (any Service)?
    {
        guard options.isEnabled else { return nil }
        let first = state.withLock { state in
            defer { state.bootstrapped = true }
            return !state.bootstrapped
        }
        guard first else { return nil }
        try refuseProtocolsNotBuiltIn()
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false  // logs stay logfmt on stderr
        configuration.metrics.enabled = false  // metrics stay on /metrics (Prometheus)
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .grpc
        configuration.traces.otlpExporter.endpoint = options.otlpEndpoint
        configuration.traces.otlpExporter.compression = .none
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        state.withLock {
            $0.enabled = true
            $0.decodeStepEvery = options.traceDecodeEvery
        }
        logger.info(
            "exporting traces",
            metadata: [
                "otlp_endpoint": "\(options.otlpEndpoint)",
                "decode_steps_traced": "1 in \(options.traceDecodeEvery)",
            ])
        return backend.service
    }

    /// Only the OTLP/gRPC exporter is built in (the package's OTLPGRPC trait): swift-otel
    /// stops the process with a fatal error when the environment asks for OTLP/HTTP, so that
    /// is refused first, with a message.
    static func refuseProtocolsNotBuiltIn() throws {
        for variable in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] {
            let value = EnvironmentDefaults.string(variable, "grpc")
            guard value == "grpc" else {
                throw ServiceError.configuration(
                    "\(variable)=\(value): Tessera exports traces over OTLP/gRPC only; "
                        + "unset it or set it to grpc (and point the endpoint at the collector's gRPC port, usually 4317)"
                )
            }
        }
    }

    /// Whether a worker records a span for a step: always for prefill and replay (a few per
    /// request), for one decode step in `decodeStepEvery` (by step number, so every stage
    /// traces the same steps and a sampled step shows across the whole pipeline). Decode
    /// steps are the many small ones: tracing each would cost a few percent of throughput.
    public static func tracesStep(number: UInt64, kind: StepKind) -> Bool {
        let (enabled, every) = state.withLock { ($0.enabled, $0.decodeStepEvery) }
        guard enabled else { return false }
        if kind != .decode { return true }
        return number % UInt64(every) == 0
    }

    /// What a pipeline step does, as the `tessera.step.kind` attribute says it.
    public enum StepKind: String, Sendable {
        case prefill, decode, replay
    }
}
