import GRPCCore
import GRPCNIOTransportHTTP2

extension ServiceApplication {
    /// The addresses the listeners actually bound (port 0 picks a free port), or
    /// `ServiceError.cannotListen` naming the address and the reason.
    func boundAddresses(
        of transport: HTTP2ServerTransport.Posix, events: AsyncStream<StartEvent>
    ) async throws -> BoundAddresses {
        let grpcPort = try await boundGRPCPort(of: transport, events: events)
        let (httpPort, opsPort) = try await boundHTTPPorts(events)
        return BoundAddresses(
            grpc: ListenAddress(host: grpcAddress.host, port: grpcPort),
            http: httpAddress.map { ListenAddress(host: $0.host, port: httpPort ?? $0.port) },
            ops: opsAddress.map { ListenAddress(host: $0.host, port: opsPort ?? $0.port) })
    }

    private func boundGRPCPort(
        of transport: HTTP2ServerTransport.Posix, events: AsyncStream<StartEvent>
    ) async throws -> Int {
        do {
            guard let port = try await transport.listeningAddress.ipv4?.port else {
                throw ServiceError.cannotListen(grpcAddress.description, "no IPv4 address bound")
            }
            return port
        } catch let error as ServiceError {
            throw error
        } catch {
            // The transport only says it is not listening; the server's own failure, which
            // the group reports next, carries the cause ("Address already in use"). A service
            // slow to stop must not hang start-up: after 2 s the transport's word will do.
            let cause = await withTaskGroup(of: (any Error)?.self) { group in
                group.addTask {
                    for await event in events {
                        if case .failed(let failure) = event { return failure }
                    }
                    return nil
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            throw ServiceError.cannotListen(
                "gRPC \(grpcAddress)", Self.reason(from: cause ?? error))
        }
    }

    /// The ports the HTTP listeners bound (the app's and the operators'), in whichever order
    /// they come; a failure names the first listener still unbound.
    private func boundHTTPPorts(_ events: AsyncStream<StartEvent>) async throws -> (Int?, Int?) {
        var http: Int?
        var ops: Int?
        func complete() -> Bool {
            (httpAddress == nil || http != nil) && (opsAddress == nil || ops != nil)
        }
        func unbound() -> String {
            if let httpAddress, http == nil { return "HTTP \(httpAddress)" }
            return "HTTP \(opsAddress.map { "\($0)" } ?? "-")"
        }
        if complete() { return (http, ops) }
        for await event in events {
            switch event {
            case .httpBound(let port): http = port
            case .opsBound(let port): ops = port
            case .failed(let error):
                throw ServiceError.cannotListen(unbound(), Self.reason(from: error))
            }
            if complete() { return (http, ops) }
        }
        throw ServiceError.cannotListen(unbound(), "listener stopped")
    }

    /// The innermost message of a bind failure ("Address already in use (errno: 98)").
    static func reason(from error: any Error) -> String {
        var current: any Error = error
        while true {
            if let runtime = current as? RuntimeError, let cause = runtime.cause {
                current = cause
                continue
            }
            if let rpc = current as? RPCError, let cause = rpc.cause {
                current = cause
                continue
            }
            return "\(current)"
        }
    }
}
