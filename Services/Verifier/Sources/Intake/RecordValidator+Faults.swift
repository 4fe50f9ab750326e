import Integrity

// The worker-level checks: each finds the first commitment whose signer contradicts
// itself, another stage or the record, and pins the failure on that signer.
extension RecordValidator {
    /// Every commitment verifies with its worker's pinned key. Not proven: a signature that
    /// does not verify is not the worker's statement.
    func signatureFault(_ record: ReceiptRecord) -> WorkerFault? {
        for commitment in record.leaves {
            guard let key = workerKeys[commitment.workerID] else { continue }
            if !commitment.hasValidSignature(publicKey: key) {
                return WorkerFault(
                    workerID: commitment.workerID, layers: commitment.layers,
                    reason: "commitment \(commitment.label): the signature does not verify "
                        + "with the worker's pinned key",
                    proven: false)
            }
        }
        return nil
    }

    /// A commitment passed off twice: the same signature twice in the record or already in
    /// another receipt, or a session id other than the rest of its attempt's (each attempt
    /// is one session on one pipeline; the odd one out was made for another).
    func replayedCommitment(_ record: ReceiptRecord) -> WorkerFault? {
        var seen: Set<[UInt8]> = []
        for commitment in record.leaves {
            if !seen.insert(commitment.signature).inserted {
                return replayed(commitment, "the same commitment appears twice in the record")
            }
            if storedSignatures.contains(commitment.signature) {
                return replayed(
                    commitment, "the commitment was already submitted in another receipt")
            }
        }
        var attempts: [Int: [StepCommitment]] = [:]
        var order: [Int] = []
        for chain in record.chains {
            if attempts[chain.attempt] == nil { order.append(chain.attempt) }
            attempts[chain.attempt, default: []] += chain.commitments
        }
        for attempt in order {
            let commitments = attempts[attempt] ?? []
            guard let session = Self.majoritySession(commitments) else { continue }
            if let odd = commitments.first(where: { $0.sessionID != session }) {
                return replayed(
                    odd,
                    "its session \(odd.sessionID) is not the session \(session) of the rest of "
                        + "attempt \(attempt)")
            }
        }
        return nil
    }

    /// The session most of `commitments` name (ties: the first named).
    static func majoritySession(_ commitments: [StepCommitment]) -> String? {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for commitment in commitments {
            if counts[commitment.sessionID] == nil { order.append(commitment.sessionID) }
            counts[commitment.sessionID, default: 0] += 1
        }
        var best: String?
        for session in order where best == nil || counts[session]! > counts[best!]! {
            best = session
        }
        return best
    }

    private func replayed(_ commitment: StepCommitment, _ why: String) -> WorkerFault {
        WorkerFault(
            workerID: commitment.workerID, layers: commitment.layers,
            reason: "replayed commitment \(commitment.label): \(why)", proven: true)
    }

    /// Each commitment names the shard the receipt's stage (the scheduler's assignment) has:
    /// a worker that signs another ran something it was not given.
    func shardFault(_ record: ReceiptRecord) -> WorkerFault? {
        for commitment in record.leaves {
            let stages = record.receipt.stages.filter {
                $0.workerID == commitment.workerID && $0.layers == commitment.layers
            }
            if !stages.contains(where: { $0.shardSHA256 == commitment.shardSHA256 }) {
                return WorkerFault(
                    workerID: commitment.workerID, layers: commitment.layers,
                    reason: "commitment \(commitment.label) names shard "
                        + "\(commitment.shardSHA256), not the stage's "
                        + "\(stages.first?.shardSHA256 ?? "-")",
                    proven: true)
            }
        }
        return nil
    }

