/// Ways a worker can cheat, for testing the verifier's detection (its detection matrix): only
/// the test-only `tessera-faulty-worker` executable and in-process tests can turn them on, through
/// `buildInferenceWorker(_:logger:faults:)`, which is `package`: the production
/// `inference-worker` has no flag, variable or API that reaches it.
package struct WorkerFaults: Sendable, Equatable {
    package enum Fault: Sendable, Equatable {
        /// The stage runs as if layer N (global index) were absent: its attention output and
        /// feed-forward down projection weigh zero (a modified copy of the shard file).
        case skipLayer(Int)
        /// 3-bit weights: every Q4_0/Q4_1 quant loses its lowest bit (same mechanism).
        case lowBit
        /// Another shard's weights: layers A and B of the model trade all their tensors (real
        /// weights of the right model, in the wrong places; same mechanism).
        case swapLayers(Int, Int)
        /// The first stage computes on a prompt whose first token is another one, while its
        /// commitment names the tokens it was sent (a prompt changed on its way in).
        case tamperPrompt
        /// Gaussian noise of `relative` × each row's RMS on the stage's output (hidden states,
        /// or the last stage's logits), before the commitment: a wrong computation that
        /// commits honestly to what it computed.
        case noise(relative: Double)
        /// One value of the hidden states sent on changes after the commitment was made: the
        /// next stage's input digest no longer matches this stage's output digest.
        case tamperOutput
        /// The last stage sends (and commits to) the most likely other token instead of the
        /// sampled one on every Nth step.
        case wrongTokenEvery(Int)
        /// Commitments are signed with a fresh key, not the registered one.
        case forgeSignature
        /// Every step after a session's first carries the first step's commitments again.
        case replayCommitment
    }

    package var faults: [Fault]
    /// Steps this worker serves honestly (counted over all its sessions) before the runtime
    /// faults start. The weight faults (`skipLayer`, `lowBit`) hold from the shard's load on.
    package var after: Int

    package init(_ faults: [Fault], after: Int = 0) {
        self.faults = faults
        self.after = after
    }

    /// Layers whose contribution is zeroed, and whether the quants lose a bit: the shard file
    /// transform these faults need (nil: the shard is loaded as it is).
    var weights: ShardWeightFaults? {
        var weights = ShardWeightFaults()
        for fault in faults {
            switch fault {
            case .skipLayer(let layer): weights.skippedLayers.insert(layer)
            case .lowBit: weights.lowBit = true
            case .swapLayers(let a, let b): weights.swappedLayers.append([a, b])
            default: break
            }
        }
        return weights.isEmpty ? nil : weights
    }
}

extension WorkerFaults.Fault {
    /// `KIND[=VALUE]` as `--fault` takes it: `skip-layer=N`, `low-bit`, `noise=R`,
    /// `tamper-output`, `wrong-token-every=N`, `forge-signature`, `replay-commitment`.
    package init(parsing text: String) throws(FaultSyntaxError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let kind = parts.first ?? ""
        let value = parts.count > 1 ? parts[1] : nil
        func integer(atLeast minimum: Int) throws(FaultSyntaxError) -> Int {
            guard let value, let number = Int(value), number >= minimum else {
                throw FaultSyntaxError(text, "\(kind) needs =N with N >= \(minimum)")
            }
            return number
        }
        func none() throws(FaultSyntaxError) {
            guard value == nil else { throw FaultSyntaxError(text, "\(kind) takes no value") }
        }
        switch kind {
        case "skip-layer": self = .skipLayer(try integer(atLeast: 0))
        case "low-bit":
            try none()
            self = .lowBit
        case "noise":
            guard let value, let relative = Double(value), relative.isFinite, relative > 0 else {
                throw FaultSyntaxError(
                    text, "noise needs =R with R > 0 (relative to each row's RMS)")
            }
            self = .noise(relative: relative)
        case "tamper-output":
            try none()
            self = .tamperOutput
        case "swap-layers":
            let layers = (value ?? "").split(separator: ",").compactMap { Int($0) }
            guard layers.count == 2, layers.allSatisfy({ $0 >= 0 }), layers[0] != layers[1] else {
                throw FaultSyntaxError(text, "swap-layers needs =A,B: two different layers")
            }
            self = .swapLayers(layers[0], layers[1])
        case "tamper-prompt":
            try none()
            self = .tamperPrompt
        case "wrong-token-every": self = .wrongTokenEvery(try integer(atLeast: 1))
        case "forge-signature":
            try none()
            self = .forgeSignature
        case "replay-commitment":
            try none()
            self = .replayCommitment
        default:
            throw FaultSyntaxError(
                text,
                "unknown fault; one of skip-layer=N, low-bit, swap-layers=A,B, noise=R, "
                    + "tamper-output, tamper-prompt, wrong-token-every=N, forge-signature, "
                    + "replay-commitment")
        }
    }
}

extension WorkerFaults: CustomStringConvertible {
    /// As the flags say it: `skip-layer=3 forge-signature (after 10 steps)`.
    package var description: String {
        faults.map(\.description).joined(separator: " ")
            + (after > 0 ? " (after \(after) steps)" : "")
    }
}

extension WorkerFaults.Fault: CustomStringConvertible {
    package var description: String {
        switch self {
        case .skipLayer(let layer): "skip-layer=\(layer)"
        case .lowBit: "low-bit"
        case .swapLayers(let a, let b): "swap-layers=\(a),\(b)"
        case .tamperPrompt: "tamper-prompt"
        case .noise(let relative): "noise=\(relative)"
        case .tamperOutput: "tamper-output"
        case .wrongTokenEvery(let every): "wrong-token-every=\(every)"
        case .forgeSignature: "forge-signature"
        case .replayCommitment: "replay-commitment"
        }
    }
}

package struct FaultSyntaxError: Error, CustomStringConvertible {
    package let text: String
    package let reason: String

    init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    package var description: String { "--fault \(text): \(reason)" }
}
