import ServiceKit
import ServiceLifecycle

/// Tells open `Forward` streams that the worker is shutting down. Without it a graceful
/// shutdown would wait for every session to end, which long-lived streams never do.
struct SessionDrainService: Service {
    let shuttingDown: OneShot<Void>

    func run() async throws {
        try? await gracefulShutdown()
        shuttingDown.set(())
    }
}
