import Testing
@testable import HTTPCore

/// Inputs found by Fuzz/FuzzHTTPParser (scripts/fuzz), kept so the fixes stay fixed. The oracle there is
/// split-invariance: the answer to a byte stream must not depend on how TCP cut it into reads.
@Suite struct HTTPFuzzRegressionTests {
    /// The status for `bytes` fed whole, and fed one byte at a time.
    private func statuses(_ bytes: [UInt8], _ limits: HTTPParserLimits) -> (whole: Int?, byteByByte: Int?) {
        func run(_ pieces: [[UInt8]]) -> Int? {
            var parser = HTTPRequestParser(limits: limits)
            do {
                for piece in pieces {
                    parser.append(piece)
                    while try parser.nextEvent() != nil {}
                }
                return nil
            } catch {
                return error.status
            }
        }
        return (run([bytes]), run(bytes.map { [$0] }))
    }

    /// A request line over the limit that ends in a bare LF was 400 (bare LF) when it arrived in one
    /// read, 414 when it arrived slowly. Now the length is judged first: 414 both ways.
    @Test func overlongLineEndingInBareLFIs414HoweverItArrives() {
        let limits = HTTPParserLimits(maxRequestLineBytes: 200)
        let line = Array("PO /\(String(repeating: "\\", count: 250)) HTTP/1.1\nHost: x\r\n\r\n".utf8)
        let answer = statuses(line, limits)
        #expect(answer.whole == 414 && answer.byteByByte == 414, "\(answer)")

        let header = Array("GET / HTTP/1.1\r\nX-Long: \(String(repeating: "v", count: 700))\nHost: x\r\n\r\n".utf8)
        let headerAnswer = statuses(header, HTTPParserLimits(maxHeaderBytes: 600))
        #expect(headerAnswer.whole == 431 && headerAnswer.byteByByte == 431, "\(headerAnswer)")
    }

    /// A head whose fields use exactly `maxHeaderBytes` is accepted whole and byte by byte (the final
    /// CRLF used to count against the limit while it was arriving).
    @Test func headerBlockAtExactlyTheLimitIsAcceptedHoweverItArrives() throws {
        let fields = "Host: x\r\nX-Pad: \(String(repeating: "p", count: 73))\r\n"   // 9 + 82 = 91 bytes
        let limits = HTTPParserLimits(maxHeaderBytes: fields.utf8.count)
        let request = Array("GET / HTTP/1.1\r\n\(fields)\r\n".utf8)
        let answer = statuses(request, limits)
        #expect(answer.whole == nil && answer.byteByByte == nil, "\(answer)")
        let tooMany = statuses(request, HTTPParserLimits(maxHeaderBytes: fields.utf8.count - 1))
        #expect(tooMany.whole == 431 && tooMany.byteByByte == 431, "\(tooMany)")
    }
}
