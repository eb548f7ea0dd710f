import Foundation
import ImageCodecs
import Testing
import TestSupport
@testable import Server

/// Issue 16, item 2: HTTP caching (docs/api.md "Caching"). The `If-None-Match` parser and the freshness
/// lifetime on their own, then end to end over 127.0.0.1.
@Suite struct EntityTagTests {
    static let tag = "\"0123456789abcdef\""

    @Test func theTagIsTheQuotedFNV1aOfTheBytes() {
        #expect(HTTPCaching.entityTag([]) == "\"cbf29ce484222325\"")
        #expect(HTTPCaching.entityTag(Array("a".utf8)) == "\"af63dc4c8601ec8c\"")
        #expect(HTTPCaching.entityTag([1, 2, 3]) == HTTPCaching.entityTag([1, 2, 3]))
        #expect(HTTPCaching.entityTag([1, 2, 3]) != HTTPCaching.entityTag([1, 2, 4]))
    }

    @Test func ifNoneMatchComparesWeaklyOverListsAndStar() {
        let tag = Self.tag
        for matching in [[tag], ["W/" + tag], ["\"x\", W/\(tag)"], ["\"x\",\(tag)"], ["\"x\"", tag], ["*"], [" * "],
                         [" , \"x\" ,, \t\(tag) , "], ["\"\", \(tag)"]] {
            #expect(HTTPCaching.ifNoneMatch(matching, matches: tag), "\(matching) should match")
        }
        for other in [[], ["\"x\""], ["W/\"x\", \"0123456789abcdeF\""], ["\"0123456789abcdef \""]] {
            #expect(!HTTPCaching.ifNoneMatch(other, matches: tag), "\(other) should not match")
        }
    }

    @Test func aMalformedHeaderMatchesNothing() {
        let tag = Self.tag
        for malformed in ["", " ", ",", "0123456789abcdef", "\"0123456789abcdef", "W/", "W/0123456789abcdef", "w/\(tag)",
                          "W \(tag)", "*, \(tag)", "\(tag), *", "**", "\(tag) junk", "\(tag)\"", "\(tag), bogus",
                          "\"a b\", \(tag)", "\"\u{7F}\", \(tag)", "\u{0}", "\(tag);", "W/W/\(tag)"] {
            #expect(!HTTPCaching.ifNoneMatch([malformed], matches: tag), "\(malformed.debugDescription) should not match")
        }
        // Random field values never crash the parser.
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("W/\"*, \t\u{1}a0é\u{7F}".unicodeScalars)
        for _ in 0..<5000 {
            let value = String(String.UnicodeScalarView((0..<Int.random(in: 0...12, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator)!
            }))
            _ = HTTPCaching.ifNoneMatch([value, value], matches: tag)
        }
    }

    @Test func freshnessLastsUntilTheJobExpiresAndNeverGoesNegative() {
        #expect(HTTPCaching.storedResultCacheControl(finishedAt: 1000, resultTTL: 600, now: 1100.5)
                == "private, max-age=499, immutable")
        #expect(HTTPCaching.storedResultCacheControl(finishedAt: 1000, resultTTL: 600, now: 5000)
                == "private, max-age=0, immutable")
        #expect(HTTPCaching.storedResultCacheControl(finishedAt: nil, resultTTL: 600, now: 5000)
                == "private, max-age=600, immutable")
    }
}

@Suite(.serialized) struct CachingEndToEndTests {
    static let resultTTL = 600

    /// The max-age of a stored answer's Cache-Control, which must be the whole field's only form.
    static func maxAge(_ answer: CurlResult) -> Int? {
        guard let field = answer.headers["cache-control"],
              let match = field.wholeMatch(of: /private, max-age=([0-9]+), immutable/) else { return nil }
        return Int(match.1)
    }

    @Test func inlineScaleAnswersCarryAContentTag() throws {
        let server = try ServerProcess()
        let input = try TestImages.file(TestImages.scene(width: 160, height: 120))
        let first = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=80&h=60&method=scale")
        let second = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=80&h=60&method=scale")
        let other = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=81&h=60&method=scale")
        #expect(first.status == 200 && second.status == 200 && other.status == 200)
        let tag = try #require(first.headers["etag"])
        #expect(tag.wholeMatch(of: /"[0-9a-f]{16}"/) != nil, "\(tag)")
        #expect(first.body == second.body && second.headers["etag"] == tag)
        #expect(other.headers["etag"] != nil && other.headers["etag"] != tag)
        #expect(tag == HTTPCaching.entityTag(first.body))
        #expect(first.headers["cache-control"] == "no-store")
        #expect(first.headers["vary"] == "Accept")
        // With `format`, Accept chose nothing: no Vary.
        let named = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=80&h=60&method=scale&format=png")
        #expect(named.headers["vary"] == nil && named.headers["etag"] == tag)
        // A refusal of the image (a damaged file) answered to a negotiated request varies on Accept too.
        let damaged = try ServerProcess.temporaryDirectory("damaged") + "/damaged.png"
        try Data(Array(try ImageEncoder.png(TestImages.scene(width: 64, height: 48)).prefix(60))).write(to: URL(fileURLWithPath: damaged))
        let refused = try curl(["--data-binary", "@\(damaged)", "-H", "Content-Type: image/png"],
                               "\(server.baseURL)/resize?w=80&h=60&method=scale")
        #expect(refused.status >= 400 && refused.headers["vary"] == "Accept", "\(refused.status) \(refused.headers)")
    }

