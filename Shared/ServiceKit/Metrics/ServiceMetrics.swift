import Foundation
import Metrics
import Prometheus

/// The process-wide Prometheus registry behind swift-metrics. Every service records through
/// the swift-metrics API (Counter, Timer, Gauge) and serves this registry at `/metrics`.
public enum ServiceMetrics {
    public static let registry = PrometheusCollectorRegistry()
    nonisolated(unsafe) private static var bootstrapped = false
    private static let lock = NSLock()

    /// Routes swift-metrics into the registry (once per process).
    public static func bootstrap() {
        lock.lock()
        defer { lock.unlock() }
        guard !bootstrapped else { return }
        bootstrapped = true
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The Prometheus text exposition of everything recorded so far.
    public static func render() -> String {
        registry.emitToString()
    }
}
