import Dispatch
import Foundation
import Hummingbird
import ServiceKit
import Testing

/// The HTTP listener every service has, over raw sockets: a handler learns that its client
/// left (and is cancelled), keep-alive still works, and connections beyond the limit are
/// answered 503 and closed without disturbing the open ones.
@Suite(.timeLimit(.minutes(2)))
struct HTTPConnectionTests {
    /// A service with only the HTTP listener and a `/wait` route that waits for a minute
    /// unless its client leaves.
    func start(maxConnections: Int = 1024, left: OneShot<Void>, started: OneShot<Void>)
        async throws -> RunningService
    {
        var application = ServiceApplication(
            name: "http-test", grpcAddress: loopbackAnyPort, httpAddress: loopbackAnyPort,
            logger: quietLogger, rpcServices: [],
            httpRoutes: { router in
                router.post("/wait") { _, context -> String in
                    do {
                        return try await HTTPEndpoint.cancellingWhenClientLeaves(context) {
                            started.set(())
                            try await Task.sleep(for: .seconds(60))
                            return "done"
                        }
                    } catch is HTTPEndpoint.ClientDisconnected {
                        left.set(())
                        return "gone"
                    }
                }
                router.post("/quick") { _, context -> String in
                    try await HTTPEndpoint.cancellingWhenClientLeaves(context) { "quick" }
                }
            })
        application.httpMaxConnections = maxConnections
        return try await application.start()
    }

    @Test func aHandlerIsCancelledWhenItsClientLeaves() async throws {
        let (left, started) = (OneShot<Void>(), OneShot<Void>())
        let service = try await start(left: left, started: started)
        let client = try await RawHTTPClient(port: service.addresses.http!.port)
        try await client.send("POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        try await started.value
        client.close()
        let closed = ContinuousClock.now
        // Cancelled while the handler would still sleep for a minute (well under a second
        // alone; no tighter bound: the parallel suite can starve the cooperative threads).
        #expect(try await eventually(timeout: .seconds(50)) { left.current != nil })
        #expect(ContinuousClock.now - closed < .seconds(50))
        await service.shutdown()
    }

    @Test func keepAliveOutlivesTheWatch() async throws {
        let service = try await start(left: OneShot(), started: OneShot())
        let client = try await RawHTTPClient(port: service.addresses.http!.port)
        for _ in 0..<3 {
            try await client.send("POST /quick HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            let response = try await client.response()
            #expect(response?.status == 200 && response?.body == "quick")
        }
        client.close()
        await service.shutdown()
    }

    @Test func connectionsBeyondTheLimitAreRefused() async throws {
        let service = try await start(maxConnections: 2, left: OneShot(), started: OneShot())
        let port = service.addresses.http!.port
        var held: [RawHTTPClient] = []
        for _ in 0..<2 {
            let client = try await RawHTTPClient(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.response()?.status == 200)
            held.append(client)
        }
        for _ in 0..<3 {
            let extra = try await RawHTTPClient(port: port)
            let refused = try await extra.response()  // answered without asking
            #expect(refused?.status == 503 && refused?.headers["retry-after"] == "1")
            #expect(refused?.body.contains("too_many_connections") == true)
            #expect(try await extra.response() == nil)  // and closed
            extra.close()
        }
        for client in held {  // not disturbed
            try await client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.response()?.status == 200)
        }
        held.removeLast().close()
        // Served again once the server has seen the close.
        let served = try await eventually(timeout: .seconds(50)) {
            let client = try await RawHTTPClient(port: port)
            defer { client.close() }
            try await client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            return try await client.response()?.status == 200
        }
        #expect(served)
        for client in held { client.close() }
        await service.shutdown()
    }
}

/// A blocking socket client, its calls run off the cooperative pool.
final class RawHTTPClient: Sendable {
    struct Response: Equatable {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    let descriptor: Int32

    init(port: Int) async throws {
        descriptor = try await Self.blocking {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            // Only against a hang: the parallel suite (and a busy CI machine) can starve the
            // server for seconds, and a timed-out read reads as "the server closed".
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(
                descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)
            )
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                Glibc.close(descriptor)
                throw POSIXError(.ECONNREFUSED)
            }
            return descriptor
        }
    }

    func send(_ text: String) async throws {
        let descriptor = descriptor
        try await Self.blocking {
            let bytes = Array(text.utf8)
            guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count
            else { throw POSIXError(.EPIPE) }
        }
    }

    /// The next response, or nil when the server closed the connection first.
    func response() async throws -> Response? {
        let descriptor = descriptor
        return try await Self.blocking {
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            func more() -> Bool {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                guard count > 0 else { return false }
                data += buffer[..<count]
                return true
            }
            let separator = Array("\r\n\r\n".utf8)
            var headEnd: Int?
            while headEnd == nil {
                guard more() else { return nil }
                headEnd = data.indices.dropLast(3).first {
                    data[$0..<$0 + 4].elementsEqual(separator)
                }
            }
            let lines = String(decoding: data[..<headEnd!], as: UTF8.self).components(
                separatedBy: "\r\n")
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2 {
                    headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while data.count < headEnd! + 4 + length, more() {}
            let status = Int(lines[0].split(separator: " ")[1]) ?? 0
            let body = String(decoding: data[(headEnd! + 4)...], as: UTF8.self)
            return Response(status: status, headers: headers, body: body)
        }
    }

    func close() {
        Glibc.close(descriptor)
    }

    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T)
        async throws -> T
    {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }
}