    /// The hash chain: a first stage read the recorded tokens at its positions, and every
    /// later stage received what the stage before it signed that it sent.
    ///
    /// When stage B's signed input differs from stage A's signed output for the same rows,
    /// the failure is pinned on A, the sending stage (see below). Which of the two lied is
    /// not provable from the signatures alone (A may have sent other bytes than it signed,
    /// B may misstate what it got), so the fault is not counted as proven: A's reputation
    /// takes it, its deposit is not slashed.
    func linkFault(_ record: ReceiptRecord) -> WorkerFault? {
        let tokens = record.promptTokens + record.outputTokens
        for chain in record.chains {
            let pieces = ChainPieces(chain)
            for commitment in chain.commitments {
                if commitment.layers.lowerBound == 0 {
                    if let why = Self.tokenInputMismatch(commitment, tokens: tokens) {
                        return WorkerFault(
                            workerID: commitment.workerID, layers: commitment.layers,
                            reason: "commitment \(commitment.label): \(why)", proven: true)
                    }
                    continue
                }
                let previous = pieces.before(commitment)
                guard !previous.contains(where: { $0.outputDigest == commitment.inputDigest })
                else { continue }
                // The sender is blamed: it signs its output after sending it, so the receiver
                // cannot refuse bytes that differ from what the sender signs, and a receiver
                // that misstates its input gains nothing (it still did the work), while a
                // sender that sends other bytes than it signs is the tampered hop this check
                // exists for. Not provable from signatures alone, so not slashed.
                guard let sender = previous.first else {
                    return WorkerFault(
                        workerID: commitment.workerID, layers: commitment.layers,
                        reason: "broken hash chain: commitment \(commitment.label) has no sender",
                        proven: false)
                }
                return WorkerFault(
                    workerID: sender.workerID, layers: sender.layers,
                    reason:
                        "broken hash chain: \(sender.workerID) (layers \(sender.layers)) signed an "
                        + "output other than the input \(commitment.workerID) (layers "
                        + "\(commitment.layers)) signed for commitment \(commitment.label)",
                    proven: false)
            }
        }
        return nil
    }

    private static func tokenInputMismatch(_ commitment: StepCommitment, tokens: [Int32])
        -> String?
    {
        let end = commitment.position + commitment.count
        guard end <= tokens.count else {
            return "it read positions up to \(end), past the record's \(tokens.count) tokens"
        }
        guard Digests.tokens(tokens[commitment.position..<end]) == commitment.inputDigest else {
            return "its input digest is not that of the recorded tokens at those positions"
        }
        return nil
    }

    /// The last stage's token for each step (the sample after the step's final piece) is the
    /// token the record holds at that position, and its output digest is that token's.
    /// Samples the gateway did not use are skipped: failover replay steps (they recompute
    /// output the record already holds), and after a failover any sample at a position an
    /// earlier attempt already produced (the new pipeline's prefill of the prompt samples the
    /// first output token again; an honest pipeline replaying a faulty one's output would
    /// disagree with it, and the gateway keeps what it sent).
    func tokenFault(_ record: ReceiptRecord) -> WorkerFault? {
        let tokens = record.promptTokens + record.outputTokens
        // Per attempt, the furthest position its last stage sampled for.
        var reached: [Int: Int] = [:]
        for chain in record.chains {
            for commitment in chain.commitments where commitment.isLastStage {
                reached[chain.attempt] = max(
                    reached[chain.attempt] ?? 0, commitment.position + commitment.count)
            }
        }
        for chain in record.chains {
            let earlier = reached.filter { $0.key < chain.attempt }.values.max() ?? -1
            var finals: [UInt64: StepCommitment] = [:]
            var order: [UInt64] = []
            for commitment in chain.commitments where commitment.isLastStage && !commitment.replay {
                guard let current = finals[commitment.step] else {
                    finals[commitment.step] = commitment
                    order.append(commitment.step)
                    continue
                }
                if commitment.position + commitment.count > current.position + current.count {
                    finals[commitment.step] = commitment
                }
            }
            for step in order {
                guard let last = finals[step] else { continue }
                let index = last.position + last.count
                // A sample past the record (an end-of-sequence token the client never got)
                // or inside the prompt (an unfinished prefill) has nothing to compare with.
                guard index >= record.promptTokens.count, index < tokens.count, index > earlier
                else { continue }
                if last.sampledToken != tokens[index] {
                    return WorkerFault(
                        workerID: last.workerID, layers: last.layers,
                        reason: "commitment \(last.label) sampled token \(last.sampledToken), "
                            + "but the record's output token \(index - record.promptTokens.count) "
                            + "is \(tokens[index])",
                        proven: true)
                }
                if last.outputDigest != StepCommitment.tokenDigest(last.sampledToken) {
                    return WorkerFault(
                        workerID: last.workerID, layers: last.layers,
                        reason: "commitment \(last.label): its output digest is not that of its "
                            + "sampled token \(last.sampledToken)",
                        proven: true)
                }
            }
        }
        return nil
    }
}
