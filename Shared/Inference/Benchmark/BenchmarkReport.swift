import Foundation

/// Formats `tessera bench engine` results: one line per engine and thread count, the
/// Tessera/llama.cpp ratios, and how the decode weight stream compares to memory bandwidth.
public struct BenchTable: Sendable {
    public var rows: [BenchRow]
    public var bandwidthGBps: Double?
    public var promptTokens: Int
    public var genTokens: Int

    public init(rows: [BenchRow], bandwidthGBps: Double?, promptTokens: Int, genTokens: Int) {
        self.rows = rows
        self.bandwidthGBps = bandwidthGBps
        self.promptTokens = promptTokens
        self.genTokens = genTokens
    }

    public func render() -> String {
        var lines = [
            "prompt \(promptTokens) tokens, \(genTokens) generated",
            pad(["engine", "threads", "prefill tok/s", "decode tok/s", "peak RSS MiB"]),
        ]
        for row in rows {
            if let error = row.error {
                lines.append(pad([row.engine, "\(row.threads)", "-", "-", "-"]) + "  (\(error))")
            } else {
                lines.append(
                    pad([
                        row.engine, "\(row.threads)", format(row.prefillTPS), format(row.decodeTPS),
                        format(Double(row.peakRSSBytes) / 1_048_576),
                    ]))
            }
        }
        for threads in Set(rows.map(\.threads)).sorted() {
            guard
                let ours = rows.first(where: {
                    $0.engine == "tessera" && $0.threads == threads && $0.error == nil
                }),
                let theirs = rows.first(where: {
                    $0.engine == "llama.cpp" && $0.threads == threads && $0.error == nil
                })
            else { continue }
            lines.append(
                "ratio tessera/llama.cpp at \(threads) thread(s): prefill \(ratio(ours.prefillTPS, theirs.prefillTPS))"
                    + ", decode \(ratio(ours.decodeTPS, theirs.decodeTPS))"
                    + ", peak RSS \(ratio(Double(ours.peakRSSBytes), Double(theirs.peakRSSBytes)))")
        }
        lines += batchedLines()
        lines += streamingNotes()
        return lines.joined(separator: "\n")
    }

    /// Continuous batching's pass alone: aggregate decode rate by session count, and the
    /// gain over one session stepping alone through the same batched call.
    private func batchedLines() -> [String] {
        var lines: [String] = []
        for row in rows where row.error == nil && !(row.batchedDecode ?? []).isEmpty {
            let batched = row.batchedDecode ?? []
            let single = batched.first { $0.sessions == 1 }?.tokensPerSecond
            let cells = batched.map { entry in
                "\(entry.sessions): \(format(entry.tokensPerSecond))"
                    + (single.map { " (\(ratio(entry.tokensPerSecond, $0)))" } ?? "")
            }
            lines.append(
                "\(row.engine) batched decode at \(row.threads) thread(s), tok/s by sessions: "
                    + cells.joined(separator: ", "))
        }
        return lines
    }

    /// Decode reads every weight once per token; compare that stream with the machine's bandwidth.
    private func streamingNotes() -> [String] {
        var notes: [String] = []
        for row in rows where row.engine == "tessera" && row.error == nil {
            guard let bytes = row.weightBytesPerToken else { continue }
            let rate = Double(bytes) * row.decodeTPS / 1e9
            var note =
                "decode at \(row.threads) thread(s) streams \(format(Double(bytes) / 1e6)) MB of weights per token"
                + " = \(format(rate)) GB/s"
            if let bandwidth = bandwidthGBps, bandwidth > 0 {
                let share = rate / bandwidth
                note +=
                    " (\(Int((share * 100).rounded()))% of the measured \(format(bandwidth)) GB/s: "
                    + (share >= 0.7
                        ? "memory-bound)" : "compute-bound, bandwidth is not the limit)")
            }
            notes.append(note)
        }
        return notes
    }

    private func pad(_ cells: [String]) -> String {
        zip(cells, [10, 8, 14, 13, 13]).map {
            $0.padding(toLength: $1, withPad: " ", startingAt: 0)
        }.joined(separator: " ")
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }

    private func ratio(_ ours: Double, _ theirs: Double) -> String {
        theirs > 0 ? String(format: "%.2f×", ours / theirs) : "-"
    }
}

/// One measured configuration (also the child process's JSON output).
public struct BenchRow: Codable, Sendable {
    public var engine: String
    public var threads: Int
    public var prefillTPS: Double
    public var decodeTPS: Double
    public var peakRSSBytes: Int
    public var weightBytesPerToken: Int?
    public var error: String?
    /// Aggregate decode rates of sessions stepping together (Tessera only).
    public var batchedDecode: [EngineBenchmark.BatchedDecode]?

    public init(
        engine: String, threads: Int, prefillTPS: Double, decodeTPS: Double, peakRSSBytes: Int,
        weightBytesPerToken: Int?, error: String?,
        batchedDecode: [EngineBenchmark.BatchedDecode]? = nil
    ) {
        self.batchedDecode = batchedDecode
        self.engine = engine
        self.threads = threads
        self.prefillTPS = prefillTPS
        self.decodeTPS = decodeTPS
        self.peakRSSBytes = peakRSSBytes
        self.weightBytesPerToken = weightBytesPerToken
        self.error = error
    }

    public static func failed(_ engine: String, threads: Int, _ reason: String) -> BenchRow {
        BenchRow(
            engine: engine, threads: threads, prefillTPS: 0, decodeTPS: 0, peakRSSBytes: 0,
            weightBytesPerToken: nil, error: reason)
    }
}
