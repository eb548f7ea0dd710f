/// Hand-assembles PNG files (stored, uncompressed zlib blocks) so every colour type, bit depth,
/// tRNS form and Adam7 interlacing can be tested without fixtures or a second encoder.
struct PNGBuilder {
    enum ColourType: UInt8 { case grey = 0, rgb = 2, palette = 3, greyAlpha = 4, rgba = 6 }

    var width: Int
    var height: Int
    var colourType: ColourType
    var bitDepth: Int
    var interlaced = false
    var palette: [(UInt8, UInt8, UInt8)] = []
    var transparency: [UInt8]? = nil     // raw tRNS payload
    /// samples(x, y) → one value per channel, each < 2^bitDepth.
    var samples: (Int, Int) -> [Int]

    var channelCount: Int {
        switch colourType { case .grey, .palette: 1; case .greyAlpha: 2; case .rgb: 3; case .rgba: 4 }
    }

    func build() -> [UInt8] {
        var ihdr = be32(width) + be32(height)
        ihdr += [UInt8(bitDepth), colourType.rawValue, 0, 0, interlaced ? 1 : 0]
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file += chunk("IHDR", ihdr)
        if !palette.isEmpty { file += chunk("PLTE", palette.flatMap { [$0.0, $0.1, $0.2] }) }
        if let transparency { file += chunk("tRNS", transparency) }
        file += chunk("IDAT", zlibStored(scanlines()))
        file += chunk("IEND", [])
        return file
    }

    /// Filter-type-0 scanlines, pass by pass when interlaced.
    func scanlines() -> [UInt8] {
        let passes: [(x0: Int, y0: Int, dx: Int, dy: Int)] = interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)]
        var out: [UInt8] = []
        for pass in passes {
            let xs = Array(stride(from: pass.x0, to: width, by: pass.dx))
            let ys = Array(stride(from: pass.y0, to: height, by: pass.dy))
            if xs.isEmpty || ys.isEmpty { continue }
            for y in ys {
                out.append(0)
                var bits = BitWriter()
                for x in xs {
                    for value in samples(x, y) { bits.write(value, bits: bitDepth) }
                }
                out += bits.finish()
            }
        }
        return out
    }

    private struct BitWriter {
        var bytes: [UInt8] = []
        var accumulator = 0
        var used = 0
        mutating func write(_ value: Int, bits: Int) {
            if bits == 16 { bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]; return }
            if bits == 8 { bytes.append(UInt8(value)); return }
            accumulator = (accumulator << bits) | value
            used += bits
            if used == 8 { bytes.append(UInt8(accumulator)); accumulator = 0; used = 0 }
        }
        mutating func finish() -> [UInt8] {
            if used > 0 { bytes.append(UInt8(accumulator << (8 - used))) }
            return bytes
        }
    }
}

func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let typeBytes = Array(type.utf8)
    return be32(data.count) + typeBytes + data + be32(Int(crc32(typeBytes + data)))
}

/// zlib stream of stored (uncompressed) deflate blocks.
func zlibStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let n = min(65_535, data.count - offset)
        let last: UInt8 = offset + n == data.count ? 1 : 0
        out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        out += data[offset..<(offset + n)]
        offset += n
    } while offset < data.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in data { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
    return out + be32(Int(b << 16 | a))
}

func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in data {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
