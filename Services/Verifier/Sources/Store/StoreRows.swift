import Foundation
import GRDB

// The verifier's tables as records. Times are unix milliseconds (what commitments and
// receipts carry); keys and signatures are raw bytes.

/// Records whose Swift properties (camelCase) map to snake_case columns.
protocol SnakeCaseColumns: FetchableRecord, EncodableRecord {}

extension SnakeCaseColumns {
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy {
        .convertFromSnakeCase
    }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy {
        .convertToSnakeCase
    }
}

/// A worker the verifier has heard of. Never deleted: removing a worker unpins its key
/// (`removed`), and its counts and ledger stay, so a quarantined worker cannot start afresh
/// under the same id.
struct WorkerRow: Codable, Sendable, Equatable, SnakeCaseColumns, PersistableRecord {
    static let databaseTableName = "worker"

    var id: String
    /// The key pinned last (kept after removal, for the record).
    var publicKey: Data
    var removed: Bool
    var deposit: Int64
    /// Always deposit + rewards − slashes: each change is written with its ledger entry.
    var balance: Int64
    var checksPassed: Int
    var checksFailed: Int
    var slashed: Bool
    var registeredAt: Int64

    var standing: WorkerStanding {
        WorkerStanding(
            workerID: id, publicKey: removed ? nil : Array(publicKey), checksPassed: checksPassed,
            checksFailed: checksFailed, deposit: deposit, balance: balance, slashed: slashed)
    }
}

struct GatewayRow: Codable, Sendable, Equatable, SnakeCaseColumns, PersistableRecord {
    static let databaseTableName = "gateway"

    var id: String
    var publicKey: Data
    var registeredAt: Int64
}

/// One stored receipt: the record as submitted (serialized protobuf, sampler included) and
/// what is known about it.
struct ReceiptRow: Codable, Sendable, SnakeCaseColumns, PersistableRecord {
    static let databaseTableName = "receipt"

    var id: String
    /// `Tessera_V1_ReceiptRecord`, serialized deterministically.
    var record: Data
    /// `Tessera_V1_Receipt` alone, so a status never decodes the commitments.
    var receipt: Data
    var gatewayId: String
    var state: ReceiptState
    var faultWorkerId: String?
    var faultFirstLayer: Int?
    var faultLastLayer: Int?
    var faultProven: Bool
    var reason: String
    /// `[StageCheckRow]` as JSON.
    var stageChecks: String
    var checkedAt: Int64?
    var canary: Bool
    /// Selected for replay (by the sampling rate, an audit or as a canary).
    var wanted: Bool
    var submittedAt: Int64
    /// The request's serving time, estimated from its commitments (`ServingTime`).
    var servingSeconds: Double
    /// What replaying it cost the verifier.
    var replaySeconds: Double
    /// Replays that ended without a verdict (the verifier's own trouble), and when the
    /// checker may try again.
    var replayAttempts: Int
    var retryAt: Int64

    var fault: WorkerFault? {
        guard let faultWorkerId, let faultFirstLayer, let faultLastLayer else { return nil }
        return WorkerFault(
            workerID: faultWorkerId, layers: faultFirstLayer..<max(faultFirstLayer, faultLastLayer),
            reason: reason, proven: faultProven)
    }

    mutating func setFault(_ fault: WorkerFault?) {
        faultWorkerId = fault?.workerID
        faultFirstLayer = fault?.layers.lowerBound
        faultLastLayer = fault?.layers.upperBound
        faultProven = fault?.proven ?? false
        reason = fault?.reason ?? ""
    }
}

/// A stage check as stored (in the receipt row, as JSON).
struct StageCheckRow: Codable, Sendable, Equatable {
    var workerID: String
    var firstLayer: Int
    var lastLayer: Int
    var steps: Int
    var minCosine: Double
    var maxRelativeError: Double
    var maxNormError: Double
    var passed: Bool
    var tokensChecked: Int
    var tokensUnchecked: Int
    var uncheckedReason: String?

    init(_ check: StageCheckResult) {
        workerID = check.workerID
        firstLayer = check.layers.lowerBound
        lastLayer = check.layers.upperBound
        steps = check.steps
        minCosine = check.minCosine
        maxRelativeError = check.maxRelativeError
        maxNormError = check.maxNormError
        passed = check.passed
        tokensChecked = check.tokensChecked
        tokensUnchecked = check.tokensUnchecked
        uncheckedReason = check.uncheckedReason
    }

    var check: StageCheckResult {
        StageCheckResult(
            workerID: workerID, layers: firstLayer..<max(firstLayer, lastLayer), steps: steps,
            minCosine: minCosine, maxRelativeError: maxRelativeError, maxNormError: maxNormError,
            passed: passed, tokensChecked: tokensChecked, tokensUnchecked: tokensUnchecked,
            uncheckedReason: uncheckedReason)
    }

    static func encode(_ checks: [StageCheckResult]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(checks.map(StageCheckRow.init))) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ json: String) -> [StageCheckResult] {
        ((try? JSONDecoder().decode([StageCheckRow].self, from: Data(json.utf8))) ?? []).map(
            \.check)
    }
}

/// A change of a worker's balance, and why.
struct LedgerRow: Codable, Sendable, Equatable, SnakeCaseColumns, MutablePersistableRecord {
    static let databaseTableName = "ledger"

    enum Reason: String, Codable, Sendable {
        case deposit, reward, slash
    }

    var id: Int64?
    var workerId: String
    var delta: Int64
    var reason: Reason
    var receiptId: String?
    var at: Int64

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}
