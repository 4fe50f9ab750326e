/// How long a new request would wait for a session slot of a model whose slots are all in use,
/// so the gateway can refuse at once a request whose deadline that wait would outlast
/// (AdmissionQueue) instead of holding it in the queue until the deadline passes.
///
/// The model: the model's pipelines serve `slots` sessions at once, and a session holds its
/// slot for about `sessionLength` (measured: how long this gateway's leases were held). The
/// sessions this gateway runs now free their slots when that length has passed since they
/// started (`runningAges`); slots held by sessions the gateway does not know about (other
/// gateways') are taken to free at once. The requests ahead each take the next slot that
/// frees and hold it for `sessionLength`; the new request gets the one after them.
///
/// Its limits, all on the side of predicting too short a wait (so a request may still wait
/// and time out, but is not refused when it would have been served): generations stop early
/// or run long, and a session older than `sessionLength` counts as ending now; slots of other
/// gateways count as free; requests ahead for other models, which block the queue's head, are
/// not counted by the caller.
struct WaitPredictor: Sendable, Equatable {
    /// Sessions the model's ready pipelines serve at once (the scheduler's capacity).
    var slots: Int
    /// How long a session typically holds its slot.
    var sessionLength: Duration
    /// How long each session this gateway runs on the model has held its slot so far.
    var runningAges: [Duration]

    /// The predicted wait of a request with `ahead` requests in front of it; nil when no
    /// slot can be predicted to free (no slots).
    func wait(ahead: Int) -> Duration? {
        guard slots > 0, sessionLength > .zero else { return nil }
        // When each slot holder ends, soonest first: the known sessions after the rest of
        // their length, the unknown holders of the remaining slots at once.
        var ends: [Duration] = []
        for age in runningAges { ends.append(max(.zero, sessionLength - age)) }
        let unknownHolders = max(0, slots - runningAges.count)
        for _ in 0..<unknownHolders { ends.append(.zero) }
        ends.sort()
        // Slots free now: negative when more sessions run than the slots (leases granted
        // beyond capacity to running generations), which must end first.
        var free = slots - ends.count
        var now: Duration = .zero
        for _ in 0...max(0, ahead) {
            while free <= 0 {
                now = ends.removeFirst()
                free += 1
            }
            // The next request takes the slot and holds it for a session's length.
            free -= 1
            Self.insert(now + sessionLength, into: &ends)
        }
        return now
    }

    /// Keeps `ends` sorted.
    private static func insert(_ end: Duration, into ends: inout [Duration]) {
        var index = ends.endIndex
        while index > ends.startIndex && ends[index - 1] > end { index -= 1 }
        ends.insert(end, at: index)
    }
}
