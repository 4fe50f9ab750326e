import Crypto

/// A Merkle tree over byte strings with RFC 6962's hashing (certificate transparency):
/// leaves hash as SHA-256(0x00 ‖ leaf), inner nodes as SHA-256(0x01 ‖ left ‖ right), and a
/// tree of n leaves splits at the largest power of two below n. The domain bytes keep a leaf
/// from passing as an inner node. An empty tree's root is SHA-256 of nothing.
public struct MerkleTree: Sendable {
    public let leafHashes: [[UInt8]]

    public init(leaves: [[UInt8]]) {
        leafHashes = leaves.map(Self.leafHash)
    }

    public var root: [UInt8] { Self.root(leafHashes[...]) }

    /// Sibling hashes from the leaf up: RFC 6962's audit path for leaf `index`.
    public func auditPath(forLeaf index: Int) -> [[UInt8]] {
        precondition(leafHashes.indices.contains(index), "leaf \(index) of \(leafHashes.count)")
        return Self.path(index, leafHashes[...])
    }

    /// Recomputes the root from a leaf and its audit path (RFC 9162, 2.1.3.2).
    public static func verify(
        leaf: [UInt8], index: Int, leafCount: Int, path: [[UInt8]], root: [UInt8]
    ) -> Bool {
        guard index >= 0, index < leafCount else { return false }
        var fn = index
        var sn = leafCount - 1
        var hash = leafHash(leaf)
        for sibling in path {
            guard sibling.count == 32, sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                hash = nodeHash(sibling, hash)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                hash = nodeHash(hash, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && hash == root
    }

    public static func leafHash(_ leaf: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: leaf)
        return Array(hasher.finalize())
    }

    static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [1])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    private static func split(_ count: Int) -> Int {
        var k = 1
        while k << 1 < count { k <<= 1 }
        return k
    }

    private static func root(_ hashes: ArraySlice<[UInt8]>) -> [UInt8] {
        switch hashes.count {
        case 0: return Array(SHA256.hash(data: [UInt8]()))
        case 1: return hashes[hashes.startIndex]
        default:
            let k = split(hashes.count)
            let middle = hashes.startIndex + k
            return nodeHash(root(hashes[..<middle]), root(hashes[middle...]))
        }
    }

    private static func path(_ index: Int, _ hashes: ArraySlice<[UInt8]>) -> [[UInt8]] {
        guard hashes.count > 1 else { return [] }
        let k = split(hashes.count)
        let middle = hashes.startIndex + k
        if index < k {
            return path(index, hashes[..<middle]) + [root(hashes[middle...])]
        }
        return path(index - k, hashes[middle...]) + [root(hashes[..<middle])]
    }
}
