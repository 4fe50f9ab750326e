import Foundation
import Placement

/// The worker's shard files on disk, kept within a byte budget (`--disk-budget-mb`). Before a
/// download it holds room for the new file, evicting files by Tessera's caching policy
/// (`GreedyDualSizeFrequency`, priced by what getting each back would cost: a download),
/// never one the caller protects (loaded, loading, downloading, or still used by sessions).
/// It only keeps the books; `ShardHost` deletes the files it names.
struct ShardDiskCache {
    let budgetBytes: UInt64
    /// Verified shard files by hash.
    private(set) var files: [String: UInt64] = [:]
    /// Room held for downloads under way.
    private var reserved: [String: UInt64] = [:]
    private var policy = GreedyDualSizeFrequency()
    private let reloadCost: ReloadCostModel

    init(budgetBytes: UInt64, reloadCost: ReloadCostModel = ReloadCostModel()) {
        self.budgetBytes = budgetBytes
        self.reloadCost = reloadCost
    }

    var usedBytes: UInt64 { files.values.reduce(0, +) + reserved.values.reduce(0, +) }
    var freeBytes: UInt64 { budgetBytes - min(budgetBytes, usedBytes) }

    /// Takes in a file found on disk (at start-up, or one put there by hand), unverified until
    /// a load checks its hash.
    mutating func adopt(_ sha: String, bytes: UInt64, at time: Double) {
        guard files[sha] == nil else { return }
        files[sha] = bytes
        policy.recordInsert(item(sha, bytes), at: time)
    }

    /// The shards on disk in `directory` (`<sha>.gguf`; partial downloads are not counted).
    mutating func adoptFiles(in directory: String, at time: Double) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where name.hasSuffix(".gguf") {
            let sha = String(name.dropLast(".gguf".count))
            guard sha.count == 64, sha.allSatisfy(\.isHexDigit) else { continue }
            let path = "\(directory)/\(name)"
            let size =
                ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?
                .uint64Value ?? 0
            adopt(sha, bytes: size, at: time)
        }
    }

    mutating func used(_ sha: String, at time: Double) {
        policy.recordAccess(sha, at: time)
    }

    /// Holds `bytes` for downloading `sha`; returns the files to delete first (already taken
    /// off the books). Throws `notEnoughDisk` when evicting every unprotected file would not
    /// make room.
    mutating func reserve(
        _ sha: String, bytes: UInt64, protected: Set<String>, at time: Double
    ) throws(WorkerError) -> [String] {
        guard bytes <= budgetBytes else {
            throw .notEnoughDisk(
                "shard \(sha) needs \(bytes >> 20) MiB of disk, more than the worker's whole "
                    + "\(budgetBytes >> 20) MiB disk budget (--disk-budget-mb)")
        }
        let resident = files.map { item($0.key, $0.value) }
        guard
            let victims = policy.victims(
                toFree: Int(bytes), free: Int(freeBytes), resident: resident,
                protected: protected.union(reserved.keys), at: time)
        else {
            let held = files.filter { protected.contains($0.key) }.values.reduce(0, +)
            throw .notEnoughDisk(
                "shard \(sha) needs \(bytes >> 20) MiB of disk but only \(freeBytes >> 20) MiB of "
                    + "the worker's \(budgetBytes >> 20) MiB disk budget is free, and "
                    + "\(held >> 20) MiB are shards loaded or in use, which are never evicted")
        }
        for victim in victims { forget(victim, at: time) }
        reserved[sha] = bytes
        return victims
    }

    /// The download finished and verified: its reservation becomes a file of `bytes`.
    mutating func stored(_ sha: String, bytes: UInt64, at time: Double) {
        reserved[sha] = nil
        files[sha] = nil
        adopt(sha, bytes: bytes, at: time)
    }

    /// The download failed: its room is free again.
    mutating func cancelled(_ sha: String) { reserved[sha] = nil }

    /// The file is gone (evicted, or deleted as damaged).
    mutating func forget(_ sha: String, at time: Double) {
        guard files.removeValue(forKey: sha) != nil else { return }
        policy.recordEviction(sha, at: time)
    }

    /// Files to drop to get back within the budget (after a download whose size was not
    /// known up front); as many as possible when the protected ones keep it over.
    mutating func overflow(protected: Set<String>, at time: Double) -> [String] {
        guard usedBytes > budgetBytes else { return [] }
        let over = Int(usedBytes - budgetBytes)
        let resident = files.map { item($0.key, $0.value) }
        let victims =
            policy.victims(
                toFree: over, free: 0, resident: resident,
                protected: protected.union(reserved.keys), at: time)
            ?? resident.map(\.key).filter { !protected.contains($0) && reserved[$0] == nil }
        for victim in victims { forget(victim, at: time) }
        return victims
    }

    private func item(_ sha: String, _ bytes: UInt64) -> CachedItem {
        reloadCost.item(key: sha, bytes: Int(bytes), onDisk: false)
    }
}
