/// Per-conversation state of one stage: the KV cache of its layers and the next position.
///
/// The cache is reserved for the whole context up front; the OS only backs the pages that
/// are written, so resident memory grows with the tokens actually processed.
/// A session belongs to the stage that made it and must not be used by two threads at once.
public final class StageSession: @unchecked Sendable {
    public let contextLength: Int
    /// Number of tokens already in the cache, i.e. the position of the next token.
    public internal(set) var position = 0
    /// Bytes reserved for keys and values (all layers of the stage, whole context).
    public let cacheBytes: Int

    let layerCount: Int
    let kvWidth: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    let ownerID: ObjectIdentifier

    init(owner: AnyObject, layerCount: Int, kvWidth: Int, contextLength: Int) {
        self.contextLength = contextLength
        self.layerCount = layerCount
        self.kvWidth = kvWidth
        ownerID = ObjectIdentifier(owner)
        let elements = layerCount * contextLength * kvWidth
        keys = .allocate(capacity: max(elements, 1))
        values = .allocate(capacity: max(elements, 1))
        cacheBytes = 2 * elements * MemoryLayout<Float>.stride
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Forgets all tokens.
    public func reset() {
        position = 0
    }

    /// Keeps only the first `length` tokens (e.g. to rewind rejected speculative tokens).
    public func truncate(to length: Int) {
        position = min(position, max(0, length))
    }

    /// Start of the keys (or values) of `layer` (0-based within the stage) at `position`.
    @inline(__always) func keyRow(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys + (layer * contextLength + position) * kvWidth
    }

    @inline(__always) func valueRow(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values + (layer * contextLength + position) * kvWidth
    }
}
