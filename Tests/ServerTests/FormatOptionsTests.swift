import Foundation
import Testing
import ImageCodecs
@testable import Server

/// `format`, `quality` and the `Accept` negotiation of POST /resize (docs/api.md).
@Suite struct FormatOptionsTests {
    private func parse(_ query: [(String, String)], accept: String? = nil, defaultQuality: Int? = 90) throws -> ResizeRequest {
        try ResizeRequest.parse(query.map { (name: $0.0, value: $0.1) }, accept: accept, defaultQuality: defaultQuality,
                                defaultWait: 60, maxWait: 300)
    }

    @Test func acceptChoosesBetweenWebPAndPNG() {
        let cases: [(String?, OutputFormat)] = [
            (nil, .png), ("", .png), ("*/*", .png), ("image/*", .png), ("image/png", .png),
            ("image/webp", .webp), ("image/webp,*/*", .webp), ("IMAGE/WEBP", .webp),
            // Chrome and Firefox for an <img>.
            ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", .webp),
            ("image/avif,image/webp,*/*", .webp),
            ("image/png, image/webp;q=0.5", .png), ("image/webp;q=0.5, image/*;q=0.4", .webp),
            ("image/webp;q=0", .png), ("image/webp;q=0.0, */*", .png), ("image/webp;q=abc", .png),
            ("image/webp ; q=1.0 , image/png;q=1", .webp), ("text/html", .png),
            // RFC 9110 weights: at most 1, at most three decimals; anything else is malformed, so 0.
            ("image/webp;q=1.5, image/png;q=0.9", .png), ("image/webp;q=0.0001", .png), ("image/webp;q=0.001", .webp),
            ("image/webp;q=1.000, image/png", .webp), ("image/webp;q=1.001", .png), ("image/webp;q=.5", .png),
            ("image/webp;q=0.", .png), ("image/webp;q=-0.5", .png), ("image/webp;q=1e0", .png),
        ]
        for (accept, expected) in cases {
            #expect(OutputFormat.negotiated(accept: accept) == expected, "Accept: \(accept ?? "none")")
        }
    }

    @Test func formatFromAcceptIsMarked() throws {
        let negotiated = try parse([("w", "10")], accept: "image/webp")
        #expect(negotiated.format == .webp && negotiated.formatFromAccept)
        #expect(negotiated.quality == 90)
        let fallback = try parse([("w", "10")], accept: "*/*")
        #expect(fallback.format == .png && fallback.formatFromAccept && fallback.quality == nil)
        let explicit = try parse([("w", "10"), ("format", "png")], accept: "image/webp")
        #expect(explicit.format == .png && !explicit.formatFromAccept)
    }

    @Test func qualityIsPerRequestWithTheConfiguredDefault() throws {
        #expect(try parse([("w", "10"), ("format", "jpeg")], defaultQuality: 77).quality == 77)
        #expect(try parse([("w", "10"), ("format", "webp"), ("quality", "35")]).quality == 35)
        #expect(try parse([("w", "10"), ("format", "jpeg"), ("quality", "100")]).quality == 100)
        #expect(try parse([("w", "10"), ("format", "jpeg")], defaultQuality: nil).quality == nil)
        // Without format, a quality applies when Accept picks WebP and is dropped for PNG.
        #expect(try parse([("w", "10"), ("quality", "40")], accept: "image/webp").quality == 40)
        #expect(try parse([("w", "10"), ("quality", "40")], accept: "*/*").quality == nil)
    }

    @Test func badQualitiesAreRefused() {
        let cases: [([(String, String)], String)] = [
            ([("w", "10"), ("format", "jpeg"), ("quality", "0")], "quality must be an integer from 1 to 100"),
            ([("w", "10"), ("format", "jpeg"), ("quality", "101")], "quality must be an integer from 1 to 100"),
            ([("w", "10"), ("format", "webp"), ("quality", "9.5")], "quality must be"),
            ([("w", "10"), ("format", "png"), ("quality", "80")], "quality applies to format=jpeg or format=webp, not format=png"),
            ([("w", "10"), ("format", "jpeg"), ("quality", "80"), ("quality", "81")], "more than once"),
            ([("w", "10"), ("format", "avif")], "format must be one of png, jpeg, webp"),
        ]
        expectRefusals(cases) { try parse($0) }
    }

