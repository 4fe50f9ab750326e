import GRPCCore
import Instrumentation

/// Reads W3C trace context (`traceparent`, `tracestate`) out of gRPC metadata: the
/// instrument (swift-otel's W3C propagator) asks for the keys it knows.
struct MetadataExtractor: Extractor {
    func extract(key: String, from carrier: Metadata) -> String? {
        carrier[stringValues: key].first(where: { _ in true })
    }
}

/// Writes W3C trace context into gRPC metadata, replacing a value the caller set.
struct MetadataInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout Metadata) {
        carrier.removeAllValues(forKey: key)
        carrier.addString(value, forKey: key)
    }
}
