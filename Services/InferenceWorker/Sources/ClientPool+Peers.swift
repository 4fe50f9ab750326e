import ServiceKit

extension ClientPool {
    /// The client for a peer this worker calls (the next stage, a cache-manager). A closed
    /// pool means the worker is stopping, which callers see as UNAVAILABLE.
    func peer(_ address: ListenAddress) throws(WorkerError) -> TesseraGRPCClient {
        do {
            return try client(for: address)
        } catch ClientPool.PoolError.closed {
            throw .unavailable("the worker is shutting down")
        } catch {
            throw .internalFailure("cannot make a client for \(address): \(error)")
        }
    }
}
