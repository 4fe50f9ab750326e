/// An RGB raster with the few shapes a chart needs: rectangles, lines, dots and text in a
/// 5 × 7 bitmap font (scaled by whole pixels).
public struct Canvas {
    public struct Color: Sendable {
        public let red: UInt8
        public let green: UInt8
        public let blue: UInt8

        public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
            self.red = red
            self.green = green
            self.blue = blue
        }

        public static let white = Color(255, 255, 255)
        public static let black = Color(0, 0, 0)
        public static let grid = Color(225, 225, 225)
        public static let axis = Color(90, 90, 90)
    }

    public let width: Int
    public let height: Int
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = .white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, color: background)
    }

    public mutating func set(_ x: Int, _ y: Int, _ color: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let index = (y * width + x) * 3
        pixels[index] = color.red
        pixels[index + 1] = color.green
        pixels[index + 2] = color.blue
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        for row in max(0, y)..<min(height, y + h) {
            for column in max(0, x)..<min(width, x + w) { set(column, row, color) }
        }
    }

    /// A line `thickness` pixels wide (Bresenham, each point drawn as a small square).
    public mutating func line(
        from start: (x: Int, y: Int), to end: (x: Int, y: Int), color: Color, thickness: Int = 1
    ) {
        var x = start.x
        var y = start.y
        let dx = abs(end.x - x)
        let dy = -abs(end.y - y)
        let stepX = x < end.x ? 1 : -1
        let stepY = y < end.y ? 1 : -1
        var error = dx + dy
        let half = thickness / 2
        while true {
            fill(x: x - half, y: y - half, width: thickness, height: thickness, color: color)
            if x == end.x && y == end.y { break }
            let doubled = 2 * error
            if doubled >= dy {
                error += dy
                x += stepX
            }
            if doubled <= dx {
                error += dx
                y += stepY
            }
        }
    }

    public mutating func dot(x: Int, y: Int, radius: Int, color: Color) {
        for row in -radius...radius {
            for column in -radius...radius where row * row + column * column <= radius * radius {
                set(x + column, y + row, color)
            }
        }
    }

    /// Text from its top-left corner (upper case; characters the font lacks are blank).
    public mutating func text(
        _ string: String, x: Int, y: Int, scale: Int = 2, color: Color = .black
    ) {
        var left = x
        for character in string.uppercased() {
            if let rows = BitmapFont.glyphs[character] {
                for (row, bits) in rows.enumerated() {
                    for column in 0..<5 where bits & (0x10 >> column) != 0 {
                        fill(
                            x: left + column * scale, y: y + row * scale, width: scale,
                            height: scale, color: color)
                    }
                }
            }
            left += 6 * scale
        }
    }

    public static func textWidth(_ string: String, scale: Int = 2) -> Int {
        string.count * 6 * scale - scale
    }

    /// The image as a PNG file's bytes.
    public func png() -> [UInt8] { PNGEncoder.encode(width: width, height: height, rgb: pixels) }
}
