import Testing

@testable import Integrity

/// RFC 6962 hashing checked against the reference vectors of certificate transparency's
/// test suite (the eight-leaf tree of RFC 9162's examples), and audit paths against a
/// recomputed root for every tree size up to 33.
@Suite struct MerkleTreeTests {
    /// The leaves of the CT reference tree (merkle_tree_test.cc's kTestLeaves).
    static let leaves: [[UInt8]] = [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ].map { Digests.bytes(hex: $0)! }

    /// kSHA256Roots: the root after each of the first 1...8 leaves.
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    @Test func rootsMatchTheReferenceTree() {
        for count in 1...8 {
            let tree = MerkleTree(leaves: Array(Self.leaves.prefix(count)))
            #expect(Digests.hex(tree.root) == Self.roots[count - 1], "tree of \(count) leaves")
        }
    }

    @Test func emptyTreeRootIsTheHashOfNothing() {
        #expect(
            Digests.hex(MerkleTree(leaves: []).root)
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func everyAuditPathVerifiesAndNoWrongOneDoes() {
        for count in 1...33 {
            let leaves = (0..<count).map { [UInt8(truncatingIfNeeded: $0), 7] }
            let tree = MerkleTree(leaves: leaves)
            let root = tree.root
            for index in 0..<count {
                let path = tree.auditPath(forLeaf: index)
                #expect(
                    MerkleTree.verify(
                        leaf: leaves[index], index: index, leafCount: count, path: path, root: root)
                )
                // Another leaf, another index or a shorter path must not verify.
                #expect(
                    !MerkleTree.verify(
                        leaf: [99, 99], index: index, leafCount: count, path: path, root: root))
                if count > 1 {
                    #expect(
                        !MerkleTree.verify(
                            leaf: leaves[index], index: (index + 1) % count, leafCount: count,
                            path: path, root: root))
                    #expect(
                        !MerkleTree.verify(
                            leaf: leaves[index], index: index, leafCount: count,
                            path: Array(path.dropLast()), root: root))
                }
            }
        }
    }
}
