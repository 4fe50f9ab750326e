import GRPCCore
import Inference
import Integrity
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization
import TesseraProto

/// Ships receipt records to the verifier in batches, off the serving path: generation only
/// appends to a bounded buffer. A verifier that is slow or down never slows or fails a
/// request: records wait (up to `capacity`; beyond that the oldest are dropped and counted)
/// and are sent again with backoff until the verifier answers. A record the verifier rejects
/// (it answers, and names the record in `errors`) is not resent: the verifier keeps what it
/// rejected no more than what it never got, and the count says how many.
final class VerifierUplink: Service, Sendable {
    private struct Pending {
        var record: Tessera_V1_ReceiptRecord
        var bytes: Int
    }

    /// A batch stays under the verifier's 4 MiB request limit with room for framing.
    static let batchByteLimit = 3 << 20

    private let client: Tessera_V1_Verifier.Client<TesseraClientTransport>
    private let gatewayID: String
    private let publicKey: [UInt8]
    private let logger: Logger
    private let capacity: Int
    private let batchSize: Int
    private let buffer = Mutex<[Pending]>([])
    private let arrived = WakeSignal()

    init(
        client: Tessera_V1_Verifier.Client<TesseraClientTransport>, gatewayID: String,
        publicKey: [UInt8], logger: Logger, capacity: Int = 10_000, batchSize: Int = 64
    ) {
        self.client = client
        self.gatewayID = gatewayID
        self.publicKey = publicKey
        self.logger = logger
        self.capacity = capacity
        self.batchSize = batchSize
    }

    /// Queues one record (never blocks).
    func submit(_ record: ReceiptRecord, sampling: SamplingParameters) {
        var wire = Tessera_V1_ReceiptRecord(record)
        wire.sampling = Tessera_V1_SamplingParams(sampling)
        let bytes = (try? wire.serializedBytes() as [UInt8])?.count ?? 0
        guard bytes <= Self.batchByteLimit else {
            // Not in one request: a prompt of many thousand tokens with many pieces.
            GatewayMetrics.receiptsDropped.increment()
            logger.warning(
                "receipt record too large to ship to the verifier",
                metadata: ["receipt": "\(record.receipt.receiptID)", "bytes": "\(bytes)"])
            return
        }
        let dropped = buffer.withLock { buffer -> Bool in
            buffer.append(Pending(record: wire, bytes: bytes))
            guard buffer.count > capacity else { return false }
            buffer.removeFirst()
            return true
        }
        if dropped { GatewayMetrics.receiptsDropped.increment() }
        GatewayMetrics.receiptsBuffered.record(buffered)
        arrived.signal()
    }

    var buffered: Int { buffer.withLock { $0.count } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.registerKey()
            var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
            while !Task.isCancelled {
                let batch = self.buffer.withLock { self.nextBatch($0) }
                guard !batch.isEmpty else {
                    await self.arrived.wait(upTo: .seconds(5))
                    continue
                }
                if await self.send(batch) {
                    self.buffer.withLock { $0.removeFirst(min(batch.count, $0.count)) }
                    GatewayMetrics.receiptsBuffered.record(self.buffered)
                    backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
                } else {
                    try? await Task.sleep(for: backoff.next())
                }
            }
        }
        // Records still buffered at shutdown are lost with the process; say how many.
        let left = buffered
        if left > 0 {
            logger.warning(
                "receipts not delivered to the verifier at shutdown",
                metadata: ["receipts": "\(left)"])
        }
    }

    /// The oldest records, at most `batchSize` of them and `batchByteLimit` bytes.
    private func nextBatch(_ buffer: [Pending]) -> [Pending] {
        var bytes = 0
        var batch: [Pending] = []
        for pending in buffer.prefix(batchSize) {
            guard batch.isEmpty || bytes + pending.bytes <= Self.batchByteLimit else { break }
            bytes += pending.bytes
            batch.append(pending)
        }
        return batch
    }

    /// Registers the gateway's key until the verifier accepts it (or the gateway stops).
    private func registerKey() async {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        var warned = false
        while !Task.isCancelled {
            do {
                _ = try await client.registerGatewayKey(
                    .with {
                        $0.gatewayID = gatewayID
                        $0.publicKey = .init(publicKey)
                    }, options: .timeout(.seconds(5)))
                logger.info(
                    "gateway key registered with the verifier",
                    metadata: ["gateway": "\(gatewayID)"])
                return
            } catch {
                if !warned {
                    logger.notice(
                        "verifier not reachable yet; receipts are buffered",
                        metadata: ["error": "\(error)"])
                    warned = true
                }
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// One batch; true when the verifier answered (each record accepted or rejected for good).
    private func send(_ batch: [Pending]) async -> Bool {
        do {
            let response = try await client.submitReceipts(
                .with { $0.records = batch.map(\.record) }, options: .timeout(.seconds(30)))
            GatewayMetrics.receiptsShipped.increment(by: Int64(response.accepted))
            if response.rejected > 0 {
                GatewayMetrics.receiptsRejected.increment(by: Int64(response.rejected))
                logger.warning(
                    "the verifier rejected receipts",
                    metadata: [
                        "rejected": "\(response.rejected)",
                        "errors": "\(response.errors.prefix(3).joined(separator: "; "))",
                    ])
            }
            return true
        } catch {
            logger.debug("shipping receipts failed; will retry", metadata: ["error": "\(error)"])
            return false
        }
    }
}
