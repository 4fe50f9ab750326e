import Foundation
import ModelEvaluation
import Testing

/// The chart's PNG, decoded by Python's zlib and struct (scripts/reference/png_check.py),
/// not by our own code.
struct EvaluationChartTests {
    static func row(_ label: String, megabytes: Double, decode: Double, perplexity: Double)
        -> EvaluationRow
    {
        EvaluationRow(
            label: label, path: "/x", fileBytes: Int(megabytes * 1e6), residentBytes: 0,
            prefillTokensPerSecond: 500, decodeTokensPerSecond: decode, perplexity: perplexity,
            meanKLDivergence: 0.1, sameTopTokenRate: 0.9, questionsAnswered: 10, questionCount: 20)
    }

    static let report = EvaluationReport(
        rows: [
            row("smollm2-135m (reference)", megabytes: 98, decode: 150, perplexity: 20.4),
            row("Q8_0", megabytes: 145, decode: 120, perplexity: 20.5),
            row("Q4_0", megabytes: 85, decode: 170, perplexity: 22),
            row("Q2_K", megabytes: 70, decode: 160, perplexity: 60),
            row("Wanda 2:4 Q4_0", megabytes: 85, decode: 170, perplexity: 900),
        ], textPath: "/usr/share/common-licenses/GPL-3", contextLength: 512, evaluationTokens: 4096,
        scoredTokens: 2040, threads: 2)

    @Test func pythonDecodesTheChart() throws {
        let png = EvaluationChart.png(Self.report, title: "smollm2-135m: variants")
        let path = NSTemporaryDirectory() + "chart-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(png).write(to: URL(fileURLWithPath: path))
        let output = try PythonReference.run("png_check.py", [path])
        let decoded = try JSONDecoder().decode(
            Decoded.self, from: Data(output.split(separator: "\n").last!.utf8))
        #expect(decoded.width == 1200)
        #expect(decoded.height == 610)
        // Not blank: text, axes, grid and dots in several colours cover a few percent.
        #expect(decoded.colors >= 5)
        #expect(decoded.non_background > 0.02 && decoded.non_background < 0.5)
    }

    @Test func tinyImageHasTheKnownBytes() {
        // One red pixel: the stored-block zlib stream and CRCs as any PNG writer computes them.
        let png = PNGEncoder.encode(width: 1, height: 1, rgb: [255, 0, 0])
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let hex = png.map { String(format: "%02x", $0) }.joined()
        // IHDR of 1 × 1 RGB 8-bit and its CRC, then IDAT with one stored block of 4 bytes.
        #expect(hex.contains("0000000d49484452000000010000000108020000009077" + "53de"))
        #expect(hex.contains("7801" + "010400fbff" + "00ff0000" + "03010100"))
        #expect(hex.hasSuffix("0000000049454e44ae426082"))
    }

    private struct Decoded: Decodable {
        let width: Int
        let height: Int
        let colors: Int
        let non_background: Double
    }
}
