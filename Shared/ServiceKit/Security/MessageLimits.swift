import GRPCNIOTransportHTTP2

/// How much one connection and one message may cost a server, so a peer cannot exhaust its
/// memory or hold connections open for nothing (issue 11). Each service's receive cap is
/// sized to its largest legitimate request, with headroom; a bigger message is refused with
/// RESOURCE_EXHAUSTED before it is decoded (`MessageCapTransport`).
public struct MessageLimits: Sendable, Equatable {
    /// Largest request message accepted, in bytes (the gRPC length prefix is checked).
    public var maxReceiveBytes: Int
    /// Most streams one connection may have open at once.
    public var maxConcurrentStreams: Int
    /// A connection with no RPC for this long is closed (a connection that completed TLS and
    /// then sends nothing, or a client that went away without closing).
    public var maxIdleTime: Duration

    public init(
        maxReceiveBytes: Int, maxConcurrentStreams: Int = 1024,
        maxIdleTime: Duration = .seconds(300)
    ) {
        self.maxReceiveBytes = maxReceiveBytes
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxIdleTime = maxIdleTime
    }

    /// Control-plane services (scheduler, cache-manager): registrations, heartbeats, leases
    /// and shard requests are a few KiB. Shards flow from the cache-manager, never to it.
    public static let controlPlane = MessageLimits(maxReceiveBytes: 1 << 20)

    /// The verifier takes the gateway's receipt batches (prompt and output tokens and
    /// commitment chains), which `VerifierUplink` keeps under 3 MiB.
    public static let verifier = MessageLimits(maxReceiveBytes: 4 << 20)

    /// The gateway: a prompt (or chat) as text, at most the largest context's worth of
    /// bytes with room for JSON schemas and logit biases.
    public static let gateway = MessageLimits(maxReceiveBytes: 4 << 20)

    /// A worker's Forward steps carry hidden states: at most `--batch-tokens` (≤ 128) rows
    /// of the model's width in F32 per step, 128 × 8192 × 4 = 4 MiB for the widest model
    /// Tessera loads, plus the step's token ids; 16 MiB leaves room for wider models. A
    /// gateway opens one Forward stream per session over one connection, and a worker may
    /// serve up to 4096 sessions (`--max-sessions`).
    public static let worker = MessageLimits(maxReceiveBytes: 16 << 20, maxConcurrentStreams: 8192)

    /// The enrollment listener answers machines without certificates: a token and a signing
    /// request of a few hundred bytes, on few short connections.
    public static let enrollment = MessageLimits(
        maxReceiveBytes: 64 << 10, maxConcurrentStreams: 4, maxIdleTime: .seconds(30))

    /// The limits of the service named `name` (`ServiceApplication.name`), in this one table.
    public static func forService(_ name: String) -> MessageLimits {
        switch name {
        case "gateway": .gateway
        case "inference-worker": .worker
        case "verifier": .verifier
        default: .controlPlane
        }
    }

    /// What the HTTP/2 transport buffers of one message at most: twice the cap. Between the
    /// cap and this, the message is refused with RESOURCE_EXHAUSTED and a reason
    /// (`MessageCapTransport`); beyond it the transport resets the stream (CANCELLED).
    public var transportLimitBytes: Int { 2 * maxReceiveBytes }

    /// The server transport configuration these limits give.
    public var serverConfig: HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = transportLimitBytes
        config.http2.maxConcurrentStreams = maxConcurrentStreams
        config.connection.maxIdleTime = maxIdleTime
        return config
    }
}
