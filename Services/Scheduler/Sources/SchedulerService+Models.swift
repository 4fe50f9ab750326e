import GRPCCore
import ServiceKit
import TesseraProto

/// The RPCs of serving several models: marking one servable, and listing their states.
extension SchedulerService {
    func serveModel(
        request: Tessera_V1_ServeModelRequest, context: ServerContext
    ) async throws -> Tessera_V1_ServeModelResponse {
        guard let marker else {
            throw RPCError(code: .unimplemented, message: "this scheduler cannot mark models")
        }
        let model = try await marker.serve(request)
        let row = await routing.modelStates().first { $0.model.sha256 == model.reference.sha256 }
        return .with { response in
            if let row {
                response.model = row.message
            } else {
                response.model = .with {
                    $0.model = Tessera_V1_ModelRef(model.reference)
                    $0.state = "unserved"
                }
            }
        }
    }

    func listModelStates(
        request: Tessera_V1_ListModelStatesRequest, context: ServerContext
    ) async throws -> Tessera_V1_ListModelStatesResponse {
        let rows = await routing.modelStates()
        return .with { $0.models = rows.map(\.message) }
    }
}
