// ImageDecoder on arbitrary bytes in a WebP RIFF container, with small limits (see FuzzJPEG): header,
// still-image decode, the ICCP chunk walk and, when a profile is found, its lcms2 conversion. The
// container's size field would stop most mutations at libwebp's first check, so the first input byte
// chooses whether it is rewritten to match the data (so mutations reach VP8X, ICCP, ALPH, VP8 and VP8L)
// or left as the input has it (so the size checks are fuzzed too).
import FuzzImageCheck

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let selector = data[0]
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let hasHeader = rest.count >= 12 && rest[0..<4].elementsEqual("RIFF".utf8) && rest[8..<12].elementsEqual("WEBP".utf8)
    let body = hasHeader ? Array(rest[12...]) : rest
    var declared = body.count + 4
    if selector & 0x80 != 0, hasHeader {
        declared = Int(rest[4]) | Int(rest[5]) << 8 | Int(rest[6]) << 16 | Int(rest[7]) << 24
    }
    let sizeField = [UInt8(declared & 0xFF), UInt8(declared >> 8 & 0xFF), UInt8(declared >> 16 & 0xFF), UInt8(declared >> 24 & 0xFF)]
    let bytes = Array("RIFF".utf8) + sizeField + Array("WEBP".utf8) + body
    decodeAndCheck(bytes, selector: selector, format: .webp)
    return 0
}
