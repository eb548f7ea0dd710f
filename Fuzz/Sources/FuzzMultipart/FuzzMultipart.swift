// multipart/form-data on arbitrary bytes. The first line of the input is the Content-Type value (so the
// boundary parameter parser is fuzzed too), the rest is the body. The body is parsed whole with
// `Multipart.parse` and streamed through `MultipartParser` in random splits: the parts (names, file
// names, types, bytes) and the error status must be the same either way.
import FuzzSupport
import HTTPCore

let limits = MultipartLimits(maxParts: 8, maxPartHeaderBytes: 300, maxPartHeaderCount: 6)

struct Outcome: Equatable {
    var parts: [String] = []
    var errorStatus: Int?
}

func describe(_ name: String, _ filename: String?, _ type: String?, _ body: [UInt8]) -> String {
    "\(name)|\(filename ?? "-")|\(type ?? "-")|\(body)"
}

func streamed(_ pieces: [ArraySlice<UInt8>], boundary: String) -> Outcome {
    var parser = MultipartParser(boundary: boundary, limits: limits)
    var outcome = Outcome()
    var open: (head: MultipartPartHead, body: [UInt8])?
    do {
        for piece in pieces {
            for event in try parser.feed(piece) {
                switch event {
                case .partBegin(let head):
                    if open != nil { fuzzFailure("part begins inside a part") }
                    open = (head, [])
                case .partData(let data):
                    guard open != nil else { fuzzFailure("part data outside a part") }
                    if data.isEmpty { fuzzFailure("empty part data event") }
                    open!.body += data
                case .partEnd:
                    guard let part = open else { fuzzFailure("part end outside a part") }
                    outcome.parts.append(describe(part.head.name, part.head.filename, part.head.contentType, part.body))
                    open = nil
                }
            }
        }
        try parser.finish()
        if open != nil { fuzzFailure("finished with a part open") }
        if outcome.parts.count > limits.maxParts { fuzzFailure("more parts than maxParts") }
    } catch {
        if ![400, 413].contains(error.status) { fuzzFailure("unexpected status \(error.status)") }
        outcome = Outcome(parts: [], errorStatus: error.status)
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let newline = bytes.firstIndex(of: 0x0A) ?? bytes.count
    let contentType = String(decoding: bytes[..<min(newline, 200)], as: UTF8.self)
    let body = newline < bytes.count ? Array(bytes[(newline + 1)...]) : []

    let boundary: String
    do {
        boundary = try Multipart.boundary(fromContentType: contentType)
        if boundary.isEmpty || boundary.utf8.count > 70 { fuzzFailure("accepted boundary \(boundary.debugDescription)") }
    } catch {
        if ![400, 415].contains(error.status) { fuzzFailure("unexpected status \(error.status)") }
        return 0
    }

    var whole = Outcome()
    do {
        let parts = try Multipart.parse(body: body, contentType: contentType, limits: limits)
        whole.parts = parts.map { describe($0.name, $0.filename, $0.contentType, $0.body) }
    } catch {
        whole.errorStatus = error.status
    }
    var splitter = Splitter(seed: bytes)
    let split = streamed(splitter.pieces(body), boundary: boundary)
    if whole != split {
        fuzzFailure("outcome depends on how the body was split:\nwhole: \(whole)\nsplit: \(split)")
    }
    return 0
}
