import Testing
import TestSupport
@testable import HTTPCore

/// A request as the parser reports it: head, joined body, and whether `.end` came.
struct ParsedRequest {
    var head: HTTPRequestHead
    var body: [UInt8]
}

/// Collects events into whole requests; trailing incomplete requests are left out.
func requests(from events: [HTTPParserEvent]) -> [ParsedRequest] {
    var done: [ParsedRequest] = []
    var current: ParsedRequest?
    for event in events {
        switch event {
        case .head(let head): current = ParsedRequest(head: head, body: [])
        case .body(let bytes): current?.body.append(contentsOf: bytes)
        case .end:
            if let c = current { done.append(c) }
            current = nil
        }
    }
    return done
}

func parseAll(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) throws(HTTPParseError) -> [ParsedRequest] {
    var parser = HTTPRequestParser(limits: limits)
    return requests(from: try parser.feed(Array(text.utf8)))
}

func parseByteByByte(_ bytes: [UInt8], limits: HTTPParserLimits = HTTPParserLimits()) throws(HTTPParseError) -> [ParsedRequest] {
    var parser = HTTPRequestParser(limits: limits)
    var events: [HTTPParserEvent] = []
    for b in bytes { events += try parser.feed([b]) }
    return requests(from: events)
}

/// The status a malformed request is refused with (nil when it parses).
func refusal(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> Int? {
    do {
        _ = try parseAll(text, limits: limits)
        return nil
    } catch {
        return error.status
    }
}

@Suite("HTTP request parser")
struct ParserTests {
    @Test func getWithQueryWholeAndByteByByte() throws {
        let text = "GET /resize%20it?w=400&h=300&name=a+b%2Fc HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n"
        for parsed in [try parseAll(text), try parseByteByByte(Array(text.utf8))] {
            #expect(parsed.count == 1)
            let head = try #require(parsed.first).head
            #expect(head.method == "GET")
            #expect(head.target == "/resize%20it?w=400&h=300&name=a+b%2Fc")
            #expect(head.path == "/resize it")
            #expect(head.query.map(\.name) == ["w", "h", "name"])
            #expect(head.query.map(\.value) == ["400", "300", "a b/c"])
            #expect(head.version == .http1_1)
            #expect(head.headers["user-agent"] == "t")
            #expect(head.headers.values("X-DUP") == ["1", "2"])
            #expect(head.keepAlive)
            #expect(head.contentLength == nil)
            #expect(!head.isChunked)
            #expect(parsed[0].body.isEmpty)
        }
    }

    @Test func postWithContentLengthWholeAndByteByByte() throws {
        let text = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        for parsed in [try parseAll(text), try parseByteByByte(Array(text.utf8))] {
            #expect(parsed.count == 1)
            #expect(parsed[0].head.contentLength == 11)
            #expect(parsed[0].body == Array("hello world".utf8))
        }
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let text = "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n0006 ; ext\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n"
        for parsed in [try parseAll(text), try parseByteByByte(Array(text.utf8))] {
            #expect(parsed.count == 1)
            #expect(parsed[0].head.isChunked)
            #expect(parsed[0].head.contentLength == nil)
            #expect(parsed[0].body == Array("hello world".utf8))
        }
    }

    @Test func pipelinedRequestsKeepTheirOwnBytes() throws {
        let text = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
            + "GET /d HTTP/1.1\r\nHo"
        var parser = HTTPRequestParser()
        let parsed = requests(from: try parser.feed(Array(text.utf8)))
        #expect(parsed.map(\.head.path) == ["/a", "/b", "/c"])
        #expect(parsed.map { String(decoding: $0.body, as: UTF8.self) } == ["abc", "", "xy"])
        #expect(parser.isReadingHead)
        let rest = requests(from: try parser.feed(Array("st: y\r\n\r\n".utf8)))
        #expect(rest.map(\.head.path) == ["/d"])
        #expect(parser.isAwaitingRequest)
    }

    @Test func parserStopsBetweenEventsSoTheServerCanPause() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        guard case .head(let first)? = try parser.nextEvent() else { Issue.record("no head"); return }
        #expect(first.path == "/1")
        guard case .end? = try parser.nextEvent() else { Issue.record("no end"); return }
        #expect(parser.bufferedByteCount == 28)
        guard case .head(let second)? = try parser.nextEvent() else { Issue.record("no second head"); return }
        #expect(second.path == "/2")
    }

    @Test func keepAliveDecisions() throws {
        func keepAlive(_ version: String, _ connection: String?) throws -> Bool {
            let extra = connection.map { "Connection: \($0)\r\n" } ?? ""
            return try #require(parseAll("GET / \(version)\r\nHost: x\r\n\(extra)\r\n").first).head.keepAlive
        }
        #expect(try keepAlive("HTTP/1.1", nil))
        #expect(try !keepAlive("HTTP/1.1", "close"))
        #expect(try !keepAlive("HTTP/1.1", "Upgrade, CLOSE"))
        #expect(try keepAlive("HTTP/1.1", "keep-alive"))
        #expect(try !keepAlive("HTTP/1.0", nil))
        #expect(try keepAlive("HTTP/1.0", "Keep-Alive"))
        #expect(try !keepAlive("HTTP/1.0", "keep-alive, close"))
    }

    @Test func expectContinueOnlyWithABodyOnHTTP11() throws {
        let with = try #require(parseAll("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\na").first)
        #expect(with.head.expectsContinue)
        let noBody = try #require(parseAll("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n").first)
        #expect(!noBody.head.expectsContinue)
    }

    @Test func http10WithoutHostIsAccepted() throws {
        let parsed = try parseAll("GET /x HTTP/1.0\r\n\r\n")
        #expect(parsed.first?.head.version == .http1_0)
    }

    @Test func leadingEmptyLinesAreSkipped() throws {
        #expect(try parseAll("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").count == 1)
    }

    @Test func absoluteFormAndAsteriskTargets() throws {
        let a = try #require(parseAll("GET http://example.com:80/p/q?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").first)
        #expect(a.head.path == "/p/q")
        #expect(a.head.query.first?.value == "1")
        let star = try #require(parseAll("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").first)
        #expect(star.head.path == "*")
    }

    // MARK: Limits

    @Test func requestLineLimitIs414EvenBeforeTheLineEnds() {
        let limits = HTTPParserLimits(maxRequestLineBytes: 64)
        #expect(refusal("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\nHost: x\r\n\r\n", limits: limits) == 414)
        #expect(refusal("GET /\(String(repeating: "a", count: 100))", limits: limits) == 414)
        #expect(refusal("GET /\(String(repeating: "a", count: 40)) HTTP/1.1\r\nHost: x\r\n\r\n", limits: limits) == nil)
    }

    @Test func headerBytesLimitIs431() {
        let limits = HTTPParserLimits(maxHeaderBytes: 200)
        let big = "X-Big: \(String(repeating: "v", count: 300))\r\n"
        #expect(refusal("GET / HTTP/1.1\r\nHost: x\r\n\(big)\r\n", limits: limits) == 431)
        // Unterminated: refused as soon as the buffered bytes pass the limit.
        #expect(refusal("GET / HTTP/1.1\r\nHost: x\r\n\(big)", limits: limits) == 431)
        let many = String(repeating: "A: 1234567890\r\n", count: 14) // 14 * 15 = 210 bytes
        #expect(refusal("GET / HTTP/1.1\r\nHost: x\r\n\(many)\r\n", limits: limits) == 431)
    }

    @Test func headerCountLimitIs431() {
        let limits = HTTPParserLimits(maxHeaderCount: 5)
        let five = (1...4).map { "H\($0): v\r\n" }.joined()
        #expect(refusal("GET / HTTP/1.1\r\nHost: x\r\n\(five)\r\n", limits: limits) == nil)
        #expect(refusal("GET / HTTP/1.1\r\nHost: x\r\n\(five)H5: v\r\n\r\n", limits: limits) == 431)
    }

    @Test func contentLengthOverLimitIs413FromTheHead() {
        let limits = HTTPParserLimits(maxBodyBytes: 10)
        #expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: limits) == 413)
        #expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", limits: limits) == 413)
        #expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits) == nil)
    }

    @Test func chunkedOverLimitIs413() {
        let limits = HTTPParserLimits(maxBodyBytes: 10)
        let start = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(refusal(start + "6\r\nabcdef\r\n5\r\nabcde\r\n0\r\n\r\n", limits: limits) == 413)
        #expect(refusal(start + "b\r\n", limits: limits) == 413)
        #expect(refusal(start + "fffffffffffffffffffffff\r\n", limits: limits) == 413)
        #expect(refusal(start + "6\r\nabcdef\r\n4\r\nabcd\r\n0\r\n\r\n", limits: limits) == nil)
    }

    @Test func trailersAreBounded() {
        let limits = HTTPParserLimits(maxHeaderBytes: 100)
        let start = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
        #expect(refusal(start + "T: \(String(repeating: "t", count: 200))\r\n\r\n", limits: limits) == 431)
        #expect(refusal(start + "T: ok\r\n\r\n", limits: limits) == nil)
    }

    // MARK: Malformed input

    @Test(arguments: [
        ("zz\r\nab\r\n0\r\n\r\n", "non-hex size"),
        ("\r\nab\r\n0\r\n\r\n", "empty size"),
        ("2 x\r\nab\r\n0\r\n\r\n", "junk after size"),
        ("2\r\nabc\r\n0\r\n\r\n", "data longer than size"),
        ("2\nab\r\n0\r\n\r\n", "bare LF after size"),
        ("-2\r\nab\r\n0\r\n\r\n", "negative size"),
        ("0x2\r\nab\r\n0\r\n\r\n", "0x prefix"),
        ("1\r\na\r\n0\r\n bad-trailer\r\n\r\n", "folded trailer"),
    ])
    func badChunksAre400(body: String, why: String) {
        let text = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        #expect(refusal(text) == 400, "\(why)")
    }

    @Test(arguments: [
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "CL + TE"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "TE + CL"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "duplicate CL"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "conflicting CL"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", "CL list"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", "signed CL"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3a\r\n\r\nabc", "non-digit CL"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", "empty CL"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", "chunked not last"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "TE on 1.0"),
        ("GET / HTTP/1.1\r\n\r\n", "missing Host"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Hosts"),
        ("GET / HTTP/1.1\nHost: x\n\n", "bare LF"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", "bare CR"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", "obs-fold"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n", "space before colon"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX\u{1}: a\r\n\r\n", "control in name"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: a\u{0}b\r\n\r\n", "NUL in value"),
        ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "double space"),
        ("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", "trailing space"),
        ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "bad method"),
        ("GET / HTTX/1.1\r\nHost: x\r\n\r\n", "bad protocol"),
        ("GET / HTTP/1.10\r\nHost: x\r\n\r\n", "bad version digits"),
        ("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", "bad escape in path"),
        ("GET /a%4 HTTP/1.1\r\nHost: x\r\n\r\n", "truncated escape"),
        ("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", "NUL in path"),
        ("GET /a%ff HTTP/1.1\r\nHost: x\r\n\r\n", "non-UTF-8 path"),
        ("GET /?w=%zz HTTP/1.1\r\nHost: x\r\n\r\n", "bad escape in query"),
        ("GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n", "fragment"),
        ("GET relative HTTP/1.1\r\nHost: x\r\n\r\n", "relative target"),
    ])
    func malformedRequestsAre400(text: String, why: String) {
        #expect(refusal(text) == 400, "\(why)")
    }

    @Test func unsupportedVersionsAre505AndCodingsAre501() {
        #expect(refusal("GET / HTTP/2.0\r\nHost: x\r\n\r\n") == 505)
        #expect(refusal("GET / HTTP/1.2\r\nHost: x\r\n\r\n") == 505)
        #expect(refusal("GET / HTTP/0.9\r\n\r\n") == 505)
        #expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n") == 501)
    }

    @Test func failedParserStaysFailed() throws {
        var parser = HTTPRequestParser()
        #expect(throws: HTTPParseError.self) { try parser.feed(Array("BAD\r\n".utf8)) }
        #expect(throws: HTTPParseError.self) { try parser.feed(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) }
    }
}

