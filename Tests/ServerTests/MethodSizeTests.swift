import Engine
import Foundation
import ImageCodecs
import Testing

@testable import Server
import TestSupport

/// The sizes a method cannot handle are refused by `inspect` with a 422 that says why, before the memory
/// estimate runs and before any pixel is decoded (issue 11: the deep requests here killed the server with
/// SIGFPE in the estimate).
@Suite struct MethodSizeTests {
    static let pipeline = ResizePipeline(config: ServiceConfig())

    /// `inspect`, with what it throws as the problem the HTTP edge answers.
    static func inspect(_ width: Int, _ height: Int, _ query: [(name: String, value: String)]) throws {
        let bytes = try ImageEncoder.png(TestImages.scene(width: width, height: height))
        let options = try ResizeRequest.parse(query, defaultWait: 0, maxWait: 0).options
        do {
            _ = try pipeline.inspect(bytes, options: options)
        } catch {
            throw Problem(error)
        }
    }

    /// Each of these killed the server. Now a request that keeps the aspect ratio (within a pixel) is a
    /// uniform scale at any size, a content-aware one gets a working image of at least 16×16
    /// (`ResizeGeometry`), and only an output under 8×8 that still needs a content-aware change is refused.
    @Test("the issue's reproductions end in an image or a 422 with a reason",
          arguments: [(1, 1, "100", "100", true), (160, 120, "7", "100", false), (160, 120, "1", "1", true),
                      (15, 200, "15", "200", true), (1, 20000, nil, "1", false), (200, 15, "100", "100", true)]
              as [(Int, Int, String?, String?, Bool)])
    func deepRefusesOnlyWhatItCannotDo(width: Int, height: Int, w: String?, h: String?, accepted: Bool) throws {
        var query: [(name: String, value: String)] = [("method", "deep")]
        if let w { query.append(("w", w)) }
        if let h { query.append(("h", h)) }
        if accepted {
            try Self.inspect(width, height, query)
        } else {
            let problem = try #require(throws: Problem.self) { try Self.inspect(width, height, query) }
            #expect(problem.status == 422)
            #expect(problem.detail.contains("method=deep"), "\(problem.detail)")
        }
    }

    @Test func deepAcceptsTheSmallestItCanDo() throws {
        try Self.inspect(16, 16, [("method", "deep"), ("w", "8"), ("h", "8")])
        try Self.inspect(640, 480, [("method", "deep"), ("w", "8"), ("h", "8")])
    }

    @Test func seamRefusesASideLongerThanItHandles() throws {
        let problem = try #require(throws: Problem.self) {
            try Self.inspect(4, 4, [("method", "seam"), ("w", "999999"), ("h", "1")])
        }
        #expect(problem.status == 422)
    }

    @Test func scaleIsBoundedByItsOutputArea() throws {
        // 1 KB upload, 67 MP out: refused; the same width at 40 MP is fine.
        let problem = try #require(throws: Problem.self) {
            try Self.inspect(16, 16, [("method", "scale"), ("w", "8192"), ("h", "8192")])
        }
        #expect(problem.status == 422 && problem.detail.contains("max_scale_output_pixels"))
        try Self.inspect(16, 16, [("method", "scale"), ("w", "8192"), ("h", "4882")])
    }

    @Test func engineRefusalsAre4xxNot500() {
        #expect(Problem(SeamCarvingError.invalidTargetSize(width: 0, height: 1)).status == 422)
        #expect(Problem(DeepResizeError("too small")).status == 422)
    }
}

/// `seam` is bounded by its work (pixels × seams), not by the size of the upload.
@Suite struct SeamWorkTests {
    @Test func theIssuesTinyPNGAskedForAWideStripIsRefused() throws {
        // 1×20000 PNG (under 1 KB), w=1000&h=1: held the only worker for 133 s.
        let problem = try #require(throws: Problem.self) {
            try MethodSizeTests.inspect(1, 20000, [("method", "seam"), ("w", "1000"), ("h", "1")])
        }
        #expect(problem.status == 422)
        #expect(problem.detail.contains("max_seam_work"), "\(problem.detail)")
    }

    @Test func ordinaryJobsAtTheOutputCapFitTheDefault() throws {
        let pipeline = MethodSizeTests.pipeline
        // A 4K photo to 1 MP, a small image doubled, a tiny one grown to the cap.
        for (source, target) in [((3840, 2160), (1000, 1000)), ((500, 500), (1000, 1000)), ((16, 16), (1000, 1000)),
                                 ((8404, 4726), (1000, 562))] {
            let work = pipeline.seamWork(sourceWidth: source.0, sourceHeight: source.1, sourceFormat: .jpeg,
                                         width: target.0, height: target.1)
            #expect(work.pixelSeams <= ServiceConfig().maxSeamWork, "\(source) → \(target): \(work)")
        }
        let work = pipeline.seamWork(sourceWidth: 1, sourceHeight: 20000, sourceFormat: .png, width: 1000, height: 1)
        #expect(work.seams == 999 + 19999 && work.pixels == 1000 * 20000)
    }

    @Test func scientificNotation() {
        #expect(scientific(4_000_000_000) == "4e9")
        #expect(scientific(419_960_000_000) == "4.2e11")
        #expect(scientific(999) == "999")
    }
}
