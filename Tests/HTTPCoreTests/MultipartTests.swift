import Testing
import HTTPCore

/// Builds a multipart/form-data body the way curl -F does.
func formBody(boundary: String, parts: [(headers: [String], body: [UInt8])], preamble: String = "",
              epilogue: String = "") -> [UInt8] {
    var out = Array(preamble.utf8)
    for part in parts {
        out += Array("--\(boundary)\r\n".utf8)
        for h in part.headers { out += Array("\(h)\r\n".utf8) }
        out += Array("\r\n".utf8)
        out += part.body
        out += Array("\r\n".utf8)
    }
    out += Array("--\(boundary)--\r\n\(epilogue)".utf8)
    return out
}

/// Feeds `chunks` and assembles parts from the events.
func collect(boundary: String, chunks: [ArraySlice<UInt8>], limits: MultipartLimits = MultipartLimits()) throws -> [MultipartPart] {
    var parser = MultipartParser(boundary: boundary, limits: limits)
    var parts: [MultipartPart] = []
    var open = false
    for chunk in chunks {
        for event in try parser.feed(chunk) {
            switch event {
            case .partBegin(let h):
                #expect(!open)
                open = true
                parts.append(MultipartPart(name: h.name, filename: h.filename, contentType: h.contentType, headers: h.headers, body: []))
            case .partData(let d):
                #expect(open)
                #expect(!d.isEmpty)
                parts[parts.count - 1].body += d
            case .partEnd:
                #expect(open)
                open = false
            }
        }
    }
    try parser.finish()
    return parts
}

