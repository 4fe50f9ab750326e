/// Which roles may call which RPC: the one table every service's `RoleCheckInterceptor`
/// consults (docs/security.md prints it). An RPC missing from the table is refused to every
/// role, so a new RPC stays closed until someone decides who may call it.
public enum RolePolicy {
    /// Health checks are open to any certificate the cluster authority signed.
    static let anyRole = Set(ServiceRole.allCases)

    static let table: [String: Set<ServiceRole>] = [
        // Scheduler: workers join and report; gateways route; the operator looks and removes.
        "tessera.v1.Scheduler/RegisterWorker": [.worker],
        "tessera.v1.Scheduler/Heartbeat": [.worker],
        "tessera.v1.Scheduler/ListWorkers": [.gateway, .operator],
        "tessera.v1.Scheduler/GetPlacement": [.gateway, .operator],
        "tessera.v1.Scheduler/AcquirePipeline": [.gateway],
        "tessera.v1.Scheduler/ReleasePipeline": [.gateway],
        "tessera.v1.Scheduler/RenewLeases": [.gateway],
        "tessera.v1.Scheduler/ReportFailure": [.gateway],
        "tessera.v1.Scheduler/RemoveWorker": [.operator],
        // Serving several models: the operator marks them; gateways and the operator list them.
        "tessera.v1.Scheduler/ServeModel": [.operator],
        "tessera.v1.Scheduler/ListModelStates": [.gateway, .operator],
        // Cache-manager: only the operator imports; shards go to the services that run or
        // check them (the gateway reads the vocabulary shard, the verifier replays steps).
        "tessera.v1.CacheManager/ImportModel": [.operator],
        "tessera.v1.CacheManager/MakeVariants": [.operator],
        "tessera.v1.CacheManager/SetQualityBudget": [.operator],
        // Serving marks are set by the scheduler once it has checked that the model fits.
        "tessera.v1.CacheManager/SetServing": [.scheduler],
        "tessera.v1.CacheManager/ListModels": [
            .gateway, .scheduler, .worker, .verifier, .operator,
        ],
        "tessera.v1.CacheManager/GetModel": [.gateway, .scheduler, .worker, .verifier, .operator],
        "tessera.v1.CacheManager/GetShard": [.gateway, .scheduler, .worker, .verifier],
        "tessera.v1.CacheManager/DownloadShard": [.worker, .gateway, .verifier],
        // Worker: only the scheduler places shards; activations come from gateways and the
        // previous worker of a pipeline.
        "tessera.v1.InferenceWorker/LoadShard": [.scheduler],
        "tessera.v1.InferenceWorker/UnloadShard": [.scheduler],
        "tessera.v1.InferenceWorker/PrefetchShard": [.scheduler],
        "tessera.v1.InferenceWorker/GetStatus": [.scheduler, .operator],
        "tessera.v1.InferenceWorker/Forward": [.gateway, .worker],
        // A last stage's answers go straight to the gateway that opened the session.
        "tessera.v1.InferenceWorker/Answers": [.gateway],
        // Gateway: applications, the operator's CLI, and the verifier's canary prompts.
        "tessera.v1.Gateway/Generate": [.client, .operator, .verifier],
        "tessera.v1.Gateway/Chat": [.client, .operator, .verifier],
        "tessera.v1.Gateway/ListServedModels": [.client, .operator, .verifier],
        // Verifier: gateways submit commitments, workers register their signing keys.
        "tessera.v1.Verifier/RegisterWorkerKey": [.worker],
        "tessera.v1.Verifier/RegisterGatewayKey": [.gateway],
        "tessera.v1.Verifier/SubmitReceipts": [.gateway],
        "tessera.v1.Verifier/GetReceipt": [.operator, .client],
        "tessera.v1.Verifier/AuditReceipt": [.operator, .client],
        "tessera.v1.Verifier/GetInclusionProof": [.operator, .client],
        "tessera.v1.Verifier/GetReputation": [.scheduler, .gateway, .operator],
        "tessera.v1.Verifier/ListReputations": [.scheduler, .gateway, .operator],
        "tessera.v1.Verifier/RemoveWorker": [.operator],
        "grpc.health.v1.Health/Check": anyRole,
        "grpc.health.v1.Health/Watch": anyRole,
    ]

    /// The roles allowed to call `method` (`package.Service/Method`); empty when none is.
    public static func allowedRoles(_ method: String) -> Set<ServiceRole> {
        table[method] ?? []
    }

    /// Nil when `peer` may call `method`, else why not (the text of a PERMISSION_DENIED).
    public static func refusal(of peer: PeerIdentity?, calling method: String) -> String? {
        let allowed = allowedRoles(method)
        guard let peer else {
            return "\(method) needs a certificate naming a role (\(ServiceRole.names))"
        }
        if allowed.contains(peer.role) { return nil }
        if allowed.isEmpty { return "no role may call \(method)" }
        let names = ServiceRole.allCases.filter { allowed.contains($0) }.map(\.rawValue)
        return "role '\(peer.role)' (\(peer.name)) may not call \(method); allowed: "
            + names.joined(separator: ", ")
    }
}
