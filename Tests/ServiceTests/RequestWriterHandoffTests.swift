import GRPCCore
import ServiceKit
import Synchronization
import Testing

/// A streaming call's request writer handed out of the scoped request producer: the
/// messages arrive in order (the first one the producer's), closing or cancelling ends the
/// producer (a half-close, not an error), and a call that ends before the handout makes
/// the writer's waiters fail with its error instead of waiting forever.
@Suite struct RequestWriterHandoffTests {
    /// Stands in for grpc-swift's request stream: what was written, in order.
    final class Collected: RPCWriterProtocol, Sendable {
        let messages = Mutex<[String]>([])
        func write(_ element: String) async throws { messages.withLock { $0.append(element) } }
        func write(contentsOf elements: some Sequence<String>) async throws {
            for element in elements { try await write(element) }
        }
    }

    struct CallFailed: Error, Equatable {}

    @Test func theWritingTaskWritesAfterTheFirstMessageUntilItCloses() async throws {
        let handoff = RequestWriterHandoff<String>()
        let wire = Collected()
        // The writing task asks before the call is up: it waits for the handout.
        async let written: Void = {
            let writer = try await handoff.writer()
            try await writer.write("step 0")
            try await handoff.writer().write("step 1")
            handoff.close()
        }()
        try await handoff.produce(first: "open", into: RPCWriter(wrapping: wire))
        try await written
        #expect(wire.messages.withLock { $0 } == ["open", "step 0", "step 1"])
    }

    @Test func aCancelledCallEndsTheProducerWithoutAnError() async throws {
        let handoff = RequestWriterHandoff<String>()
        let producer = Task {
            try await handoff.produce(first: "open", into: RPCWriter(wrapping: Collected()))
        }
        _ = try await handoff.writer()  // handed out: the producer now waits for close
        producer.cancel()
        try await producer.value
    }

    @Test func aCallThatEndsFirstFailsTheWaitingWriter() async throws {
        let handoff = RequestWriterHandoff<String>()
        let waiting = Task { try await handoff.writer() }
        handoff.callEnded(CallFailed())
        await #expect(throws: CallFailed.self) { try await waiting.value }
        // Later asks fail the same way; a late end does not replace a handed-out writer.
        await #expect(throws: CallFailed.self) { try await handoff.writer() }
    }

    @Test func anEndAfterTheHandoutLeavesTheWriter() async throws {
        let handoff = RequestWriterHandoff<String>()
        let wire = Collected()
        async let produced: Void = handoff.produce(first: "open", into: RPCWriter(wrapping: wire))
        let writer = try await handoff.writer()
        handoff.callEnded(CallFailed())
        try await handoff.writer().write("step 0")
        try await writer.write("step 1")
        handoff.close()
        try await produced
        #expect(wire.messages.withLock { $0 } == ["open", "step 0", "step 1"])
    }
}
