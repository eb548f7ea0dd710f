// ImageDecoder on arbitrary bytes behind a PNG signature, with small limits (see FuzzJPEG).
// PNG chunks carry CRCs, which would stop most mutations at the first chunk: the first input byte
// chooses whether the CRCs are recomputed (so mutations reach the IHDR/IDAT/zlib logic) or left as
// they are (so the CRC checks are fuzzed too).
import FuzzImageCheck

let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let selector = data[0]
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    var bytes = signature + (rest.starts(with: signature) ? Array(rest.dropFirst(8)) : rest)
    if selector & 0x80 == 0 { fixCRCs(&bytes) }
    decodeAndCheck(bytes, selector: selector, format: .png)
    return 0
}

/// Rewrites the CRC of every complete chunk after the signature.
func fixCRCs(_ bytes: inout [UInt8]) {
    var at = 8
    while at + 12 <= bytes.count {
        let length = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        guard length <= bytes.count - at - 12 else { return }
        let crc = crc32(bytes[(at + 4)..<(at + 8 + length)])
        let end = at + 8 + length
        bytes[end] = UInt8(crc >> 24); bytes[end + 1] = UInt8(crc >> 16 & 0xFF)
        bytes[end + 2] = UInt8(crc >> 8 & 0xFF); bytes[end + 3] = UInt8(crc & 0xFF)
        at = end + 4
    }
}

func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
