import GRPCCore

// The RPCs of serving several models answer UNIMPLEMENTED unless a service implements them,
// so a stand-in service (a test's fake cache-manager or scheduler) that predates them still
// conforms. The real services implement them, which takes precedence over these.

extension Tessera_V1_CacheManager.SimpleServiceProtocol {
    public func setServing(
        request: Tessera_V1_SetServingRequest, context: ServerContext
    ) async throws -> Tessera_V1_ModelManifest {
        throw RPCError(code: .unimplemented, message: "SetServing is not implemented here")
    }

    public func setQualityBudget(
        request: Tessera_V1_SetQualityBudgetRequest, context: ServerContext
    ) async throws -> Tessera_V1_ModelManifest {
        throw RPCError(code: .unimplemented, message: "SetQualityBudget is not implemented here")
    }
}

extension Tessera_V1_Scheduler.SimpleServiceProtocol {
    public func serveModel(
        request: Tessera_V1_ServeModelRequest, context: ServerContext
    ) async throws -> Tessera_V1_ServeModelResponse {
        throw RPCError(code: .unimplemented, message: "ServeModel is not implemented here")
    }

    public func listModelStates(
        request: Tessera_V1_ListModelStatesRequest, context: ServerContext
    ) async throws -> Tessera_V1_ListModelStatesResponse {
        throw RPCError(code: .unimplemented, message: "ListModelStates is not implemented here")
    }
}
