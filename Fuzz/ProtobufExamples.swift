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

    /// Three unequal workers for the planner.
    static let plannedWorkers = [
        WorkerProfile(id: "a", memoryBudgetBytes: 1 << 30, speed: WorkerSpeed(bytesPerSecond: 8e9)),
        WorkerProfile(id: "b", memoryBudgetBytes: 1 << 29, speed: WorkerSpeed(bytesPerSecond: 4e9)),
        WorkerProfile(id: "c", memoryBudgetBytes: 1 << 31, speed: WorkerSpeed(bytesPerSecond: 2e9)),
    ]
}

extension Array where Element == UInt8 {
    /// As a `bytes` field holds it.
    var wire: Data { Data(self) }
}
