import Foundation
import Placement
import TesseraProto

/// A valid message of each kind, as the services send them: the protobuf target's seeds
/// (written by `writeProtobufSeeds`), so mutations start from inputs that get past decoding
/// into the conversions. Computed, not kept: see `WireInput.init`.
enum Examples {
    static let shardHash = String(repeating: "ab", count: 32)

    static var sampling: Tessera_V1_SamplingParams {
        .with {
            $0.temperature = 0.7
            $0.topK = 40
            $0.topP = 0.9
            $0.minP = 0.05
            $0.repeatPenalty = 1.1
            $0.repeatLastN = 64
            $0.seed = 42
            $0.stop = ["\n\n"]
            $0.maxTokens = 16
            $0.presencePenalty = 0.5
            $0.frequencyPenalty = -0.5
            $0.logitBias = [5: -1, 17: 2.5]
        }
    }

    static var jsonSampling: Tessera_V1_SamplingParams {
        .with {
            $0.maxTokens = 32
            $0.responseFormat.jsonSchema =
                #"{"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["name"]}"#
        }
    }

    static var shard: Tessera_V1_ShardRef {
        .with {
            $0.sha256 = shardHash
            $0.model = .with {
                $0.name = "smollm2-135m"
                $0.sha256 = String(repeating: "cd", count: 32)
            }
            $0.layers = .with {
                $0.first = 0
                $0.last = 15
            }
            $0.sizeBytes = 50_000_000
            $0.hasEmbedding_p = true
        }
    }

    static var capabilities: Tessera_V1_WorkerCapabilities {
        .with {
            $0.memoryBytes = 8 << 30
            $0.cpuCount = 2
            $0.computeGflops = 40
            $0.memoryBandwidthGbps = 12
            $0.decodeGbps = 6
            $0.version = "tessera 0.1"
            $0.sessionSlots = 4
        }
    }

    static var load: Tessera_V1_WorkerLoad {
        .with {
            $0.activeSessions = 1
            $0.memoryUsedBytes = 1 << 28
            $0.cpuUtilization = 0.5
            $0.recentSteps = [
                .with {
                    $0.layers = shard.layers
                    $0.tokens = 1
                    $0.seconds = 0.01
                    $0.weightBytes = 40_000_000
                }
            ]
            $0.recentLinks = [
                .with {
                    $0.toWorkerID = "w2"
                    $0.roundTripSeconds = 0.002
                    $0.bytes = 2048
                }
            ]
            $0.sessionSlots = 4
        }
    }

    static var generate: Tessera_V1_GenerateRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.prompt = "The ocean is"
            $0.sampling = sampling
            $0.topLogits = 2
            $0.requestID = "req-1"
        }
    }

    static var chat: Tessera_V1_ChatRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.messages = [
                .with {
                    $0.role = "system"
                    $0.content = "Answer in JSON."
                },
                .with {
                    $0.role = "user"
                    $0.content = "Name a colour."
                },
            ]
            $0.sampling = jsonSampling
        }
    }

    static var registerWorker: Tessera_V1_RegisterWorkerRequest {
        .with {
            $0.address = "127.0.0.1:7410"
            $0.capabilities = capabilities
            $0.workerID = "w1"
            $0.readyShards = [shard]
            $0.publicKey = [UInt8](repeating: 7, count: 32).wire
        }
    }

    static var heartbeat: Tessera_V1_HeartbeatRequest {
        .with {
            $0.workerID = "w1"
            $0.load = load
            $0.readyShards = [shard]
            $0.cache = .with {
                $0.shards = [
                    .with {
                        $0.sha256 = shardHash
                        $0.sizeBytes = 50_000_000
                        $0.loaded = true
                        $0.inUse = true
                    }
                ]
                $0.diskBudgetBytes = 1 << 34
                $0.diskUsedBytes = 50_000_000
                $0.memoryBudgetBytes = 8 << 30
                $0.memoryUsedBytes = 1 << 28
            }
        }
    }

    static var acquirePipeline: Tessera_V1_AcquirePipelineRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.avoidWorkerIds = ["w3"]
            $0.expectedTokens = 64
        }
    }

    static var reportFailure: Tessera_V1_ReportFailureRequest {
        .with {
            $0.workerID = "w2"
            $0.pipelineID = "p1"
            $0.reason = "stream reset"
        }
    }

    static var serveModel: Tessera_V1_ServeModelRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.servable = true
            $0.pinReplicas = 1
            $0.idleTimeoutS = 600
        }
    }

    static var importModel: Tessera_V1_ImportModelRequest {
        .with {
            $0.path = "/models/smollm2.gguf"
            $0.displayName = "smollm2"
        }
    }

    static var getShard: Tessera_V1_GetShardRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.layers = shard.layers
        }
    }

    static var downloadShard: Tessera_V1_DownloadShardRequest {
        .with {
            $0.shardSha256 = shardHash
            $0.offset = 4096
        }
    }

    static var setServing: Tessera_V1_SetServingRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.marks = .with {
                $0.servable = true
                $0.pinReplicas = 2
            }
        }
    }

    static var makeVariants: Tessera_V1_MakeVariantsRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.methods = ["q4_k", "wanda50-q4_0+emb:q8_0"]
            $0.calibrationText = "Some text."
        }
    }

    static var setQualityBudget: Tessera_V1_SetQualityBudgetRequest {
        .with {
            $0.model = "smollm2-135m"
            $0.budget = .with {
                $0.maxMeanKl = 0.05
                $0.variants = [
                    .with {
                        $0.variant = "smollm2-135m:q4_0"
                        $0.variantSha256 = String(repeating: "12", count: 32)
                        $0.evaluationTokens = 4096
                        $0.ranges = [
                            .with {
                                $0.layers = shard.layers
                                $0.meanKl = 0.01
                            }
                        ]
                    }
                ]
            }
        }
    }

    static var enroll: Tessera_V1_EnrollRequest {
        .with {
            $0.tokenID = "t1"
            $0.tokenSecret = "secret"
            $0.csrDer = [0x30, 0x82, 0x01, 0x0A, 0x02, 0x01, 0x00].wire
            $0.name = "edge-1"
        }
    }

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

    /// Three unequal workers for the planner.
    static let plannedWorkers = [
        WorkerProfile(id: "a", memoryBudgetBytes: 1 << 30, speed: WorkerSpeed(bytesPerSecond: 8e9)),
        WorkerProfile(id: "b", memoryBudgetBytes: 1 << 29, speed: WorkerSpeed(bytesPerSecond: 4e9)),
        WorkerProfile(id: "c", memoryBudgetBytes: 1 << 31, speed: WorkerSpeed(bytesPerSecond: 2e9)),
    ]
}

extension Array where Element == UInt8 {
    /// As a `bytes` field holds it.
    fileprivate var wire: Data { Data(self) }
}
