import Synchronization

/// Where last stages leave the answers to steps asked to answer directly, and where the
/// gateway's `Answers` stream picks them up, by session id (docs/generation-protocol.md,
/// "Direct answers"). The gateway opens its `Answers` stream while the first stage is still
/// opening the pipeline, so either side may come first: whichever does makes the entry.
///
/// An entry ends with the session (its stream finishes, so the gateway's call ends OK) or
/// with the gateway's call, whichever is last; answers of a session no one collects are
/// dropped with it.
final class AnswerBoard: Sendable {
    typealias Answers = AsyncStream<StepResult>

    private struct Entry {
        let answers: Answers
        let sink: Answers.Continuation
        var collected = false
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// A last stage's answer to a direct step of `session`.
    func post(_ answer: StepResult, session: String) {
        let sink = entries.withLock { entries in
            if entries[session] == nil { entries[session] = Self.entry() }
            return entries[session]!.sink
        }
        sink.yield(answer)
    }

    /// The last stage's session ended: its answers stream finishes after what it holds.
    func sessionEnded(_ session: String) {
        let sink = entries.withLock { entries -> Answers.Continuation? in
            guard let entry = entries[session] else { return nil }
            // A collected entry stays until the gateway's call ends (`release`).
            if !entry.collected { entries[session] = nil }
            return entry.sink
        }
        sink?.finish()
    }

    /// The answers of `session` for the gateway's `Answers` call; nil when another call
    /// already collects them.
    func collect(_ session: String) -> Answers? {
        entries.withLock { entries in
            var entry = entries[session] ?? Self.entry()
            guard !entry.collected else { return nil }
            entry.collected = true
            entries[session] = entry
            return entry.answers
        }
    }

    /// The gateway's call for `session` ended.
    func release(_ session: String) {
        let sink = entries.withLock { $0.removeValue(forKey: session)?.sink }
        sink?.finish()
    }

    private static func entry() -> Entry {
        let (answers, sink) = Answers.makeStream()
        return Entry(answers: answers, sink: sink)
    }
}
