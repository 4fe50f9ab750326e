import Foundation

/// The evaluation as a picture: perplexity (log scale, lower is better) against file size and
/// against decode speed, one dot per model, labelled by its row name.
public enum EvaluationChart {
    static let panelWidth = 600
    static let plotWidth = 470
    static let plotHeight = 430
    static let left = 100
    static let top = 90

    public static func png(_ report: EvaluationReport, title: String) -> [UInt8] {
        var canvas = Canvas(width: 2 * panelWidth, height: top + plotHeight + 90)
        canvas.text(title, x: 20, y: 16, scale: 2)
        let subtitle =
            "perplexity on \(report.evaluationTokens) tokens of GPL-3 (n_ctx \(report.contextLength)), log scale, lower is better"
        canvas.text(subtitle, x: 20, y: 44, scale: 1, color: .axis)
        let rows = report.rows.filter { $0.perplexity.isFinite && $0.perplexity > 0 }
        guard !rows.isEmpty else { return canvas.png() }
        let perplexities = rows.map(\.perplexity)
        let yRange = LogAxis(minimum: perplexities.min()!, maximum: perplexities.max()!)
        drawPanel(
            &canvas, originX: 0, rows: rows, xTitle: "file size (MB)",
            x: { Double($0.fileBytes) / 1e6 }, y: yRange)
        drawPanel(
            &canvas, originX: panelWidth, rows: rows, xTitle: "decode tok/s",
            x: { $0.decodeTokensPerSecond }, y: yRange)
        return canvas.png()
    }

    private static func drawPanel(
        _ canvas: inout Canvas, originX: Int, rows: [EvaluationRow], xTitle: String,
        x value: (EvaluationRow) -> Double, y: LogAxis
    ) {
        let values = rows.map(value)
        let xAxis = LinearAxis(minimum: values.min()!, maximum: values.max()!)
        let plotLeft = originX + left
        let plotBottom = top + plotHeight
        // Grid and ticks.
        for tick in xAxis.ticks {
            let px = plotLeft + Int(xAxis.fraction(tick) * Double(plotWidth))
            canvas.line(from: (px, top), to: (px, plotBottom), color: .grid)
            let label = LinearAxis.format(tick)
            canvas.text(
                label, x: px - Canvas.textWidth(label, scale: 1) / 2, y: plotBottom + 8, scale: 1,
                color: .axis)
        }
        for tick in y.ticks {
            let py = plotBottom - Int(y.fraction(tick) * Double(plotHeight))
            canvas.line(from: (plotLeft, py), to: (plotLeft + plotWidth, py), color: .grid)
            let label = LinearAxis.format(tick)
            canvas.text(
                label, x: plotLeft - 8 - Canvas.textWidth(label, scale: 1), y: py - 3, scale: 1,
                color: .axis)
        }
        canvas.line(from: (plotLeft, top), to: (plotLeft, plotBottom), color: .axis, thickness: 2)
        canvas.line(
            from: (plotLeft, plotBottom), to: (plotLeft + plotWidth, plotBottom), color: .axis,
            thickness: 2)
        canvas.text(
            xTitle, x: plotLeft + plotWidth / 2 - Canvas.textWidth(xTitle) / 2, y: plotBottom + 26)
        canvas.text("perplexity", x: originX + 12, y: top - 24, scale: 2)

        // Dots first, then labels placed where they overlap no dot and no earlier label.
        var placed: [(x: Int, y: Int, width: Int)] = []
        for (index, row) in rows.enumerated() {
            let px = plotLeft + Int(xAxis.fraction(values[index]) * Double(plotWidth))
            let py = plotBottom - Int(y.fraction(row.perplexity) * Double(plotHeight))
            canvas.dot(x: px, y: py, radius: 5, color: color(of: row, first: index == 0))
            placed.append((px - 6, py - 3, 12))
        }
        for (index, row) in rows.enumerated() {
            let px = plotLeft + Int(xAxis.fraction(values[index]) * Double(plotWidth))
            let py = plotBottom - Int(y.fraction(row.perplexity) * Double(plotHeight))
            let width = Canvas.textWidth(row.label, scale: 1)
            var labelX = px + 9
            if labelX + width > originX + panelWidth - 4 { labelX = px - 9 - width }
            var labelY = py - 3
            var attempts = 0
            while attempts < 16
                && placed.contains(where: {
                    abs($0.y - labelY) < 10 && labelX < $0.x + $0.width + 4
                        && $0.x < labelX + width + 4
                })
            {
                labelY += attempts % 2 == 0 ? 10 * (attempts + 1) : -10 * (attempts + 1)
                attempts += 1
            }
            placed.append((labelX, labelY, width))
            canvas.text(
                row.label, x: labelX, y: labelY, scale: 1, color: color(of: row, first: index == 0))
        }
    }

    /// The reference in black, Wanda variants in red, quantizations in blue.
    private static func color(of row: EvaluationRow, first: Bool) -> Canvas.Color {
        if first { return .black }
        if row.label.hasPrefix("Wanda") { return Canvas.Color(200, 40, 40) }
        return Canvas.Color(30, 90, 200)
    }
}

/// A linear axis padded by 8% on each side, with about five round ticks.
struct LinearAxis {
    let low: Double
    let high: Double
    let ticks: [Double]

    init(minimum: Double, maximum: Double) {
        let span = max(maximum - minimum, max(abs(maximum) * 0.1, 1e-6))
        low = minimum - 0.08 * span
        high = maximum + 0.08 * span
        let rough = (high - low) / 5
        let magnitude = pow(10, floor(log10(rough)))
        var step = magnitude
        for multiple in [1.0, 2.0, 5.0, 10.0] where multiple * magnitude >= rough {
            step = multiple * magnitude
            break
        }
        var values: [Double] = []
        var tick = ceil(low / step) * step
        while tick <= high {
            values.append(tick)
            tick += step
        }
        ticks = values
    }

    func fraction(_ value: Double) -> Double { (value - low) / (high - low) }

    static func format(_ value: Double) -> String {
        if abs(value) >= 100 || value == value.rounded() { return String(Int(value.rounded())) }
        return String(format: abs(value) >= 10 ? "%.0f" : "%.1f", value)
    }
}

/// A logarithmic axis with ticks at 1, 1.5, 2, 3, 5 and 7 times powers of ten.
struct LogAxis {
    let low: Double
    let high: Double
    let ticks: [Double]

    init(minimum: Double, maximum: Double) {
        let lowLog = log10(minimum)
        let highLog = log10(max(maximum, minimum * 1.2))
        let pad = 0.08 * (highLog - lowLog)
        low = lowLog - pad
        high = highLog + pad
        var values: [Double] = []
        var decade = floor(low)
        while decade <= ceil(high) {
            for multiple in [1.0, 1.5, 2.0, 3.0, 5.0, 7.0] {
                let tick = multiple * pow(10, decade)
                if log10(tick) >= low && log10(tick) <= high { values.append(tick) }
            }
            decade += 1
        }
        // Too few round ticks in a narrow range: add the ends.
        if values.count < 3 { values = [pow(10, lowLog), pow(10, highLog)] + values }
        ticks = values
    }

    func fraction(_ value: Double) -> Double { (log10(value) - low) / (high - low) }
}
