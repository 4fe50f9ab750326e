import Placement
import ServiceKit
import TesseraProto

/// One served model as `ListModelStates`, GetPlacement's summary and `tessera models` show it.
struct ModelStateRow: Sendable, Equatable {
    var model: ModelReference
    var state: ServingState
    var replicas: Int
    var readyReplicas: Int
    var contextLength: Int
    var pinReplicas: Int
    var idleTimeout: Duration
    var isDefault: Bool
    var weightBytes: Int
    var reason: String
    var activeRequests: Int
    /// Its quality budget, if any: stages may run these variants within this KL.
    var quality: QualityBudget? = nil

    var name: String { model.name.isEmpty ? model.sha256 : model.name }

    var message: Tessera_V1_ModelServingState {
        .with {
            $0.model = Tessera_V1_ModelRef(model)
            $0.state = state.name
            $0.replicas = UInt32(clamping: replicas)
            $0.readyReplicas = UInt32(clamping: readyReplicas)
            $0.contextLength = UInt32(clamping: contextLength)
            $0.pinReplicas = UInt32(clamping: pinReplicas)
            $0.idleTimeoutS = UInt32(clamping: Int(idleTimeout.inSeconds))
            $0.defaultModel = isDefault
            $0.weightBytes = UInt64(clamping: weightBytes)
            $0.reason = reason
            $0.activeRequests = UInt32(clamping: activeRequests)
            if let quality {
                $0.maxMeanKl = quality.maxMeanKL
                $0.variants = quality.variants.map(\.name)
            }
        }
    }
}

/// The served models as a text table (GetPlacement's summary).
enum ModelStatesTable {
    static func render(_ rows: [ModelStateRow]) -> String {
        var lines = ["models:"]
        for row in rows {
            var line =
                "  \(row.name): \(row.state.name), \(row.readyReplicas)/\(row.replicas) pipelines ready, "
                + "\(row.activeRequests) active"
            if row.isDefault { line += ", default" }
            if row.pinReplicas > 0 { line += ", pinned \(row.pinReplicas)" }
            if let quality = row.quality {
                line +=
                    ", quality budget KL \(quality.maxMeanKL) over "
                    + (quality.variants.isEmpty
                        ? "no variant" : quality.variants.map(\.name).joined(separator: ", "))
            }
            if !row.reason.isEmpty { line += " (\(row.reason))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
