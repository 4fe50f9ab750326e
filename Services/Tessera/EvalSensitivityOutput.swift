import Foundation
import ModelEvaluation

/// How `tessera eval --sensitivity` prints one variant's per-range costs and its checks.
enum EvalSensitivityOutput {
    static func text(_ report: SensitivityReport) -> String {
        var lines = [
            "\(report.label): compressing one layer range at a time (the rest as the reference)"
        ]
        lines.append("  layers    mean KL   perplexity")
        for range in report.ranges {
            let name = "\(range.first)-\(range.end - 1)".padding(
                toLength: 8, withPad: " ", startingAt: 0)
            lines.append(
                String(
                    format: "  %@  %7.4f   %9.3f", name, range.meanKLDivergence, range.perplexity))
        }
        for (name, check) in [
            ("every other range", report.alternateMix), ("all ranges", report.allRanges),
        ] {
            let ratio = check.measuredKLDivergence / check.predictedKLDivergence
            lines.append(
                String(
                    format:
                        "  %@: predicted KL %.4f (sum of its ranges), measured %.4f (%.2f× the prediction), perplexity %.3f",
                    name, check.predictedKLDivergence, check.measuredKLDivergence, ratio,
                    check.measuredPerplexity))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