@Suite("Query strings")
struct QueryTests {
    @Test func orderedPairsWithDecoding() throws {
        let q = try parseQueryString("w=400&h=&flag&&method=deep&w=2&sp=a+b&pct=%2B%26%3D&utf=%C3%A9")
        #expect(q.map(\.name) == ["w", "h", "flag", "method", "w", "sp", "pct", "utf"])
        #expect(q.map(\.value) == ["400", "", "", "deep", "2", "a b", "+&=", "é"])
    }

    @Test func invalidEscapesAndNULAreErrorsNamingTheParameter() {
        for bad in ["w=%", "w=%4", "w=%G0", "w=%00", "%zz=1", "w=%C3"] {
            #expect(throws: HTTPParseError.self, "\(bad)") { try parseQueryString(bad) }
        }
        do {
            _ = try parseQueryString("width=%zz")
            Issue.record("no error")
        } catch {
            #expect(error.status == 400)
            #expect(error.detail.contains("width"))
        }
    }

    @Test func emptyQuery() throws {
        #expect(try parseQueryString("").isEmpty)
    }
}

@Suite("Headers and responses")
struct HeaderAndResponseTests {
    @Test func headersAreOrderedAndCaseInsensitive() {
        var h = HTTPHeaders([("Content-Type", "a"), ("X", "1")])
        h.add("x", "2")
        #expect(h["content-type"] == "a")
        #expect(h.values("X") == ["1", "2"])
        h.set("X", "3")
        #expect(h.values("x") == ["3"])
        h.remove("CONTENT-TYPE")
        #expect(h["Content-Type"] == nil)
        #expect(h.map(\.name) == ["X"])
    }

