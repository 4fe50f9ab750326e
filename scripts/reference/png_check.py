"""Decodes an 8-bit RGB PNG with Python's zlib and struct (independent of Tessera's encoder):
checks the signature and every chunk's CRC, inflates IDAT, undoes the scanline filters, and
prints JSON: {"width", "height", "colors" (distinct), "non_background" (fraction of pixels that
differ from the top-left one), and, given a second
argument (a file of raw RGB bytes), "pixels_match": whether the decoded pixels are exactly
those bytes."""
from __future__ import annotations

import json
import struct
import sys
import zlib


def decode(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        offset += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert (depth, color, interlace) == (8, 2, 0), "expected 8-bit RGB, not interlaced"
    raw = zlib.decompress(idat)
    stride = width * 3
    assert len(raw) == height * (stride + 1), "wrong amount of image data"
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 3] if i >= 3 else 0
            up = previous[i]
            upper_left = previous[i - 3] if i >= 3 else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def main() -> None:
    width, height, rows = decode(open(sys.argv[1], "rb").read())
    pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), 3)]
    background = pixels[0]
    print(json.dumps({
        "width": width, "height": height, "colors": len(set(pixels)),
        "non_background": sum(1 for p in pixels if p != background) / len(pixels),
    } | ({"pixels_match": b"".join(rows) == open(sys.argv[2], "rb").read()}
         if len(sys.argv) > 2 else {})))


if __name__ == "__main__":
    main()
