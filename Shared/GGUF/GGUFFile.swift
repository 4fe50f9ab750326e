#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A parsed GGUF file whose tensor bytes stay in place: memory-mapped read-only when opened
/// from a path, or an owned copy when built from bytes. Immutable after init.
// @unchecked: holds a raw pointer into the mapping (or its own copy); nothing is written after
// init, and the mapping lives as long as the object.
public final class GGUFFile: @unchecked Sendable {
    public let version: UInt32
    public let alignment: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute byte offset of the aligned tensor-data section.
    public let dataOffset: Int
    public let fileSize: Int

    private let storage: Storage
    private let tensorIndex: [String: Int]

    /// Maps the file read-only and parses its header. Throws `GGUFError` for unreadable or malformed files.
    public convenience init(path: String) throws {
        try self.init(storage: Storage(mappingFileAt: path))
    }

    /// Parses an in-memory GGUF image (the bytes are copied).
    public convenience init(bytes: [UInt8]) throws {
        try self.init(storage: Storage(copying: bytes))
    }

    private init(storage: Storage) throws {
        let header = try GGUFHeaderParser.parse(storage.buffer)
        self.storage = storage
        version = header.version
        alignment = header.alignment
        metadata = header.metadata
        metadataKeys = header.metadataKeys
        tensors = header.tensors
        dataOffset = header.dataOffset
        fileSize = storage.buffer.count
        var index: [String: Int] = [:]
        for (position, tensor) in header.tensors.enumerated() { index[tensor.name] = position }
        tensorIndex = index
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes, valid while this `GGUFFile` lives. A tensor info that does not fit
    /// this file (for example one taken from another file) yields an empty buffer.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.offset
        guard tensor.offset >= 0, tensor.byteCount >= 0, start <= fileSize - tensor.byteCount else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(rebasing: storage.buffer[start..<(start + tensor.byteCount)])
    }

    /// All bytes of the file (header included), valid while this `GGUFFile` lives.
    public var rawBytes: UnsafeRawBufferPointer { storage.buffer }
}

/// Owns the file image: either an mmap'd region or a heap copy, released on deinit.
private final class Storage {
    let buffer: UnsafeRawBufferPointer
    private let release: (UnsafeRawBufferPointer) -> Void

    init(copying bytes: [UInt8]) {
        let copy = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, let target = copy.baseAddress {
                target.copyMemory(from: base, byteCount: source.count)
            }
        }
        buffer = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(copy)[0..<bytes.count])
        release = { _ in copy.deallocate() }
    }

    init(mappingFileAt path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw GGUFError.cannotOpen(path: path, reason: Self.errnoText())
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw GGUFError.cannotOpen(path: path, reason: Self.errnoText())
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else {
            throw GGUFError.truncated(what: "magic", offset: 0, needed: 4, available: 0)
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0),
            mapped != MAP_FAILED
        else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(Self.errnoText())")
        }
        buffer = UnsafeRawBufferPointer(start: mapped, count: size)
        release = { region in
            _ = munmap(UnsafeMutableRawPointer(mutating: region.baseAddress), region.count)
        }
    }

    deinit { release(buffer) }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
