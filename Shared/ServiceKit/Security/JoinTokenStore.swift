import Foundation

/// The join tokens of one cluster: `join-tokens.json` in the certificate directory that holds
/// the CA key (`tessera certs join-token` adds to it, the scheduler spends from it), so
/// tokens survive a restart of either. Only each secret's SHA-256 is kept. Every change
/// happens under an exclusive `flock` on `join-tokens.lock`, so the CLI and the scheduler
/// (or two enrollments at once) never lose each other's updates, and a token is spent once.
public struct JoinTokenStore: Sendable {
    public static let fileName = "join-tokens.json"

    /// One token as stored.
    public struct Record: Codable, Sendable, Equatable {
        public var id: String
        public var secretSHA256: String
        /// The certificate name the token enrolls; nil: the name the worker asks for.
        public var name: String?
        public var created: Date
        public var expires: Date
        public var usedAt: Date?
        public var usedBy: String?
    }

    let directory: CertificateDirectory

    public init(directory: CertificateDirectory) {
        self.directory = directory
    }

    var path: String { directory.file(Self.fileName) }
    var lockPath: String { directory.file("join-tokens.lock") }

    /// Makes a token valid for `lifetime` seconds, for the certificate name `name` if given.
    public func create(name: String?, lifetime: TimeInterval, now: Date = Date()) throws
        -> JoinToken
    {
        if let name { try CertificateDirectory.checkFileName(name) }
        guard directory.hasAuthorityKey else {
            throw EnrollmentError.noAuthorityKey(directory.path)
        }
        let token = JoinToken.generate(authorityFingerprint: try directory.authority().fingerprint)
        try locked { records in
            // Spent and expired tokens are kept a day, so a late `Enroll` gets the real reason.
            records.removeAll { $0.expires.addingTimeInterval(86400) < now }
            records.append(
                Record(
                    id: token.id, secretSHA256: JoinToken.hash(secret: token.secret), name: name,
                    created: now, expires: now.addingTimeInterval(lifetime)))
        }
        return token
    }

    /// Spends the token `id` with `secret` on a certificate name: the token's own name,
    /// else `requestedName`. Refused when the token is unknown, used or expired, or the name
    /// is revoked or already enrolled; otherwise the token is marked used before this returns.
    public func spend(id: String, secret: String, requestedName: String, now: Date = Date())
        throws -> String
    {
        let revoked = RevocationList.read(directory.revocationListPath)
        return try locked { records in
            guard let index = records.firstIndex(where: { $0.id == id }),
                records[index].secretSHA256 == JoinToken.hash(secret: secret)
            else { throw EnrollmentError.unknownToken(id: id) }
            let record = records[index]
            if let usedBy = record.usedBy { throw EnrollmentError.tokenUsed(id: id, by: usedBy) }
            guard now < record.expires else { throw EnrollmentError.tokenExpired(id: id) }
            let name = record.name ?? requestedName
            do {
                try CertificateDirectory.checkFileName(name)
            } catch {
                throw EnrollmentError.badName(name)
            }
            guard !revoked.contains(name) else { throw EnrollmentError.revoked(name: name) }
            // A name is one machine: enrolling it twice would let a second machine act as
            // the first (and revoking one would revoke both).
            if directory.hasCertificate(name) || records.contains(where: { $0.usedBy == name }) {
                throw EnrollmentError.nameTaken(name: name)
            }
            records[index].usedAt = now
            records[index].usedBy = name
            return name
        }
    }

    /// The stored tokens (for tests and listings).
    public func records() throws -> [Record] {
        try locked { records in records }
    }

    /// Runs `body` on the records with the lock held, and writes them back if it changed them.
    private func locked<Result>(_ body: (inout [Record]) throws -> Result) throws -> Result {
        let descriptor = open(lockPath, O_CREAT | O_RDWR, 0o600)
        guard descriptor >= 0 else {
            throw EnrollmentError.store("cannot open \(lockPath): errno \(errno)")
        }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else {
            throw EnrollmentError.store("cannot lock \(lockPath): errno \(errno)")
        }
        defer { flock(descriptor, LOCK_UN) }
        let before = try load()
        var records = before
        let result = try body(&records)
        if records != before { try save(records) }
        return result
    }

    private func load() throws -> [Record] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode([Record].self, from: data)
        } catch {
            throw EnrollmentError.store("\(path) is not a token list: \(error)")
        }
    }

    private func save(_ records: [Record]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(records)
        // Written beside and renamed over, so a crash never leaves half a file; 0600 because
        // the hashes, though useless for enrolling, are nobody else's business.
        let temporary = path + ".tmp"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw EnrollmentError.store("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else {
            throw EnrollmentError.store("cannot replace \(path): errno \(errno)")
        }
    }
}
