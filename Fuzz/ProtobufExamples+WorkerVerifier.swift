import Foundation
import Placement
import TesseraProto

/// The protobuf target's examples of what workers and the verifier receive and answer:
/// shard loading, `Forward` streams, keys, commitments and receipts, and the replies the
/// gateway reads (ProtobufExamples.swift has the API, scheduler and cache-manager ones).
extension Examples {
    static var loadShard: Tessera_V1_LoadShardRequest {
        .with {
            $0.shard = shard
            $0.cacheManagerAddress = "127.0.0.1:7402"
            $0.contextLength = 2048
        }
    }

    static var unloadShard: Tessera_V1_UnloadShardRequest { .with { $0.shardSha256 = shardHash } }

    static var prefetchShard: Tessera_V1_PrefetchShardRequest {
        .with {
            $0.shard = shard
            $0.cacheManagerAddress = "cache:7402"
        }
    }

    static var forwardOpen: Tessera_V1_ForwardRequest {
        .with {
            $0.open = .with {
                $0.sessionID = "s1"
                $0.shardSha256 = shardHash
                $0.layers = shard.layers
                $0.downstream = [
                    .with {
                        $0.workerID = "w2"
                        $0.address = "10.0.0.2:7410"
                        $0.layers = .with {
                            $0.first = 15
                            $0.last = 30
                        }
                        $0.shardSha256 = String(repeating: "ef", count: 32)
                    }
                ]
                $0.contextLength = 2048
                $0.sampling = sampling
                $0.topLogits = 3
                $0.activationDtype = .f16
                $0.outputStart = 5
            }
        }
    }

    static var forwardStep: Tessera_V1_ForwardRequest {
        .with {
            $0.step = .with {
                $0.step = 3
                $0.position = 5
                $0.tokens = [1, 2]
                $0.hidden = .with {
                    $0.dtype = .f32
                    $0.shape = [2, 4]
                    $0.data = [UInt8](repeating: 0, count: 32).wire
                }
            }
        }
    }

    static var registerWorkerKey: Tessera_V1_RegisterWorkerKeyRequest {
        .with {
            $0.workerID = "w1"
            $0.publicKey = [UInt8](repeating: 9, count: 32).wire
            $0.deposit = 100
        }
    }

    static var registerGatewayKey: Tessera_V1_RegisterGatewayKeyRequest {
        .with {
            $0.gatewayID = "g1"
            $0.publicKey = [UInt8](repeating: 3, count: 32).wire
        }
    }

    static var commitment: Tessera_V1_Commitment {
        .with {
            $0.workerID = "w1"
            $0.sessionID = "s1"
            $0.step = 3
            $0.layers = shard.layers
            $0.shardSha256 = shardHash
            $0.position = 5
            $0.count = 1
            $0.inputDigest = [UInt8](repeating: 1, count: 32).wire
            $0.outputDigest = [UInt8](repeating: 2, count: 32).wire
            $0.lastStage = true
            $0.sampledToken = 17
            $0.unixMs = 1_780_000_000_000
            $0.signature = [UInt8](repeating: 4, count: 64).wire
        }
    }

    static var submitReceipts: Tessera_V1_SubmitReceiptsRequest {
        .with {
            $0.records = [
                .with {
                    $0.receipt = .with {
                        $0.receiptID = "r1"
                        $0.merkleRoot = [UInt8](repeating: 5, count: 32).wire
                        $0.model = shard.model
                        $0.stages = [
                            .with {
                                $0.workerID = "w1"
                                $0.shardSha256 = shardHash
                                $0.layers = shard.layers
                            }
                        ]
                        $0.leafCount = 1
                        $0.gatewayID = "g1"
                    }
                    $0.promptTokens = [1, 2, 3]
                    $0.outputTokens = [17]
                    $0.sampling = sampling
                    $0.chains = [
                        .with {
                            $0.attempt = 0
                            $0.commitments = [commitment]
                        }
                    ]
                }
            ]
        }
    }

    static var inclusionProof: Tessera_V1_GetInclusionProofRequest {
        .with {
            $0.receiptID = "r1"
            $0.step = 3
        }
    }

    static var acquiredPipeline: Tessera_V1_AcquirePipelineResponse {
        .with {
            $0.pipeline = .with {
                $0.pipelineID = "p1"
                $0.stages = [
                    .with {
                        $0.workerID = "w1"
                        $0.address = "127.0.0.1:7410"
                        $0.layers = shard.layers
                        $0.shard = shard
                        $0.predictedMsPerToken = 8
                        $0.ready = true
                    }
                ]
                $0.predictedMsPerToken = 9.5
                $0.contextLength = 2048
            }
            $0.leaseID = "l1"
            $0.leaseTtlMs = 30_000
        }
    }

    static var workerList: Tessera_V1_ListWorkersResponse {
        .with {
            $0.workers = [
                .with {
                    $0.workerID = "w1"
                    $0.address = "127.0.0.1:7410"
                    $0.capabilities = capabilities
                    $0.load = load
                    $0.readyShards = [shard]
                    $0.reputation = 0.9
                }
            ]
        }
    }

    static var manifest: Tessera_V1_ModelManifest {
        var manifest = Tessera_V1_ModelManifest()
        manifest.model = shard.model
        manifest.architecture = "llama"
        manifest.embeddingLength = 576
        manifest.contextLength = 8192
        manifest.vocabSize = 49_152
        manifest.fileType = "Q4_1"
        manifest.setCost(
            ModelProfile.denseDecoder(
                layerCount: 30, hiddenSize: 576, intermediateSize: 1536, vocabularySize: 49_152,
                headCount: 9, kvHeadCount: 3, bytesPerWeight: 0.6, tiedEmbeddings: true))
        manifest.shards = [shard]
        return manifest
    }

    static var forwardReply: Tessera_V1_ForwardResponse {
        .with {
            $0.step = 3
            $0.tokenID = 17
            $0.topLogits = [Tessera_V1_TokenLogit(token: 17, logit: 9.5, logprob: -0.1)]
            $0.timings = [
                .with {
                    $0.workerID = "w1"
                    $0.computeSeconds = 0.01
                }
            ]
            $0.commitments = [commitment]
            $0.tokenLogprob = -0.1
        }
    }
}
