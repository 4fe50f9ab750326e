import Foundation

/// One API key as the store keeps it: never the secret itself, only its SHA-256.
public struct APIKeyRecord: Sendable, Equatable {
    /// A short public handle ("key-3f9a…"), for listing, revoking and the admission queue.
    public var id: String
    public var name: String
    /// The first characters of the secret ("tsk-AbCd"), so a user can tell keys apart.
    public var prefix: String
    public var created: Date
    public var revoked: Bool
    public var limits: APIKeyLimits
    public var usage: APIKeyUsage

    public init(
        id: String, name: String, prefix: String, created: Date, revoked: Bool = false,
        limits: APIKeyLimits, usage: APIKeyUsage = APIKeyUsage()
    ) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.created = created
        self.revoked = revoked
        self.limits = limits
        self.usage = usage
    }
}
