import ArgumentParser
import Foundation
import ServiceKit
import Verifier

/// `verifier`: checks untrusted workers' work and keeps reputations.
@main
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Tessera verifier: commitments, replay checks and reputations.")

    @OptionGroup var service: ServiceOptions<VerifierPorts>

    @Option(
        help:
            "Directory for the verifier's database (verifier.sqlite: keys, receipts, verdicts, reputations, ledger) and replay shards (env TESSERA_VERIFIER_STATE_DIR)."
    )
    var stateDir = EnvironmentDefaults.string(
        "TESSERA_VERIFIER_STATE_DIR", VerifierConfiguration.defaultStateDirectory)
    @Option(
        help:
            "Cache-manager address host:port, for replay shards (env TESSERA_CACHE_MANAGER_ADDRESS)."
    )
    var cacheManager = ListenAddress(
        parsing: EnvironmentDefaults.string("TESSERA_CACHE_MANAGER_ADDRESS", "127.0.0.1:7402"))!
    @Option(help: "Compute threads for replays; 0 = all cores (env TESSERA_VERIFIER_THREADS).")
    var threads = EnvironmentDefaults.int("TESSERA_VERIFIER_THREADS", 0)
    @Option(
        help:
            "Share of receipts replayed while their least trusted worker is new, 0-1 (env TESSERA_VERIFIER_NEW_WORKER_RATE)."
    )
    var newWorkerRate = EnvironmentDefaults.double("TESSERA_VERIFIER_NEW_WORKER_RATE", 1)
    @Option(
        help:
            "Share of receipts replayed once all their workers are trusted, 0-1 (env TESSERA_VERIFIER_TRUSTED_RATE)."
    )
    var trustedRate = EnvironmentDefaults.double("TESSERA_VERIFIER_TRUSTED_RATE", 0.05)
    @Option(
        help:
            "Passed checks after which a worker is trusted (env TESSERA_VERIFIER_TRUSTED_AFTER).")
    var trustedAfter = EnvironmentDefaults.int("TESSERA_VERIFIER_TRUSTED_AFTER", 20)
    @Option(
        help:
            "Quarantine a worker whose score (passed+1)/(passed+1+W*failed) falls below this (env TESSERA_VERIFIER_QUARANTINE_BELOW)."
    )
    var quarantineBelow = EnvironmentDefaults.double("TESSERA_VERIFIER_QUARANTINE_BELOW", 0.8)
    @Option(
        help:
            "W: how many passed checks one failed check weighs in the score (env TESSERA_VERIFIER_FAULT_WEIGHT)."
    )
    var faultWeight = EnvironmentDefaults.double("TESSERA_VERIFIER_FAULT_WEIGHT", 13)
    @Option(help: "Ledger units per passed stage check (env TESSERA_VERIFIER_REWARD).")
    var reward = EnvironmentDefaults.int("TESSERA_VERIFIER_REWARD", 1)
    @Option(help: "Ledger units slashed per proven fault (env TESSERA_VERIFIER_SLASH).")
    var slash = EnvironmentDefaults.int("TESSERA_VERIFIER_SLASH", 100)
    @Option(
        help:
            "Gateway address host:port that canaries go through; none: no canaries (env TESSERA_VERIFIER_GATEWAY)."
    )
    var gateway: ListenAddress?
    @Option(
        help:
            "Mean seconds between canaries (random, exponential); 0 = off (env TESSERA_VERIFIER_CANARY_INTERVAL)."
    )
    var canaryInterval = EnvironmentDefaults.double("TESSERA_VERIFIER_CANARY_INTERVAL", 0)
    @Option(
        help:
            "File holding the API key canaries present to the gateway (`tessera keys create` prints one) (env TESSERA_VERIFIER_GATEWAY_API_KEY_FILE)."
    )
    var gatewayApiKeyFile = EnvironmentDefaults.string("TESSERA_VERIFIER_GATEWAY_API_KEY_FILE", "")

    /// The key in --gateway-api-key-file, nil without one.
    func gatewayAPIKey() throws -> String? {
        guard !gatewayApiKeyFile.isEmpty else { return nil }
        guard let text = try? String(contentsOfFile: gatewayApiKeyFile, encoding: .utf8) else {
            throw ValidationError("cannot read the API key file \(gatewayApiKeyFile)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The flag, else the environment (an optional option cannot take its default from it).
    var gatewayAddress: ListenAddress? {
        gateway ?? ListenAddress(parsing: Self.gatewayEnvironment)
    }
    static var gatewayEnvironment: String {
        EnvironmentDefaults.string("TESSERA_VERIFIER_GATEWAY", "")
    }

    func validate() throws {
        if gateway == nil, !Self.gatewayEnvironment.isEmpty, gatewayAddress == nil {
            throw ValidationError(
                "TESSERA_VERIFIER_GATEWAY must be host:port, got '\(Self.gatewayEnvironment)'")
        }
        guard threads >= 0 else { throw ValidationError("--threads must not be negative") }
        for (flag, rate) in [("--new-worker-rate", newWorkerRate), ("--trusted-rate", trustedRate)]
        where !(0...1).contains(rate) {
            throw ValidationError("\(flag) must be from 0 to 1, got \(rate)")
        }
        guard trustedAfter >= 0 else {
            throw ValidationError("--trusted-after must not be negative")
        }
        guard (0...1).contains(quarantineBelow) else {
            throw ValidationError("--quarantine-below must be from 0 to 1")
        }
        guard faultWeight > 0 else { throw ValidationError("--fault-weight must be positive") }
        guard reward >= 0, slash >= 0 else {
            throw ValidationError("--reward and --slash must not be negative")
        }
        guard canaryInterval >= 0 else {
            throw ValidationError("--canary-interval must not be negative")
        }
        if canaryInterval > 0, gatewayAddress == nil {
            throw ValidationError("--canary-interval needs --gateway to send canaries through")
        }
        _ = try gatewayAPIKey()
    }

    func run() async throws {
        var configuration = VerifierConfiguration()
        configuration.grpcAddress = service.grpcAddress
        configuration.httpAddress = service.httpAddress
        configuration.stateDirectory = stateDir
        configuration.cacheManagerAddress = cacheManager
        if threads > 0 { configuration.threads = threads }
        configuration.newWorkerRate = newWorkerRate
        configuration.trustedRate = trustedRate
        configuration.trustedAfter = trustedAfter
        configuration.quarantineBelow = quarantineBelow
        configuration.faultWeight = faultWeight
        configuration.reward = Int64(reward)
        configuration.slash = Int64(slash)
        configuration.gatewayAddress = gatewayAddress
        configuration.gatewayAPIKey = try gatewayAPIKey()
        if canaryInterval > 0 {
            configuration.canaryInterval = .milliseconds(Int64(canaryInterval * 1000))
        }
        await ServiceRunner.run(
            name: "verifier", logLevel: service.logLevel, security: service.security,
            certificateName: "verifier", tracing: service.tracing
        ) { logger in
            try buildVerifier(configuration, logger: logger)
        }
    }
}

enum VerifierPorts: ServicePorts {
    static let grpc = (variable: "TESSERA_VERIFIER_PORT", port: 7403)
    static let http = (variable: "TESSERA_VERIFIER_HTTP_PORT", port: 9403)
}
