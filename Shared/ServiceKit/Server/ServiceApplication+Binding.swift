import GRPCCore
import GRPCNIOTransportHTTP2

extension ServiceApplication {
    /// The addresses the listeners actually bound (port 0 picks a free port), or
    /// `ServiceError.cannotListen` naming the address and the reason.
    func boundAddresses(
        of transport: HTTP2ServerTransport.Posix, events: AsyncStream<StartEvent>
    ) async throws -> BoundAddresses {
        let grpcPort = try await boundGRPCPort(of: transport, events: events)
        var http: ListenAddress?
        if let httpAddress {
            http = ListenAddress(host: httpAddress.host, port: try await boundHTTPPort(events))
        }
        return BoundAddresses(
            grpc: ListenAddress(host: grpcAddress.host, port: grpcPort), http: http)
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

    private func boundHTTPPort(_ events: AsyncStream<StartEvent>) async throws -> Int {
        for await event in events {
            switch event {
            case .httpBound(let port): return port
            case .failed(let error):
                throw ServiceError.cannotListen("HTTP \(httpAddress!)", Self.reason(from: error))
            }
        }
        throw ServiceError.cannotListen("HTTP \(httpAddress!)", "listener stopped")
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
