// ImageDecoder on arbitrary bytes that start like a JPEG. Small limits keep a forged header from
// allocating much; the first input byte chooses a shrink-on-load target so the DCT-scaled paths run too.
// Oracles: never crash; a decoded image has the size readHeader promised (or a DCT-scaled one covering
// the requested minimum), and errors are only the documented ones.
import FuzzImageCheck

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let selector = data[0]
    // The rest, made to start with SOI so the fuzzer does not waste time on the magic bytes.
    var bytes: [UInt8] = [0xFF, 0xD8, 0xFF]
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    bytes += rest.starts(with: [0xFF, 0xD8, 0xFF]) ? Array(rest.dropFirst(3)) : Array(rest)
    decodeAndCheck(bytes, selector: selector, format: .jpeg)
    return 0
}
