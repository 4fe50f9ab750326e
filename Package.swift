// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Numeric targets (GGUF, kernels, engine) are always optimized, even in debug builds:
// an unoptimized forward pass is 50-100x slower and would make tests crawl.
// The CPU baseline is haswell (AVX2 + FMA + F16C) on x86_64; set TESSERA_TARGET_CPU
// (for example to `native`) when building for a known machine.
#if arch(x86_64)
    let targetCPU = ProcessInfo.processInfo.environment["TESSERA_TARGET_CPU"] ?? "haswell"
#else
    let targetCPU = ProcessInfo.processInfo.environment["TESSERA_TARGET_CPU"] ?? "generic"
#endif
#if arch(x86_64)
    let cKernelFlags = ["-O3", "-march=\(targetCPU)"]
#else
    let cKernelFlags = ["-O3"]
#endif
/// Every target: Swift 6 language mode (complete concurrency checking). Each remaining
/// `@unchecked Sendable` says in a comment why it is safe.
let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let numericSettings: [SwiftSetting] =
    swiftSettings + [
        .unsafeFlags(["-O", "-target-cpu", targetCPU, "-enforce-exclusivity=unchecked"])
    ]

let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
let grpcHTTP2 = Target.Dependency.product(
    name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport")
let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let argumentParser = Target.Dependency.product(
    name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")

/// One library target and one executable per service: tests import the library and call
/// its `build…` function; the executable is a few lines that parse flags and run it.
func service(_ name: String, dependencies: [Target.Dependency]) -> [Target] {
    [
        .target(
            name: name, dependencies: dependencies, path: "Services/\(name)/Sources",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "\(name)Main", dependencies: [.target(name: name), "ServiceKit", argumentParser],
            path: "Services/\(name)/Main", swiftSettings: swiftSettings),
    ]
}

// TESSERA_SCOPE=engine builds only the gRPC-free engine libraries and their tests: a fast
// loop for kernel and tokenizer work that needs none of the networking stack.
let engineOnly = ProcessInfo.processInfo.environment["TESSERA_SCOPE"] == "engine"
let engineTargetNames: Set<String> = [
    "Cluster", "GGUF", "CKernels", "Kernels", "Tokenization", "Inference", "Placement",
    "ModelArchitecture", "ModelCompression", "ModelEvaluation",
    "GGUFTests", "CompressionTests", "KernelsTests", "TokenizationTests", "InferenceTests",
    "PlacementTests",
]

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: engineOnly
        ? []
        : [
            .executable(name: "gateway", targets: ["GatewayMain"]),
            .executable(name: "scheduler", targets: ["SchedulerMain"]),
            .executable(name: "cache-manager", targets: ["CacheManagerMain"]),
            .executable(name: "inference-worker", targets: ["InferenceWorkerMain"]),
            .executable(name: "verifier", targets: ["VerifierMain"]),
            .executable(name: "tessera", targets: ["TesseraCLI"]),
            // Test-only: a worker that cheats on purpose, for the verifier's detection tests.
            .executable(name: "tessera-faulty-worker", targets: ["FaultyWorkerMain"]),
        ],
    dependencies: engineOnly
        ? []
        : [
            .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
            .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
            .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
            .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
            .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
            .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
            .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
            .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
            .package(
                url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
            .package(
                url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
            .package(url: "https://github.com/apple/swift-crypto.git", exact: "3.12.3"),
            // Cluster CA and service certificates (mutual TLS between services).
            .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
            .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
            // Tracing (docs/tracing.md): the API, and swift-otel's OTLP/gRPC exporter only (its
            // OTLP/HTTP trait would add async-http-client to every build).
            .package(
                url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
            .package(
                url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0",
                traits: ["OTLPGRPC"]),
        ],
    targets: ([
        // MARK: Shared libraries
        // Domain vocabulary every service shares (addresses, shard and model references, routes).
        .target(name: "Cluster", path: "Shared/Cluster", swiftSettings: swiftSettings),
        // Generated protobuf code, and the one place each wire type converts to a domain type.
        .target(
            name: "TesseraProto",
            dependencies: [
                "Cluster", "Inference", "Placement", "Integrity", grpcCore, grpcProtobuf,
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Shared/TesseraProto", swiftSettings: swiftSettings),
        .target(
            name: "ServiceKit",
            dependencies: [
                "Cluster", "TesseraProto", "Integrity", grpcCore, grpcHTTP2, logging,
                argumentParser,
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Shared/ServiceKit", swiftSettings: swiftSettings),
        .target(name: "GGUF", path: "Shared/GGUF", swiftSettings: numericSettings),
        // Model families: the one reading of a GGUF's hyperparameters and tensor layout.
        .target(
            name: "ModelArchitecture", dependencies: ["GGUF"], path: "Shared/ModelArchitecture",
            swiftSettings: swiftSettings),
        // Only the innermost integer dot products (x86 AVX2 / AVX-512 VNNI); see its header.
        .target(
            name: "CKernels", path: "Shared/CKernels",
            cSettings: [.unsafeFlags(cKernelFlags)]),
        .target(
            name: "Kernels", dependencies: ["GGUF", "CKernels"], path: "Shared/Kernels",
            swiftSettings: numericSettings),
        .target(
            name: "Tokenization", dependencies: ["GGUF"], path: "Shared/Tokenization",
            swiftSettings: numericSettings),
        .target(
            name: "Inference",
            dependencies: ["GGUF", "Kernels", "Tokenization", "ModelArchitecture"],
            path: "Shared/Inference", exclude: ["README.md"],
            swiftSettings: numericSettings),
        .target(
            name: "Placement", dependencies: ["Cluster"], path: "Shared/Placement",
            exclude: ["README.md"],
            swiftSettings: numericSettings),
        .target(
            name: "Integrity", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            // Optimized even in debug builds: workers fingerprint every step's output.
            path: "Shared/Integrity", swiftSettings: numericSettings),
        .target(
            name: "ModelStore",
            dependencies: ["GGUF", "Integrity", "Placement", "ModelArchitecture"],
            path: "Shared/ModelStore", swiftSettings: swiftSettings),
        // Compact variants of a model: requantization and Wanda pruning (issue 13).
        .target(
            name: "ModelCompression",
            dependencies: ["GGUF", "Kernels", "Inference", "ModelArchitecture", "Tokenization"],
            path: "Shared/ModelCompression", swiftSettings: numericSettings),
        // What a variant costs: perplexity, KL divergence, agreement, speed, size (issue 13).
        .target(
            name: "ModelEvaluation",
            dependencies: [
                "ModelCompression", "GGUF", "Kernels", "Inference", "ModelArchitecture",
                "Tokenization",
            ],
            path: "Shared/ModelEvaluation", resources: [.embedInCode("questions.json")],
            swiftSettings: numericSettings),
        // The gateway's API keys (hashed), their limits and usage: read by the gateway,
        // written by `tessera keys`.
        .target(
            name: "APIKeys",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Shared/APIKeys", swiftSettings: swiftSettings),

        // MARK: Services (library + executable each)
    ]
        + service(
            "Gateway",
            dependencies: [
                "ServiceKit", "TesseraProto", "Tokenization", "Inference", "GGUF", "Integrity",
                "APIKeys", "ModelArchitecture",
            ])
        + service("Scheduler", dependencies: ["ServiceKit", "TesseraProto", "Placement"])
        + service(
            "CacheManager",
            dependencies: [
                "ServiceKit", "TesseraProto", "GGUF", "Integrity", "ModelStore", "ModelCompression",
                .product(name: "GRDB", package: "GRDB.swift"),
            ])
        + service(
            "InferenceWorker",
            dependencies: [
                "ServiceKit", "TesseraProto", "Inference", "Kernels", "Integrity", "GGUF",
                "Tokenization", "Placement", argumentParser,
            ])
        + [
            // Test-only: the worker with `--fault`s injected (its faults reach nothing else).
            .executableTarget(
                name: "FaultyWorkerMain",
                dependencies: ["InferenceWorker", "ServiceKit", argumentParser],
                path: "Services/FaultyWorker", swiftSettings: swiftSettings)
        ]
        + service(
            "Verifier",
            dependencies: [
                "ServiceKit", "TesseraProto", "Integrity", "Inference", "GGUF", "Kernels",
                "Tokenization", .product(name: "GRDB", package: "GRDB.swift"),
            ])
        + [
            .executableTarget(
                name: "TesseraCLI",
                dependencies: [
                    "ServiceKit", "TesseraProto", "GGUF", "Tokenization", "Inference", "Placement",
                    "ModelStore", "APIKeys", "ModelCompression", "ModelEvaluation",
                    "Integrity", "Kernels", "Cluster", argumentParser, grpcCore, grpcProtobuf,
                    logging,
                ],
                path: "Services/Tessera", swiftSettings: swiftSettings),

            // MARK: Tests (one target per concern)
            .testTarget(
                name: "GGUFTests", dependencies: ["GGUF"], path: "Tests/GGUFTests",
                swiftSettings: swiftSettings),
            .testTarget(
                name: "KernelsTests", dependencies: ["Kernels", "GGUF", "Inference"],
                path: "Tests/KernelsTests",
                swiftSettings: swiftSettings),
            .testTarget(
                name: "TokenizationTests", dependencies: ["Tokenization", "GGUF"],
                path: "Tests/TokenizationTests", swiftSettings: swiftSettings),
            .testTarget(
                name: "InferenceTests",
                dependencies: [
                    "Inference", "Kernels", "GGUF", "Tokenization", "ModelArchitecture",
                ],
                path: "Tests/InferenceTests", swiftSettings: swiftSettings),
            .testTarget(
                name: "CompressionTests",
                dependencies: [
                    "ModelCompression", "ModelEvaluation", "Inference", "Kernels", "GGUF",
                    "Tokenization", "ModelArchitecture",
                ],
                path: "Tests/CompressionTests", swiftSettings: swiftSettings),
            .testTarget(
                name: "IntegrityTests", dependencies: ["Integrity"], path: "Tests/IntegrityTests",
                swiftSettings: swiftSettings),
            .testTarget(
                name: "PlacementTests", dependencies: ["Placement"], path: "Tests/PlacementTests",
                swiftSettings: swiftSettings),
            .testTarget(
                name: "ServiceTests",
                dependencies: [
                    "ServiceKit", "TesseraProto", "Gateway", "Scheduler", "CacheManager", "APIKeys",
                    "InferenceWorker", "Verifier",
                    "GGUF", "ModelStore", "ModelArchitecture", "Integrity", "Inference",
                    "Tokenization", grpcCore,
                    grpcHTTP2,
                    .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                    .product(name: "Tracing", package: "swift-distributed-tracing"),
                    .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                ],
                path: "Tests/ServiceTests", swiftSettings: swiftSettings),
        ]).filter { !engineOnly || engineTargetNames.contains($0.name) }
)
