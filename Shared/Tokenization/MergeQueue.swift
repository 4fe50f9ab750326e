/// A binary min-heap of candidate merges, ordered like llama.cpp's queues: by priority,
/// then by the left symbol's position.
struct MergeCandidate {
    /// Lower pops first: the BPE merge rank, or the negated SentencePiece score.
    var priority: Float
    var left: Int32
    var right: Int32
    /// What each side looked like when queued (piece id or byte length), to skip stale entries.
    var leftStamp: Int32
    var rightStamp: Int32
    /// The merged piece (BPE) or merged byte length (SentencePiece).
    var result: Int32

    @inline(__always) func precedes(_ other: MergeCandidate) -> Bool {
        if priority != other.priority { return priority < other.priority }
        return left < other.left
    }
}

struct MergeQueue {
    private var heap: [MergeCandidate] = []

    var isEmpty: Bool { heap.isEmpty }

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(_ candidate: MergeCandidate) {
        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var best = parent
                if left < heap.count && heap[left].precedes(heap[best]) { best = left }
                if right < heap.count && heap[right].precedes(heap[best]) { best = right }
                if best == parent { break }
                heap.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}
