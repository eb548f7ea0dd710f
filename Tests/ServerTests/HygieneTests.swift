import Foundation
import Glibc
import ImageCodecs
import Testing
import TestSupport
@testable import Server

/// Issue 11, items 8–12: what the server writes to its log and shows its clients.
@Suite(.serialized) struct HygieneTests {
    /// A path that decodes to a newline, a forged log line and an ANSI escape: the log stays one line per
    /// entry, with the controls escaped.
    @Test func controlBytesInRequestsCannotForgeLogLines() throws {
        let server = try ServerProcess()
        let client = try RawClient(port: server.port)
        try client.send("GET /nope%0a2026-12-06T00:00:00+0000%20critical%20deepresize%20:%20FORGED%1b[31m HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 404)
        Thread.sleep(forTimeInterval: 0.3)
        let log = server.output
        #expect(log.contains("FORGED"), "the request was not logged: \(log)")
        #expect(!log.contains("\u{1b}"), "a raw escape character in the log")
        for line in log.split(separator: "\n") where line.contains("FORGED") {
            #expect(!line.hasPrefix("2026-12-06T00:00:00+0000 critical"), "a forged line: \(line)")
            #expect(line.contains("\\n2026-12-06") && line.contains("\\u{1b}[31m"), "\(line)")
        }
    }

    @Test func escapingCoversControlsAndSeparators() {
        #expect(EscapingLogHandler.escape("a\nb\r\tc\u{1b}[0m\u{7f}\u{85}\u{2028}ü") == "a\\nb\\r\\tc\\u{1b}[0m\\u{7f}\\u{85}\\u{2028}ü")
        #expect(EscapingLogHandler.escape("plain text") == "plain text")
    }
}
