import APIKeys
import ArgumentParser
import Foundation
import ServiceKit

/// `tessera keys`: the gateway's API keys. They live in a SQLite store that the gateway
/// reads (`--keys-db`); keys created or revoked here take effect within a few seconds, even
/// while the gateway runs. Only each key's hash is stored: `create` shows the key once.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke the gateway's API keys.",
        subcommands: [Create.self, List.self, Revoke.self, Usage.self])

    /// Which store: --keys-db, else env TESSERA_GATEWAY_KEYS_DB (as the gateway), else the
    /// store of the local cluster `tessera up --port-offset N` runs.
    struct StoreOption: ParsableArguments {
        @Option(
            help:
                "The key store (default: env TESSERA_GATEWAY_KEYS_DB, else the local cluster's, under ~/.cache/tessera/up-<port offset>/gateway)."
        )
        var keysDb: String?
        @Option(help: "The local cluster (`tessera up --port-offset N`) whose store to use.")
        var portOffset = 0

        var path: String {
            if let keysDb { return keysDb }
            let configured = EnvironmentDefaults.string("TESSERA_GATEWAY_KEYS_DB", "")
            if !configured.isEmpty { return configured }
            return LocalAPIKey.storePath(
                stateDirectory: ClusterCertificates.defaultStateDirectory(portOffset: portOffset))
        }

        func open() throws -> APIKeyStore {
            do {
                return try APIKeyStore(path: path)
            } catch {
                throw CLIError("cannot open the key store \(path): \(error)")
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it (once: only its hash is stored).",
            discussion: """
                Limits default to env TESSERA_KEY_DEFAULT_RPM, _TPM and _STREAMS, else 600 \
                requests and 200000 tokens a minute and 16 concurrent streams; 0 is unlimited.
                """)

        @Argument(help: "A name for the key (unique among live keys).")
        var name: String
        @Option(help: "Requests per minute (0: unlimited).")
        var rpm: Int?
        @Option(help: "Prompt plus completion tokens per minute (0: unlimited).")
        var tpm: Int?
        @Option(help: "Generations running at once (0: unlimited).")
        var streams: Int?
        @OptionGroup var store: StoreOption

        func validate() throws {
            guard (rpm ?? 0) >= 0, (tpm ?? 0) >= 0, (streams ?? 0) >= 0 else {
                throw ValidationError("--rpm, --tpm and --streams must not be negative")
            }
        }

        func run() throws {
            var limits = APIKeyLimits.defaults(environment: ProcessInfo.processInfo.environment)
            if let rpm { limits.requestsPerMinute = rpm }
            if let tpm { limits.tokensPerMinute = tpm }
            if let streams { limits.concurrentStreams = streams }
            let created: (record: APIKeyRecord, secret: String)
            do {
                created = try store.open().create(name: name, limits: limits)
            } catch let error as APIKeyStoreError {
                throw CLIError("\(error)")
            }
            print(
                "created \(created.record.id) '\(created.record.name)': \(KeysCommand.describe(limits)) (store \(store.path))"
            )
            print("api key: \(created.secret)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys and their limits.")
        @OptionGroup var store: StoreOption

        func run() throws {
            let keys = try store.open().list()
            var rows = [["ID", "NAME", "KEY", "CREATED", "STATE", "RPM", "TPM", "STREAMS"]]
            for key in keys {
                rows.append([
                    key.id, key.name, key.prefix + "…", KeysCommand.date(key.created),
                    key.revoked ? "revoked" : "live",
                    KeysCommand.limit(key.limits.requestsPerMinute),
                    KeysCommand.limit(key.limits.tokensPerMinute),
                    KeysCommand.limit(key.limits.concurrentStreams),
                ])
            }
            print(KeysCommand.table(rows))
            print("\(keys.count) key(s) in \(store.path)")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key: the gateway refuses it within a few seconds.")
        @Argument(help: "The live key's name, or a key's id.")
        var key: String
        @OptionGroup var store: StoreOption

        func run() throws {
            do {
                let record = try store.open().revoke(key)
                print("revoked \(record.id) '\(record.name)'")
            } catch let error as APIKeyStoreError {
                throw CLIError("\(error)")
            }
        }
    }

    struct Usage: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each key's requests and tokens since it was created.")
        @OptionGroup var store: StoreOption

        func run() throws {
            let keys = try store.open().list()
            var rows = [["ID", "NAME", "STATE", "REQUESTS", "PROMPT TOKENS", "COMPLETION TOKENS"]]
            for key in keys {
                rows.append([
                    key.id, key.name, key.revoked ? "revoked" : "live", "\(key.usage.requests)",
                    "\(key.usage.promptTokens)", "\(key.usage.completionTokens)",
                ])
            }
            print(KeysCommand.table(rows))
        }
    }

    static func describe(_ limits: APIKeyLimits) -> String {
        "rpm \(limit(limits.requestsPerMinute)), tpm \(limit(limits.tokensPerMinute)), streams \(limit(limits.concurrentStreams))"
    }

    static func limit(_ value: Int) -> String { value == 0 ? "unlimited" : "\(value)" }

    static func date(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// Columns padded to their widest cell.
    static func table(_ rows: [[String]]) -> String {
        TextTable.lines(rows).joined(separator: "\n")
    }
}
