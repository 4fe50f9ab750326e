/// Workers whose swap changes no cost are interchangeable: same coefficients, memory,
/// reservation and gateway links, equal links both ways between them, and equal links to and
/// from every third worker. Swaps of such pairs generate all permutations of a class, so the
/// search may use a class's members in id order only and stays exact. With catalog hardware
/// and site-based links this collapses most of the symmetric search space.
extension CostTables {
    /// Class of each worker: the index of its first interchangeable worker (in id order).
    /// Comparing with a class's first member suffices: if x~a and y~a then (x y) =
    /// (a x)(a y)(a x) is a cost-preserving swap too.
    func computeClassIDs() -> [Int] {
        var representatives: [Int] = []
        var classes = [Int](repeating: 0, count: workerCount)
        for w in 0..<workerCount {
            if let rep = representatives.first(where: { interchangeable($0, w) }) {
                classes[w] = rep
            } else {
                representatives.append(w)
                classes[w] = w
            }
        }
        return classes
    }

    /// For each worker, the previous worker (in id order) of its class, or -1.
    func interchangeablePredecessors() -> [Int] {
        var lastOfClass: [Int: Int] = [:]
        var predecessor = [Int](repeating: -1, count: workerCount)
        for w in 0..<workerCount {
            predecessor[w] = lastOfClass[classID[w]] ?? -1
            lastOfClass[classID[w]] = w
        }
        return predecessor
    }

    private func interchangeable(_ x: Int, _ y: Int) -> Bool {
        guard secondsPerByte[x] == secondsPerByte[y], secondsPerFlop[x] == secondsPerFlop[y],
            overheadSeconds[x] == overheadSeconds[y], budget[x] == budget[y],
            kvTokensReserved[x] == kvTokensReserved[y], ingressSeconds[x] == ingressSeconds[y],
            egressSeconds[x] == egressSeconds[y], linkSeconds(x, y) == linkSeconds(y, x)
        else { return false }
        for z in 0..<workerCount where z != x && z != y {
            if linkSeconds(x, z) != linkSeconds(y, z) || linkSeconds(z, x) != linkSeconds(z, y) {
                return false
            }
        }
        return true
    }
}
