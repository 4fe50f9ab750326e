/// One worker of the cache simulation: models in memory (ranked by the policy under test),
/// models on disk (least recently used goes first; a model in memory never leaves the disk),
/// and a load queue (one load at a time).
struct SimulatedWorker {
    let memoryBudget: Int
    let diskBudget: Int
    var policy: any CachePolicy
    var memory: [String: CachedItem] = [:]
    var memoryUsed = 0
    var readyAt: [String: Double] = [:]
    var loadedAt: [String: Double] = [:]
    var busyUntil: [String: Double] = [:]
    var disk: [String: Int] = [:]
    var diskUsed = 0
    var diskPolicy = LeastRecentlyUsed()
    var loadFreeAt = 0.0

    init(memoryBudget: Int, diskBudget: Int, policy: any CachePolicy) {
        self.memoryBudget = memoryBudget
        self.diskBudget = diskBudget
        self.policy = policy
    }

    /// What must not be evicted at `time`: models serving or loading, and models inside
    /// their minimum keep-alive.
    func hardProtected(at time: Double, keepAlive: Double) -> Set<String> {
        var keys: Set<String> = []
        for key in memory.keys {
            let busy = (busyUntil[key] ?? 0) > time
            let loading = (readyAt[key] ?? 0) > time
            let young = (loadedAt[key] ?? 0) + keepAlive > time
            if busy || loading || young { keys.insert(key) }
        }
        return keys
    }

    func memoryVictims(for bytes: Int, protected: Set<String>, at time: Double) -> [String]? {
        guard bytes <= memoryBudget else { return nil }
        return policy.victims(
            toFree: bytes, free: memoryBudget - memoryUsed, resident: Array(memory.values),
            protected: protected, at: time)
    }

    mutating func evictFromMemory(_ key: String, at time: Double) {
        guard let item = memory.removeValue(forKey: key) else { return }
        memoryUsed -= item.bytes
        policy.recordEviction(key, at: time)
        readyAt[key] = nil
        loadedAt[key] = nil
        busyUntil[key] = nil
    }

    /// Puts a downloaded model on disk, evicting unloaded ones; false when it cannot fit.
    mutating func storeOnDisk(_ key: String, bytes: Int, at time: Double) -> Bool {
        if disk[key] != nil { return true }
        let resident = disk.map { CachedItem(key: $0.key, bytes: $0.value, reloadSeconds: 0) }
        guard bytes <= diskBudget,
            let victims = diskPolicy.victims(
                toFree: bytes, free: diskBudget - diskUsed, resident: resident,
                protected: Set(memory.keys), at: time)
        else { return false }
        for victim in victims {
            diskUsed -= disk.removeValue(forKey: victim) ?? 0
            diskPolicy.recordEviction(victim, at: time)
        }
        disk[key] = bytes
        diskUsed += bytes
        diskPolicy.recordInsert(CachedItem(key: key, bytes: bytes, reloadSeconds: 0), at: time)
        return true
    }

    /// Starts loading `item` (room already made); returns when it is ready.
    mutating func load(_ item: CachedItem, at time: Double) -> Double {
        let start = max(time, loadFreeAt)
        let ready = start + item.reloadSeconds
        loadFreeAt = ready
        memory[item.key] = item
        memoryUsed += item.bytes
        readyAt[item.key] = ready
        loadedAt[item.key] = ready
        policy.recordInsert(item, at: time)
        diskPolicy.recordAccess(item.key, at: time)
        return ready
    }
}
