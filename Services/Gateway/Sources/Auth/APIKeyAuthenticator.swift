import APIKeys
import Logging
import ServiceKit

/// Who may use the gateway's API: the holder of a live key from the store, within the key's
/// limits. Both APIs ask it before any work: HTTP with the `Authorization` header, gRPC with
/// the `authorization` metadata (both `Bearer KEY`). Its refusals are `GatewayError`s, so
/// each API answers them the way it answers every other error (401 / UNAUTHENTICATED,
/// 429 / RESOURCE_EXHAUSTED).
struct APIKeyAuthenticator: Sendable {
    enum Mode: Sendable {
        /// Keys required (the default).
        case keys(KeyDirectory)
        /// `--no-auth`: anyone may call (development only; the gateway warns at start).
        case open
    }

    let mode: Mode
    let limiter = KeyLimiter()
    /// Where finished requests' usage is written to the store (off the request's path).
    let background: BackgroundWork
    let logger: Logger

    /// The key's hold for one generation request (nil when auth is off), or the refusal:
    /// no key, an unknown or revoked one, or one over a limit.
    func admit(authorization: String?) async throws(GatewayError) -> KeyTicket? {
        guard case .keys(let directory) = mode else { return nil }
        let key = try await authenticate(authorization, directory)
        if case .failure(let refusal) = limiter.admit(key) {
            GatewayMetrics.keyRefused(reason: "rate_limited")
            throw refusal
        }
        let store = directory.store
        let logger = self.logger
        let background = self.background
        return KeyTicket(key: key, limiter: limiter) { usage in
            background.submit {
                do {
                    try await Offload.run { try store.addUsage(keyID: key.id, usage) }
                } catch {
                    logger.warning(
                        "could not record an API key's usage",
                        metadata: ["key": "\(key.id)", "error": "\(error)"])
                }
            }
        }
    }

    /// Checks the caller holds a live key, for requests that generate nothing (model lists).
    func check(authorization: String?) async throws(GatewayError) {
        guard case .keys(let directory) = mode else { return }
        _ = try await authenticate(authorization, directory)
    }

    private func authenticate(_ authorization: String?, _ directory: KeyDirectory)
        async throws(GatewayError) -> APIKeyRecord
    {
        guard let secret = Self.bearerToken(authorization) else {
            GatewayMetrics.keyRefused(reason: "missing")
            throw GatewayError(
                .unauthenticated,
                "no API key provided: send it as 'Authorization: Bearer KEY' (HTTP) or "
                    + "'authorization: Bearer KEY' metadata (gRPC); `tessera keys create` makes one"
            )
        }
        let record: APIKeyRecord?
        do {
            record =
                APIKeySecret.isWellFormed(secret)
                ? try await directory.record(forSecret: secret) : nil
        } catch {
            logger.error("the API key store cannot be read", metadata: ["error": "\(error)"])
            throw GatewayError(
                .unavailable, "the gateway cannot check API keys right now; retry shortly",
                retryAfter: .seconds(2))
        }
        guard let record else {
            GatewayMetrics.keyRefused(reason: "unknown")
            throw GatewayError(
                .unauthenticated,
                "incorrect API key provided: \(APIKeySecret.displayPrefix(secret))…")
        }
        guard !record.revoked else {
            GatewayMetrics.keyRefused(reason: "revoked")
            throw GatewayError(
                .unauthenticated, "the API key '\(record.name)' (\(record.id)) has been revoked")
        }
        return record
    }

    /// The token of `Bearer TOKEN` (the scheme in any case, as RFC 9110 has it), or nil.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
        let token = trimmed.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Whether the gateway requires API keys, and where it finds them.
public enum APIKeyPolicy: Sendable, Equatable {
    /// Keys from the store at this path (`tessera keys` writes it).
    case store(path: String)
    /// Anyone may call: `--no-auth`, for development.
    case open
}

extension APIKeyAuthenticator {
    init(_ policy: APIKeyPolicy, background: BackgroundWork, logger: Logger) throws {
        switch policy {
        case .store(let path):
            self.init(
                mode: .keys(KeyDirectory(store: try APIKeyStore(path: path))),
                background: background, logger: logger)
        case .open:
            self.init(mode: .open, background: background, logger: logger)
        }
    }
}
