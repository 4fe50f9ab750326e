/// Plain-text table of a plan for `tessera placement` and logs.
public enum PlanTable {
    /// One row per stage, then a total per pipeline:
    ///
    ///     pipeline  worker   layers   shard      KV       compute ms  link ms  stage ms
    ///     0         gpu-a    0-21     10.00 GiB  0.69 GiB      80.05     0.63     80.68
    ///     0 total                                                           293.29 ms/token
    ///
    /// A plan made under a quality budget also names each stage's variant (`-` for the
    /// model's own precision) and its predicted KL, and each pipeline's total KL.
    public static func render(_ plan: Plan) -> String {
        let withVariants = plan.maxMeanKL != nil
        var header = [
            "pipeline", "worker", "layers", "shard", "KV reserve", "compute ms", "link ms",
            "stage ms",
        ]
        if withVariants { header.insert(contentsOf: ["variant", "KL"], at: 3) }
        var rows: [[String]] = []
        for (index, pipeline) in plan.pipelines.enumerated() {
            for stage in pipeline.stages {
                var row = [
                    "\(index)", stage.workerID,
                    "\(stage.layers.lowerBound)-\(stage.layers.upperBound - 1)",
                    bytesForDisplay(stage.shardBytes), bytesForDisplay(stage.kvReserveBytes),
                    ms(stage.computeSeconds),
                    ms(stage.outgoingLinkSeconds), ms(stage.secondsPerToken),
                ]
                if withVariants {
                    row.insert(
                        contentsOf: [stage.variant ?? "-", formatDecimal(stage.predictedKL, 4)],
                        at: 3)
                }
                rows.append(row)
            }
            let perSecond = formatDecimal(1 / pipeline.secondsPerToken, 2)
            var total = [
                "\(index) total", "\(pipeline.stages.count) stages", "", "", "", "",
                "in \(ms(pipeline.ingressSeconds))",
                "\(ms(pipeline.secondsPerToken)) ms/token (\(perSecond) tok/s)",
            ]
            if withVariants {
                total.insert(contentsOf: ["", formatDecimal(pipeline.predictedKL, 4)], at: 3)
            }
            rows.append(total)
        }
        let rightAligned: Set<Int> = withVariants ? [4, 5, 6, 7, 8, 9] : [3, 4, 5, 6, 7]
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        var out = [line(header)]
        out += rows.map(line)
        let optimality =
            plan.provenOptimal ? "proven optimal" : "best found (search budget reached)"
        out.append(
            "\(plan.pipelines.count) pipeline(s), \(plan.layerCount) layers, primary \(ms(plan.primary.secondsPerToken)) "
                + "ms/token, \(optimality)"
                + (plan.maxMeanKL.map { ", quality budget KL \(formatDecimal($0, 4))" } ?? ""))
        return out.joined(separator: "\n")
    }

    static func ms(_ seconds: Double) -> String { formatDecimal(seconds * 1000, 2) }

    public static func bytesForDisplay(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(formatDecimal(value, 2)) \(units[unit])"
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
