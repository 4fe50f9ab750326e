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

    @Test func chartIsCompressed() {
        // Stored blocks made it 2.2 MB; flat colour deflates to a few tens of kilobytes.
        let png = EvaluationChart.png(Self.report, title: "smollm2-135m: variants")
        #expect(png.count < 150_000)
    }

    /// Python's zlib inflates exactly the pixels encoded: a flat image (long matches, the
    /// longest 258-byte lengths), noise (literals, no matches), and stripes (matches at many
    /// distances, up to the 32 KiB window).
    @Test(arguments: ["flat", "noise", "stripes", "tiny"])
    func pythonInflatesTheExactPixels(pattern: String) throws {
        var width = 300
        var height = 200
        var rgb: [UInt8]
        switch pattern {
        case "flat":
            rgb = [UInt8](repeating: 200, count: width * height * 3)
        case "noise":
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            rgb = (0..<(width * height * 3)).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
        case "stripes":
            rgb = (0..<(width * height * 3)).map { index in
                let pixel = index / 3
                return UInt8(truncatingIfNeeded: (pixel % 7) * 30 + (pixel / 9_001) * 11)
            }
        default:
            width = 1
            height = 1
            rgb = [255, 0, 0]
        }
        let png = PNGEncoder.encode(width: width, height: height, rgb: rgb)
        let directory = NSTemporaryDirectory() + "png-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(png).write(to: URL(fileURLWithPath: directory + "/image.png"))
        // The raw scanlines as the decoder returns them: RGB rows, no filter bytes.
        try Data(rgb).write(to: URL(fileURLWithPath: directory + "/pixels.rgb"))
        let output = try PythonReference.run(
            "png_check.py", [directory + "/image.png", directory + "/pixels.rgb"])
        let decoded = try JSONDecoder().decode(
            Decoded.self, from: Data(output.split(separator: "\n").last!.utf8))
        #expect(decoded.width == width && decoded.height == height)
        #expect(decoded.pixels_match == true)
    }

    private struct Decoded: Decodable {
        let width: Int
        let height: Int
        let colors: Int
        let non_background: Double
        var pixels_match: Bool? = nil
    }
}
