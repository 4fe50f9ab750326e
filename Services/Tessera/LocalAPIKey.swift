import APIKeys
import Foundation

/// The API key of the user who runs a local cluster (`tessera up`): its store and the one
/// plain copy of the key, both in the cluster's state directory (`<state>/gateway/`), so
/// that `tessera chat` and the benches on this machine find it. The key file is the user's
/// own credential, readable by them only (like ~/.netrc); the store holds only hashes.
enum LocalAPIKey {
    static let name = "local-user"
    /// A key given in the environment: `tessera up` adopts it instead of making one, and the
    /// clients send it (scripts and CI that want to know the key beforehand).
    static let environment = "TESSERA_API_KEY"

    static func storePath(stateDirectory: String) -> String {
        "\(stateDirectory)/gateway/\(APIKeyStore.fileName)"
    }

    static func keyFile(stateDirectory: String) -> String {
        "\(stateDirectory)/gateway/local-user.key"
    }

    /// The key a client on this machine sends: TESSERA_API_KEY, else the one `tessera up
    /// --port-offset N` keeps in its state directory; nil when neither exists.
    static func find(portOffset: Int) -> String? {
        if let key = ProcessInfo.processInfo.environment[environment], !key.isEmpty {
            return key
        }
        let file = keyFile(
            stateDirectory: ClusterCertificates.defaultStateDirectory(portOffset: portOffset))
        return (try? String(contentsOfFile: file, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The local user's key for the cluster whose state is in `stateDirectory`: TESSERA_API_KEY
    /// when set, else the key kept from an earlier start while it is still live in the store,
    /// else a new one. It has no limits: it is the operator's own. The key file holds it
    /// (the verifier's canaries read it there too).
    static func prepare(stateDirectory: String) throws -> String {
        let store = try APIKeyStore(path: storePath(stateDirectory: stateDirectory))
        let file = keyFile(stateDirectory: stateDirectory)
        let secret: String
        if let given = ProcessInfo.processInfo.environment[environment], !given.isEmpty {
            if let record = try store.record(forSecret: given) {
                guard !record.revoked else {
                    throw CLIError("\(environment) holds a key that was revoked (\(record.id))")
                }
            } else {
                try replace(in: store, name: environment, secret: given)
            }
            secret = given
        } else if let kept = try? String(contentsOfFile: file, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines),
            let record = try store.record(forSecret: kept), !record.revoked
        {
            return kept
        } else {
            secret = try replace(in: store, name: name, secret: nil)
        }
        // Readable by the user alone, before the key goes in.
        try? FileManager.default.removeItem(atPath: file)
        FileManager.default.createFile(
            atPath: file, contents: nil, attributes: [.posixPermissions: 0o600])
        try Data((secret + "\n").utf8).write(to: URL(fileURLWithPath: file))
        return secret
    }

    /// Creates the key `name`, revoking the live key of that name first (its secret is lost).
    @discardableResult
    private static func replace(in store: APIKeyStore, name: String, secret: String?) throws
        -> String
    {
        do {
            return try store.create(name: name, limits: APIKeyLimits(), secret: secret).secret
        } catch APIKeyStoreError.nameTaken {
            try store.revoke(name)
            return try store.create(name: name, limits: APIKeyLimits(), secret: secret).secret
        }
    }
}