@Suite("Multipart form-data")
struct MultipartTests {
    static let boundary = "----deepresizeBoundary7MA4YWxkTrZu0gW"
    /// A binary "file" that contains CR, LF, dashes and even a near-miss of the boundary.
    static let file: [UInt8] = {
        var bytes = (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        bytes += Array("\r\n--\(boundary.dropLast())x\r\n--".utf8)
        bytes += [0, 255, 13, 10, 13, 10, 45, 45]
        return bytes
    }()
    static let body = formBody(boundary: boundary, parts: [
        (["Content-Disposition: form-data; name=\"w\""], Array("400".utf8)),
        (["Content-Disposition: form-data; name=\"image\"; filename=\"photo \\\"1\\\".png\"",
          "Content-Type: image/png"], file),
        (["content-disposition: FORM-DATA; name=empty"], []),
    ], preamble: "This is the preamble.\r\n", epilogue: "and an epilogue")

    func checkParts(_ parts: [MultipartPart]) {
        #expect(parts.count == 3)
        guard parts.count == 3 else { return }
        #expect(parts[0].name == "w")
        #expect(parts[0].filename == nil)
        #expect(parts[0].contentType == nil)
        #expect(parts[0].body == Array("400".utf8))
        #expect(parts[1].name == "image")
        #expect(parts[1].filename == "photo \"1\".png")
        #expect(parts[1].contentType == "image/png")
        #expect(parts[1].headers["content-type"] == "image/png")
        #expect(parts[1].body == Self.file)
        #expect(parts[2].name == "empty")
        #expect(parts[2].body.isEmpty)
    }

    @Test func roundTripWithBinaryFile() throws {
        let parts = try Multipart.parse(body: Self.body, contentType: "multipart/form-data; boundary=\(Self.boundary)")
        checkParts(parts)
    }

    @Test func splitAtEveryOffset() throws {
        let body = Self.body
        for offset in 0...body.count {
            let parts = try collect(boundary: Self.boundary, chunks: [body[0..<offset], body[offset...]])
            checkParts(parts)
        }
    }

    @Test func threeWaySplitsAroundEveryDelimiterAndByteByByte() throws {
        let body = Self.body
        // Every pair of cut points within a window that covers the second delimiter.
        let delimiter = Array("\r\n--\(Self.boundary)".utf8)
        var first = 0
        for i in 0...(body.count - delimiter.count) where Array(body[i..<(i + delimiter.count)]) == delimiter {
            first = i
            break
        }
        for a in (first - 3)...(first + delimiter.count + 3) {
            for b in a...(first + delimiter.count + 5) {
                checkParts(try collect(boundary: Self.boundary, chunks: [body[0..<a], body[a..<b], body[b...]]))
            }
        }
        checkParts(try collect(boundary: Self.boundary, chunks: body.indices.map { body[$0...$0] }))
    }

    @Test func boundaryExtraction() throws {
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(try Multipart.boundary(fromContentType: "Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c=d\"") == "a b:c=d")
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data ; boundary = \"x,y\" ; other=\"q;r\"") == "x,y")
        let quoted = formBody(boundary: "a b:c=d", parts: [(["Content-Disposition: form-data; name=\"f\""], [1, 2, 3])])
        let parts = try Multipart.parse(body: quoted, contentType: "multipart/form-data; boundary=\"a b:c=d\"")
        #expect(parts.first?.body == [1, 2, 3])
    }

    @Test func badContentTypes() {
        func status(_ contentType: String) -> Int? {
            do { _ = try Multipart.boundary(fromContentType: contentType); return nil } catch { return error.status }
        }
        #expect(status("multipart/form-data") == 400)                       // missing
        #expect(status("multipart/form-data; boundary=") == 400)            // empty
        #expect(status("multipart/form-data; boundary=\"\"") == 400)        // empty quoted
        #expect(status("multipart/form-data; boundary=\(String(repeating: "b", count: 71))") == 400)
        #expect(status("multipart/form-data; boundary=\(String(repeating: "b", count: 70))") == nil)
        #expect(status("multipart/form-data; boundary=\"abc") == 400)       // unterminated quote
        #expect(status("multipart/form-data; boundary=a<b") == 400)         // not a bchar
        #expect(status("image/png") == 415)
        #expect(status("multipart/mixed; boundary=abc") == 415)
    }

    @Test func truncatedBodiesAreErrors() throws {
        let contentType = "multipart/form-data; boundary=\(Self.boundary)"
        let closeStart = Self.body.count - Array("--\r\nand an epilogue".utf8).count
        for cut in [0, 10, 30, 80, 200, Self.body.count / 2, closeStart - 1, closeStart] {
            #expect(throws: MultipartError.self, "cut at \(cut)") {
                _ = try Multipart.parse(body: Array(Self.body[0..<cut]), contentType: contentType)
            }
        }
        do {
            _ = try Multipart.parse(body: Array(Self.body[0..<200]), contentType: contentType)
        } catch {
            #expect(error.status == 400)
            #expect(error.detail.contains("truncated"))
        }
    }

    @Test func tooManyPartsIs413() {
        let parts = (0..<5).map { (["Content-Disposition: form-data; name=\"p\($0)\""], [UInt8(ascii: "x")]) }
        let body = formBody(boundary: "b", parts: parts)
        do {
            _ = try Multipart.parse(body: body, contentType: "multipart/form-data; boundary=b", limits: MultipartLimits(maxParts: 4))
            Issue.record("accepted 5 parts with maxParts 4")
        } catch {
            #expect(error.status == 413)
        }
        #expect(throws: Never.self) {
            try Multipart.parse(body: body, contentType: "multipart/form-data; boundary=b", limits: MultipartLimits(maxParts: 5))
        }
    }

    @Test func partHeaderLimitsAndSyntax() {
        let big = formBody(boundary: "b", parts: [(["Content-Disposition: form-data; name=\"p\"",
                                                    "X-Pad: \(String(repeating: "x", count: 300))"], [1])])
        #expect(throws: MultipartError.self) {
            try Multipart.parse(body: big, contentType: "multipart/form-data; boundary=b", limits: MultipartLimits(maxPartHeaderBytes: 256))
        }
        let cases: [(String, [UInt8])] = [
            ("no disposition", Array("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--".utf8)),
            ("no name", Array("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--".utf8)),
            ("not form-data", Array("--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--".utf8)),
            ("bare LF header", Array("--b\r\nContent-Disposition: form-data; name=a\n\r\nx\r\n--b--".utf8)),
            ("folded header", Array("--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--".utf8)),
            ("junk after boundary", Array("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bX\r\n--b--".utf8)),
            ("no boundary at all", Array("just some bytes".utf8)),
        ]
        for (why, body) in cases {
            #expect(throws: MultipartError.self, "\(why)") {
                try Multipart.parse(body: body, contentType: "multipart/form-data; boundary=b")
            }
        }
    }

    @Test func extendedFilenameAndTransportPadding() throws {
        let body = Array("--b  \r\nContent-Disposition: form-data; name=\"f\"; filename=\"fallback.png\"; filename*=UTF-8''caf%C3%A9.png\r\n\r\nx\r\n--b--".utf8)
        let parts = try Multipart.parse(body: body, contentType: "multipart/form-data; boundary=b")
        #expect(parts.first?.filename == "café.png")
    }

    @Test func bytesAfterCloseAreIgnored() throws {
        var parser = MultipartParser(boundary: "b")
        let events = try parser.feed(Array("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--\r\n--b\r\ngarbage".utf8))
        #expect(parser.isComplete)
        #expect(events.count == 3)
        #expect(try parser.feed(Array("more".utf8)).isEmpty)
        try parser.finish()
    }
}