    @Test func resultsAreTaggedFreshAndRevalidatedIn304() throws {
        let server = try ServerProcess(settings: ["result_ttl": String(Self.resultTTL)])
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=70&h=64&method=seam&wait=60")
        #expect(answer.status == 200, "\(answer.text)")
        let id = try #require(answer.headers["x-job-id"])
        let tag = try #require(answer.headers["etag"])
        #expect(tag == HTTPCaching.entityTag(answer.body) && tag != "\"\(id)\"")
        #expect(answer.headers["cache-control"] == "no-store")

        let url = "\(server.baseURL)/jobs/\(id)/result"
        let result = try curl([], url)
        #expect(result.status == 200 && result.body == answer.body)
        #expect(result.headers["etag"] == tag)
        let maxAge = try #require(Self.maxAge(result), "\(result.headers)")
        #expect(maxAge > 0 && maxAge <= Self.resultTTL)

        // Every form of a matching If-None-Match: 304 with the validator and freshness, no body.
        let weak = "W/" + tag
        for header in [tag, weak, "\"nope\", \(weak)", "\"nope\",\(tag)", "*"] {
            for method in [["-X", "GET"], ["-I"]] {
                let revalidated = try curl(method + ["-H", "If-None-Match: \(header)"], url)
                #expect(revalidated.status == 304, "If-None-Match: \(header) \(method) gave \(revalidated.status)")
                // (curl -I writes the head where the body goes: HEAD's lack of a body is the writer's own rule.)
                if method == ["-X", "GET"] { #expect(revalidated.body.isEmpty) }
                #expect(revalidated.headers["etag"] == tag)
                #expect(Self.maxAge(revalidated).map { $0 > 0 && $0 <= Self.resultTTL } == true, "\(revalidated.headers)")
                #expect(revalidated.headers["content-length"] == nil)
            }
        }
        // Two field lines form one list.
        let twoLines = try curl(["-H", "If-None-Match: \"nope\"", "-H", "If-None-Match: \(weak)"], url)
        #expect(twoLines.status == 304)
        // A tag that does not match, or a header that does not parse: the full image.
        for header in ["\"nope\"", "W/\"nope\", \"other\"", tag.dropFirst() + "", "\(tag), bogus", "*, \(tag)"] {
            let full = try curl(["-H", "If-None-Match: \(header)"], url)
            #expect(full.status == 200, "If-None-Match: \(header) gave \(full.status)")
            #expect(full.body == answer.body && full.headers["etag"] == tag)
        }

        // Another output of the same input: another tag.
        let other = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=72&h=64&method=seam&wait=60")
        #expect(other.status == 200 && other.headers["etag"] != nil && other.headers["etag"] != tag)
        #expect(try curl(["-H", "If-None-Match: \(tag)"], "\(server.baseURL)/jobs/\(other.headers["x-job-id"] ?? "")/result").status == 200)
        // The same input and parameters again: a new job, the same bytes, the same tag.
        let again = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=70&h=64&method=seam&wait=60")
        #expect(again.headers["x-job-id"] != id && again.body == answer.body && again.headers["etag"] == tag)
    }

    @Test func masksAreTaggedAndRevalidatedToo() throws {
        let server = try ServerProcess(settings: ["result_ttl": String(Self.resultTTL), "engine_threads": "2"])
        let input = try TestImages.file(TestImages.scene(width: 96, height: 72))
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=64&h=72&method=deep&iterations=2&wait=120")
        #expect(answer.status == 200, "\(answer.text)")
        let id = try #require(answer.headers["x-job-id"])
        let url = "\(server.baseURL)/jobs/\(id)/mask"
        let mask = try curl([], url)
        #expect(mask.status == 200 && mask.headers["content-type"] == "image/png")
        let tag = try #require(mask.headers["etag"])
        #expect(tag == HTTPCaching.entityTag(mask.body) && tag != answer.headers["etag"])
        #expect(Self.maxAge(mask).map { $0 > 0 && $0 <= Self.resultTTL } == true, "\(mask.headers)")
        for header in [tag, "W/" + tag, "\"x\", W/\(tag)", "*"] {
            let revalidated = try curl(["-H", "If-None-Match: \(header)"], url)
            #expect(revalidated.status == 304 && revalidated.body.isEmpty && revalidated.headers["etag"] == tag)
        }
        for header in ["\"x\"", "W/" + String(tag.dropLast())] {
            let full = try curl(["-H", "If-None-Match: \(header)"], url)
            #expect(full.status == 200 && full.body == mask.body)
        }
        // A job that did not succeed answers 409 even to `*`: it has no current representation.
        let queued = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=64&h=72&method=deep&iterations=200&wait=0")
        let queuedId = try #require(queued.headers["x-job-id"])
        _ = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(queuedId)")
        let ended = try pollJob(server, id: queuedId)
        if ended["status"] as? String == "canceled" {
            let refused = try curl(["-H", "If-None-Match: *"], "\(server.baseURL)/jobs/\(queuedId)/result")
            #expect(refused.status == 409 && refused.headers["etag"] == nil)
        }
    }
}
