import TesseraProto

extension WorkerState {
    /// The ready shards as registrations, heartbeats and GetStatus list them.
    var wireReadyShards: [Tessera_V1_ShardRef] { readyShards.map(Tessera_V1_ShardRef.init) }
}
