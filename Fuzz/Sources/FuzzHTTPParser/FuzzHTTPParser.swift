// HTTPRequestParser on arbitrary bytes, whole and in random splits. Beyond "never crashes", the
// oracle is split-invariance: the requests (heads, bodies) and the final error status must not depend
// on how the bytes arrived, and what the parser reports must be self-consistent.
import FuzzSupport
import HTTPCore

/// Small limits so every limit branch is reachable with short inputs.
let limits = HTTPParserLimits(maxRequestLineBytes: 200, maxHeaderBytes: 600, maxHeaderCount: 12,
                              maxBodyBytes: 3000, maxChunkLineBytes: 40)

struct Outcome: Equatable {
    var requests: [String] = []   // one summary per head, with its body appended when it ends
    var body: [UInt8] = []
    var errorStatus: Int?
}

func summary(_ head: HTTPRequestHead) -> String {
    let headers = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: "|")
    let query = head.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    return "\(head.method) \(head.target) \(head.path) ?\(query) \(head.version) [\(headers)] ka=\(head.keepAlive) "
        + "cl=\(head.contentLength.map(String.init) ?? "-") ch=\(head.isChunked) ec=\(head.expectsContinue)"
}

func run(_ pieces: [ArraySlice<UInt8>]) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = Outcome()
    var current: HTTPRequestHead?
    do {
        for piece in pieces {
            // append + nextEvent, as Connection does (feed() drops the events of a call that throws).
            parser.append(piece)
            while let event = try parser.nextEvent() {
                switch event {
                case .head(let head):
                    if current != nil { fuzzFailure("head while a request is open") }
                    if head.isChunked && head.contentLength != nil { fuzzFailure("chunked with a Content-Length") }
                    if let length = head.contentLength, length < 0 || length > limits.maxBodyBytes {
                        fuzzFailure("content length \(length) outside 0...\(limits.maxBodyBytes)")
                    }
                    if !head.path.isEmpty, head.path != "*", !head.path.hasPrefix("/") {
                        fuzzFailure("path \(head.path.debugDescription) is not origin-form")
                    }
                    current = head
                    outcome.requests.append(summary(head))
                    outcome.body = []
                case .body(let chunk):
                    guard current != nil else { fuzzFailure("body outside a request") }
                    if chunk.isEmpty { fuzzFailure("empty body event") }
                    outcome.body += chunk
                    if outcome.body.count > limits.maxBodyBytes { fuzzFailure("body above maxBodyBytes") }
                case .end:
                    guard let head = current else { fuzzFailure("end outside a request") }
                    if let length = head.contentLength, length != outcome.body.count {
                        fuzzFailure("body of \(outcome.body.count) bytes for Content-Length \(length)")
                    }
                    outcome.requests[outcome.requests.count - 1] += " body=\(outcome.body)"
                    outcome.body = []
                    current = nil
                }
            }
        }
    } catch {
        if ![400, 413, 414, 431, 501, 505].contains(error.status) { fuzzFailure("unexpected status \(error.status)") }
        outcome.errorStatus = error.status
        // A failed parser stays failed.
        do {
            parser.append([0x47])
            _ = try parser.nextEvent()
            fuzzFailure("parser accepted bytes after an error")
        } catch {}
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = run([bytes[...]])
    var splitter = Splitter(seed: bytes)
    let split = run(splitter.pieces(bytes))
    if whole != split {
        fuzzFailure("outcome depends on how the bytes were split:\nwhole: \(whole)\nsplit: \(split)")
    }
    return 0
}