    @Test func writerOwnsFramingHeaders() {
        var r = HTTPResponse(status: 200, headers: ["Content-Type": "text/plain", "Content-Length": "999",
                                                    "X-Evil": "a\r\nInjected: yes"], body: Array("hello".utf8))
        r.headers.add("Transfer-Encoding", "chunked")
        let (head, sendsBody) = ResponseWriter.head(for: r, isHEAD: false, keepAlive: true, requestVersion: .http1_1, now: 784111777)
        let text = String(decoding: head, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("Content-Length: 5\r\n"))
        #expect(!text.contains("999"))
        #expect(!text.contains("Transfer-Encoding"))
        #expect(!text.contains("\r\nInjected"))
        #expect(text.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"))
        #expect(text.contains("X-Content-Type-Options: nosniff\r\n"))
        #expect(!text.contains("Connection:"))
        #expect(text.hasSuffix("\r\n\r\n"))
        #expect(sendsBody)
    }

    @Test func headResponsesKeepContentLengthWithoutBody() {
        let r = HTTPResponse(status: 200, body: Array(repeating: 1, count: 1234))
        let (head, sendsBody) = ResponseWriter.head(for: r, isHEAD: true, keepAlive: false, requestVersion: .http1_0)
        let text = String(decoding: head, as: UTF8.self)
        #expect(text.contains("Content-Length: 1234\r\n"))
        #expect(text.contains("Connection: close\r\n"))
        #expect(!sendsBody)
        let (head10, _) = ResponseWriter.head(for: r, isHEAD: false, keepAlive: true, requestVersion: .http1_0)
        #expect(String(decoding: head10, as: UTF8.self).contains("Connection: keep-alive\r\n"))
        let declared = HTTPResponse(status: 200, headers: ["Content-Length": "5000"])
        let (declaredHead, _) = ResponseWriter.head(for: declared, isHEAD: true, keepAlive: true, requestVersion: .http1_1)
        #expect(String(decoding: declaredHead, as: UTF8.self).contains("Content-Length: 5000\r\n"))
        let (ignoredForGET, _) = ResponseWriter.head(for: declared, isHEAD: false, keepAlive: true, requestVersion: .http1_1)
        #expect(String(decoding: ignoredForGET, as: UTF8.self).contains("Content-Length: 0\r\n"))
        let (noContent, bodyFor204) = ResponseWriter.head(for: HTTPResponse(status: 204, body: [1]), isHEAD: false,
                                                          keepAlive: true, requestVersion: .http1_1)
        #expect(!String(decoding: noContent, as: UTF8.self).contains("Content-Length"))
        #expect(!bodyFor204)
    }