    @Test func webpOutputsOverItsLargestSideAreRefusedUpFront() throws {
        var config = ServiceConfig()
        config.maxOutputDimension = 20_000
        config.maxScaleOutputPixels = 400_000_000
        let pipeline = ResizePipeline(config: config)
        let input = try ImageEncoder.png(RasterImage(width: 40, height: 20))
        #expect(try pipeline.inspect(input, options: parse([("w", "16383"), ("method", "scale"), ("format", "webp")]).options).width == 16383)
        do {
            _ = try pipeline.inspect(input, options: parse([("w", "16384"), ("method", "scale"), ("format", "webp")]).options)
            Issue.record("accepted a 16384-pixel WebP")
        } catch {
            let problem = Problem(error)
            #expect(problem.status == 422 && problem.detail.contains("WebP's largest dimension 16383"), "\(problem)")
        }
        #expect(try pipeline.inspect(input, options: parse([("w", "16384"), ("method", "scale"), ("format", "png")]).options).width == 16384)
    }

    /// Every method's run says what it did in one line (a job's `summary`): seam's uniform scale, and its
    /// seams on the axis that differs; scale's crop under fit=cover.
    @Test func everyMethodSaysWhatItDid() throws {
        let pipeline = ResizePipeline(config: ServiceConfig())
        let input = try ImageEncoder.png(RasterImage(width: 64, height: 48))
        func summary(_ query: [(String, String)]) throws -> String {
            let request = try parse(query)
            let size = try pipeline.inspect(input, options: request.options)
            return try pipeline.run(input, options: request.options, width: size.width, height: size.height).summary
        }
        #expect(try summary([("w", "32"), ("h", "24"), ("method", "seam")]) == "uniform scale 64×48 → 32×24: the aspect ratio is kept, no seams")
        #expect(try summary([("w", "40"), ("h", "48"), ("method", "seam")]) == "seams 64×48 → 40×48 (24 columns removed)")
        #expect(try summary([("w", "16"), ("h", "16"), ("method", "seam")]) == "uniform scale 64×48 → 21×16, then seams 21×16 → 16×16 (5 columns removed)")
        #expect(try summary([("w", "64"), ("h", "60"), ("method", "seam")]) == "seams 64×48 → 64×60 (12 rows inserted)")
        #expect(try summary([("w", "64"), ("h", "48"), ("method", "seam")]) == "nothing to do: the source is 64×48 already")
        #expect(try summary([("w", "32"), ("method", "scale")]) == "scale 64×48 → 32×24")
        #expect(try summary([("w", "24"), ("h", "24"), ("method", "scale"), ("fit", "cover")]) == "scale 64×48 → 24×24 (fit=cover: the centre 48×48 first)")
    }

    /// libjpeg writes at most 65500 pixels a side: a longer JPEG was accepted, queued, and failed in the
    /// encoder with a 500 (a 65501 × 1 seam result); it is a 422 before any work, as WebP's limit is.
    @Test func jpegOutputsOverItsLargestSideAreRefusedUpFront() throws {
        var config = ServiceConfig()
        config.maxOutputDimension = 70_000
        let pipeline = ResizePipeline(config: config)
        let input = try ImageEncoder.png(RasterImage(width: 40, height: 20))
        let fits = try pipeline.inspect(input, options: parse([("w", "65500"), ("h", "1"), ("method", "scale"), ("format", "jpeg")]).options)
        #expect(fits.width == 65500)
        for method in ["scale", "seam"] {
            for (w, h) in [("65501", "1"), ("1", "65501")] {
                do {
                    _ = try pipeline.inspect(input, options: parse([("w", w), ("h", h), ("method", method), ("format", "jpeg")]).options)
                    Issue.record("accepted a \(w)×\(h) JPEG by \(method)")
                } catch {
                    let problem = Problem(error)
                    #expect(problem.status == 422 && problem.detail.contains("JPEG's largest dimension 65500; ask for format=png"), "\(problem)")
                }
            }
        }
        // The encoder's own limit, which the check above keeps requests from reaching.
        #expect(throws: ImageCodecError.self) { try ImageEncoder.jpeg(RasterImage(width: 65501, height: 1)) }
        #expect(try ImageEncoder.jpeg(RasterImage(width: 65500, height: 1)).count > 0)
    }

    @Test func jobParamsKeepFormatAndQuality() throws {
        let options = try parse([("w", "10"), ("format", "webp"), ("quality", "61"), ("method", "seam")]).options
        let params = JobParams(options, width: 10, height: 8)
        #expect(params.format == "webp" && params.quality == 61)
        #expect(JobParams(try parse([("w", "10"), ("format", "png")]).options, width: 10, height: 8).quality == nil)
        // A row written before quality existed decodes, without one.
        let old = try JSONDecoder().decode(JobParams.self, from: Data(#"{"w":4,"h":3,"format":"jpeg"}"#.utf8))
        #expect(old.quality == nil && old.format == "jpeg")
    }
}
