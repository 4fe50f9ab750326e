import Kernels
import Synchronization
import Testing

@Suite struct ThreadPoolTests {
    @Test(arguments: [1, 2, 5])
    func everyWorkerRunsOncePerDispatch(threads: Int) {
        let pool = ThreadPool(threads: threads)
        let total = Atomic<Int>(0)
        var counts = [Int](repeating: 0, count: threads)
        counts.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!  // each worker writes only its own slot
            for _ in 0..<2000 {
                pool.run { worker in
                    base[worker] += 1
                    total.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(counts == [Int](repeating: 2000, count: threads))
        #expect(total.load(ordering: .relaxed) == 2000 * threads)
    }

    @Test func runReturnsOnlyAfterAllWorkersFinished() {
        let pool = ThreadPool(threads: 3)
        var results = [Int](repeating: 0, count: 3)
        results.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for round in 1...500 {
                pool.run { worker in base[worker] = round }
                #expect(buffer.allSatisfy { $0 == round })
            }
        }
    }

    @Test func poolsCanBeCreatedAndDiscarded() {
        for _ in 0..<20 {
            let pool = ThreadPool(threads: 2)
            pool.run { _ in }
        }
    }
}
