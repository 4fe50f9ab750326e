import Foundation

/// The report as a plain-text table (and as Markdown, for docs): one row per model, the
/// reference first.
public enum EvaluationTable {
    static let headers = [
        "model", "file MB", "RSS MB", "prefill tok/s", "decode tok/s", "perplexity", "Δppl",
        "mean KL", "same top", "answers",
    ]

    public static func text(_ report: EvaluationReport) -> String {
        let cells = report.rows.map { cellsOf($0, reference: report.rows.first) }
        var widths = headers.map(\.count)
        for row in cells {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ values: [String]) -> String {
            var parts: [String] = []
            for (index, value) in values.enumerated() {
                let padding = String(repeating: " ", count: widths[index] - value.count)
                parts.append(index == 0 ? value + padding : padding + value)
            }
            return parts.joined(separator: "  ")
        }
        return ([line(headers)] + cells.map(line)).joined(separator: "\n") + "\n"
    }

    public static func markdown(_ report: EvaluationReport) -> String {
        let cells = report.rows.map { cellsOf($0, reference: report.rows.first) }
        var lines = ["| " + headers.joined(separator: " | ") + " |"]
        lines.append("|" + String(repeating: "---|", count: headers.count))
        for row in cells { lines.append("| " + row.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func cellsOf(_ row: EvaluationRow, reference: EvaluationRow?) -> [String] {
        let change =
            reference.map { row.perplexity / $0.perplexity - 1 }.map {
                String(format: "%+.1f%%", $0 * 100)
            } ?? ""
        return [
            row.label,
            String(format: "%.1f", Double(row.fileBytes) / 1e6),
            String(format: "%.0f", Double(row.residentBytes) / 1_048_576),
            String(format: "%.0f", row.prefillTokensPerSecond),
            String(format: "%.1f", row.decodeTokensPerSecond),
            String(format: "%.3f", row.perplexity),
            change,
            String(format: "%.4f", row.meanKLDivergence),
            String(format: "%.1f%%", row.sameTopTokenRate * 100),
            "\(row.questionsAnswered)/\(row.questionCount)",
        ]
    }
}