    @Test func problemJSONIsEscaped() {
        let p = HTTPResponse.problem(status: 400, title: "Bad Request", detail: "say \"hi\"\n\\ \u{1}")
        #expect(p.headers["Content-Type"] == "application/problem+json")
        #expect(String(decoding: p.body, as: UTF8.self)
            == #"{"type":"about:blank","title":"Bad Request","status":400,"detail":"say \"hi\"\n\\ \u0001"}"#)
        #expect(HTTPResponse.reasonPhrase(for: 431) == "Request Header Fields Too Large")
        // The store's 507: its status line once read "507 Server Error" under a body titled Insufficient Storage.
        #expect(HTTPResponse.reasonPhrase(for: 507) == "Insufficient Storage")
        #expect(HTTPResponse.reasonPhrase(for: 599) == "Server Error")
    }
}

@Suite("Parser robustness")
struct ParserRobustnessTests {
    @Test func randomSplitsGiveTheSameRequests() throws {
        let text = "POST /a?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            + "PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
            + "GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        let bytes = Array(text.utf8)
        var generator = SeededRandom(seed: 42)
        for _ in 0..<300 {
            var parser = HTTPRequestParser()
            var events: [HTTPParserEvent] = []
            var i = 0
            while i < bytes.count {
                let n = 1 + Int(generator.next() % 40)
                events += try parser.feed(bytes[i..<min(i + n, bytes.count)])
                i += n
            }
            let parsed = requests(from: events)
            #expect(parsed.map(\.head.path) == ["/a", "/b", "/c"])
            #expect(parsed.map { String(decoding: $0.body, as: UTF8.self) } == ["hello", "abcde", ""])
        }
    }

