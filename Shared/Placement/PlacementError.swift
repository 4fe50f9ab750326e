/// Why no plan could be made, in terms an operator can act on.
public enum PlacementError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The inputs are malformed (empty model, duplicate worker id, non-positive speed, …).
    case invalidInput(String)
    /// No worker was offered.
    case noWorkers
    /// Some layer (with the embedding or head it must carry) fits on no worker even alone.
    /// The numbers are for the worker that comes closest.
    case layerTooLarge(layer: Int, neededBytes: Int, budgetBytes: Int)
    /// All usable workers together hold less than the model needs.
    case insufficientMemory(neededBytes: Int, availableBytes: Int)
    /// Enough memory in total, but no set of distinct workers holds contiguous ranges that
    /// cover every layer (memory is too fragmented across small workers).
    case fragmented(workersUsable: Int, layers: Int)
    /// The search budget ran out before any complete pipeline was found.
    case searchBudgetExhausted(nodes: Int)
    /// More usable workers than one search handles.
    case tooManyWorkers(count: Int, limit: Int)

    public var shortByBytes: Int? {
        if case .insufficientMemory(let needed, let available) = self { return needed - available }
        return nil
    }

    public var description: String {
        switch self {
        case .invalidInput(let why):
            return "invalid placement input: \(why)"
        case .noWorkers:
            return "no workers to place the model on"
        case .layerTooLarge(let layer, let needed, let budget):
            return
                "layer \(layer) fits on no worker: on the closest fit it needs \(needed) bytes (weights + KV "
                + "reserve) against a budget of \(budget) bytes; short by \(needed - budget) bytes"
        case .insufficientMemory(let needed, let available):
            return
                "total memory short by \(needed - available) bytes: the model needs at least \(needed) bytes "
                + "(weights + KV reserve) but usable workers offer \(available)"
        case .fragmented(let workers, let layers):
            return
                "memory suffices in total, but no \(workers) distinct workers can hold contiguous ranges "
                + "covering all \(layers) layers (too fragmented)"
        case .searchBudgetExhausted(let nodes):
            return
                "no pipeline found within the search budget of \(nodes) nodes; raise maxSearchNodes"
        case .tooManyWorkers(let count, let limit):
            return "\(count) usable workers exceed the search limit of \(limit)"
        }
    }
}
