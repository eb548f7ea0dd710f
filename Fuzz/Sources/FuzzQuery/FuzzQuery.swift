// The request-target → query → ResizeRequest chain on arbitrary bytes: `parseRequestTarget`,
// `parseQueryString` and the Server library's `ResizeRequest.parse`. Oracles: never crash; accepted
// options are inside their documented ranges (quality only, and always, for jpeg and webp; Accept only
// picks webp or png); a parsed query re-encoded and parsed again gives the same
// pairs (the decoder is lossless); every refusal is a 400 whose text names what was wrong.
import FuzzSupport
import HTTPCore
import Server

let maxWait = 300.0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let target = text.hasPrefix("/") || text.hasPrefix("http") || text == "*" ? text : "/resize?" + text
    let query: [(name: String, value: String)]
    do {
        (_, query) = try parseRequestTarget(target)
    } catch {
        if error.status != 400 || error.detail.isEmpty { fuzzFailure("unexpected \(error)") }
        return 0
    }

    // Lossless: encode every byte that is not unreserved, parse again.
    let encoded = query.map { percentEncode($0.name) + "=" + percentEncode($0.value) }.joined(separator: "&")
    do {
        let again = try parseQueryString(encoded)
        // ("", "") from a lone "=" re-encodes as "=" and survives; empty segments were never pairs.
        if again.map({ [$0.name, $0.value] }) != query.map({ [$0.name, $0.value] }) {
            fuzzFailure("re-encoded query parsed differently: \(query) vs \(again)")
        }
    } catch {
        fuzzFailure("re-encoded query was refused: \(error)")
    }

    // The raw input doubles as the Accept header, so the format negotiation sees arbitrary text too.
    let options: ResizeRequest
    do {
        options = try ResizeRequest.parse(query, accept: text, defaultQuality: 90, defaultWait: 60, maxWait: maxWait)
    } catch {
        // Typed throws: every refusal is a Problem, and it must be a 400 that says why.
        if error.status != 400 || error.detail.isEmpty { fuzzFailure("unexpected \(error)") }
        return 0
    }
    if options.width == nil && options.height == nil { fuzzFailure("accepted without w or h") }
    if let q = options.quality, !ResizeOptions.qualityRange.contains(q) { fuzzFailure("quality \(q)") }
    if options.format.isLossy != (options.quality != nil) { fuzzFailure("quality \(String(describing: options.quality)) for \(options.format)") }
    if options.formatFromAccept && options.format == .jpeg { fuzzFailure("Accept chose jpeg") }
    if let w = options.width, !ResizeOptions.dimensionRange.contains(w) { fuzzFailure("w \(w)") }
    if let h = options.height, !ResizeOptions.dimensionRange.contains(h) { fuzzFailure("h \(h)") }
    if !ResizeOptions.iterationRange.contains(options.iterations) { fuzzFailure("iterations") }
    if !(options.wait >= 0 && options.wait <= maxWait) { fuzzFailure("wait \(options.wait)") }
    let size = options.options.targetSize(sourceWidth: 1 + size % 5000, sourceHeight: 1 + size % 3000)
    if size.width < 1 || size.height < 1 { fuzzFailure("target size \(size)") }
    return 0
}

func percentEncode(_ s: String) -> String {
    var out = ""
    for byte in s.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return out
}