    @Test func randomBytesNeverCrashAndFailWithAnHTTPStatus() {
        var generator = SeededRandom(seed: 1)
        let alphabet = Array("GET POST / HTTP/1.1\r\n:Host;chunked Transfer-Encoding Content-Length 0123456789abcdef%\t ".utf8)
        for _ in 0..<2000 {
            var parser = HTTPRequestParser(limits: HTTPParserLimits(maxRequestLineBytes: 64, maxHeaderBytes: 256,
                                                                    maxHeaderCount: 8, maxBodyBytes: 100))
            let bytes = (0..<Int(generator.next() % 200)).map { _ in
                generator.next() % 4 == 0 ? UInt8(truncatingIfNeeded: generator.next())
                                          : alphabet[Int(generator.next() % UInt64(alphabet.count))]
            }
            do {
                _ = try parser.feed(bytes)
            } catch {
                #expect([400, 413, 414, 431, 501, 505].contains(error.status))
            }
        }
    }

    @Test func randomMultipartBytesNeverCrash() {
        var generator = SeededRandom(seed: 3)
        let alphabet = Array("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ndata--b--".utf8)
        for _ in 0..<2000 {
            var parser = MultipartParser(boundary: "b", limits: MultipartLimits(maxParts: 5, maxPartHeaderBytes: 100))
            let bytes = (0..<Int(generator.next() % 300)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            do {
                _ = try parser.feed(bytes)
                try parser.finish()
            } catch {
                #expect([400, 413].contains(error.status))
            }
        }
    }
}
