/// Per-conversation state of one stage: the KV cache of its layers and the next position.
///
/// The cache is reserved for the whole context up front; the OS only backs the pages that
/// are written, so resident memory grows with the tokens actually processed.
/// A session belongs to the stage that made it and must not be used by two threads at once.
// @unchecked: the KV buffers are mutable raw memory; a session is used by one task at a
// time (the worker runs its steps in order on the shard's queue), which the type cannot state.
public final class StageSession: @unchecked Sendable {
    public let contextLength: Int
    public let precision: KVCachePrecision
    /// Number of tokens already in the cache, i.e. the position of the next token.
    public internal(set) var position = 0
    /// Bytes reserved for keys and values (all layers of the stage, whole context).
    public let cacheBytes: Int

    let layerCount: Int
    let kvWidth: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    let ownerID: ObjectIdentifier

    init(
        owner: AnyObject, layerCount: Int, kvWidth: Int, contextLength: Int,
        precision: KVCachePrecision
    ) {
        self.contextLength = contextLength
        self.precision = precision
        self.layerCount = layerCount
        self.kvWidth = kvWidth
        ownerID = ObjectIdentifier(owner)
        let bytes = layerCount * contextLength * kvWidth * precision.bytesPerValue
        keys = .allocate(byteCount: max(bytes, 1), alignment: 64)
        values = .allocate(byteCount: max(bytes, 1), alignment: 64)
        cacheBytes = 2 * bytes
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

    /// Byte offset of `layer`'s (0-based within the stage) entry at `position`.
    @inline(__always) func offset(layer: Int, position: Int) -> Int {
        (layer * contextLength + position) * kvWidth * precision.bytesPerValue
    }

    /// Stores one token's keys and values (kvWidth floats each), converting to the cache precision.
    func store(
        layer: Int, position: Int, keys newKeys: UnsafePointer<Float>,
        values newValues: UnsafePointer<Float>
    ) {
        let at = offset(layer: layer, position: position)
        switch precision {
        case .f32:
            Float.store(newKeys, count: kvWidth, to: keys + at)
            Float.store(newValues, count: kvWidth, to: values + at)
        case .f16:
            Float16.store(newKeys, count: kvWidth, to: keys + at)
            Float16.store(newValues, count: kvWidth, to: values + at)
        }
    }
}
