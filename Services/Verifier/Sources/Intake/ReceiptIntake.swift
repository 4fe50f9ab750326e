import Foundation
import Integrity
import Logging
import ServiceKit
import SwiftProtobuf
import TesseraProto

/// Bounds on one SubmitReceipts call: a gateway ships batches, and one call must not hold the
/// store (or memory) for long.
struct IntakeLimits: Sendable, Equatable {
    var maxRecords = 256
    /// The transport refuses larger messages by default (4 MiB) anyway; this keeps the bound
    /// if that is raised.
    var maxBytes = 4 << 20
}

/// Takes in gateways' receipt records: checks each (`RecordValidator`), stores it PENDING
/// or FAILED, or rejects it with a reason, and selects pending ones for replay.
struct ReceiptIntake: Sendable {
    let store: VerifierStore
    let checkPolicy: CheckPolicy
    let reputationPolicy: ReputationPolicy
    let limits: IntakeLimits
    /// Woken when a record is selected, so the checker starts on it at once.
    let checkerWake: WakeSignal
    let logger: Logger

    struct Summary: Sendable, Equatable {
        var accepted = 0
        var rejected = 0
        /// One line per rejected record: its id and why.
        var errors: [String] = []
    }

    /// One record's fate.
    enum Outcome: Sendable, Equatable {
        case stored(ReceiptState, selected: Bool)
        case resubmitted
        case rejected(String)
    }

    func submit(_ records: [Tessera_V1_ReceiptRecord], bytes: Int) async throws -> Summary {
        guard records.count <= limits.maxRecords else {
            throw VerifierError.tooManyRecords(count: records.count, limit: limits.maxRecords)
        }
        guard bytes <= limits.maxBytes else {
            throw VerifierError.batchTooLarge(bytes: bytes, limit: limits.maxBytes)
        }
        var summary = Summary()
        var selected = false
        for record in records {
            let id = record.receipt.receiptID
            switch try await take(record) {
            case .stored(let state, let wanted):
                summary.accepted += 1
                selected = selected || wanted
                VerifierMetrics.accepted(state)
            case .resubmitted:
                summary.accepted += 1
            case .rejected(let why):
                summary.rejected += 1
                summary.errors.append("\(id.isEmpty ? "(no id)" : id): \(why)")
                VerifierMetrics.rejected()
                logger.notice(
                    "receipt rejected", metadata: ["receipt": "\(id)", "reason": "\(why)"])
            }
        }
        if selected { checkerWake.signal() }
        if let counts = try? await store.pendingCounts() {
            VerifierMetrics.pending(selected: counts.selected, unselected: counts.unselected)
        }
        return summary
    }

    /// Checks and stores one record.
    func take(_ wire: Tessera_V1_ReceiptRecord) async throws -> Outcome {
        let id = wire.receipt.receiptID
        guard !id.isEmpty else { return .rejected("the receipt has no id") }
        guard wire.hasSampling else {
            return .rejected("the record has no sampling settings (a replay needs them)")
        }
        do {
            _ = try wire.sampling.parameters(defaultMaxTokens: 1)
        } catch {
            return .rejected("its sampling settings are invalid: \(error)")
        }
        let bytes = try Self.serialize(wire)
        let record = wire.domain
        let leaves = record.leaves
        let context = try await store.intakeContext(
            receiptID: id, gatewayID: record.receipt.gatewayID,
            workers: Set(leaves.map(\.workerID)), signatures: leaves.map(\.signature))
        if let existing = context.existing {
            return existing == bytes
                ? .resubmitted
                : .rejected("replayed receipt: another record was already submitted with this id")
        }
        let validator = RecordValidator(
            gatewayKey: context.gatewayKey, workerKeys: context.workerKeys,
            storedSignatures: context.storedSignatures)
        let fault: WorkerFault?
        switch validator.check(record) {
        case .rejected(let why): return .rejected(why)
        case .faulty(let found): fault = found
        case .sound: fault = nil
        }
        let rate = checkPolicy.rate(
            for: context.standings.map {
                reputationPolicy.trust(passed: $0.checksPassed, failed: $0.checksFailed)
            })
        let new = NewReceipt(
            id: id, record: bytes, receipt: try Self.serialize(wire.receipt),
            gatewayID: record.receipt.gatewayID, signatures: leaves.map(\.signature), fault: fault,
            wanted: fault == nil && checkPolicy.selects(receiptID: id, rate: rate),
            servingSeconds: ServingTime.estimate(record), submittedAt: VerifierStore.now())
        let insertion = try await store.insert(new, policy: reputationPolicy) { stored in
            var again = validator
            again.storedSignatures = stored
            guard case .faulty(let fault) = again.check(record) else { return nil }
            return fault
        }
        switch insertion {
        case .stored(let state, let wanted, let canary):
            if state == .failed, let fault = try await store.status(id)?.fault {
                logVerdict(id, state: state, fault: fault, canary: canary)
            }
            return .stored(state, selected: wanted)
        case .resubmitted: return .resubmitted
        case .conflicting:
            return .rejected("replayed receipt: another record was already submitted with this id")
        }
    }

    private func logVerdict(_ id: String, state: ReceiptState, fault: WorkerFault, canary: Bool) {
        logger.warning(
            "receipt verdict",
            metadata: [
                "receipt": "\(id)", "state": "\(state.rawValue)",
                "fault_worker": "\(fault.workerID)",
                "fault_layers": "\(fault.layers.lowerBound)..<\(fault.layers.upperBound)",
                "reason": "\(fault.reason)", "canary": "\(canary)", "by": "structure",
            ])
    }

    /// A message's encoded size in bytes.
    static func size(_ message: some SwiftProtobuf.Message) -> Int {
        ((try? message.serializedBytes()) as [UInt8]?)?.count ?? 0
    }

    /// A message's bytes as stored: deterministic (map entries in key order), so the same
    /// record submitted again has the same bytes.
    static func serialize(_ message: some SwiftProtobuf.Message) throws -> Data {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return try message.serializedBytes(options: options)
    }
}
