import Foundation
import ImageCodecs
import Testing
import TestSupport
@testable import Server

/// Issue 16, item 6: `fit` for `scale` (fill, contain, cover), and a 400 naming a parameter the method would
/// ignore.
@Suite struct FitOptionsTests {
    private func parse(_ query: [(String, String)]) throws -> ResizeRequest {
        try ResizeRequest.parse(query.map { (name: $0.0, value: $0.1) }, defaultWait: 60, maxWait: 300)
    }

    @Test func containKeepsTheAspectRatioInsideTheBox() throws {
        func size(_ fit: String, _ w: String, _ h: String, _ source: (Int, Int)) throws -> (Int, Int) {
            let options = try parse([("w", w), ("h", h), ("method", "scale"), ("fit", fit)]).options
            let size = options.targetSize(sourceWidth: source.0, sourceHeight: source.1)
            return (size.width, size.height)
        }
        #expect(try size("fill", "400", "400", (4000, 3000)) == (400, 400))
        #expect(try size("cover", "400", "400", (4000, 3000)) == (400, 400))
        #expect(try size("contain", "400", "400", (4000, 3000)) == (400, 300))
        #expect(try size("contain", "400", "100", (4000, 3000)) == (133, 100))
        #expect(try size("contain", "1", "1000", (5000, 10)) == (1, 1))
        #expect(try parse([("w", "10"), ("method", "scale")]).options.fit == .fill)
    }

    @Test func coverCropsAroundTheCentre() {
        // 6×2, columns 0…5: cropping to a square keeps columns 2 and 3.
        let row: [UInt8] = (0..<6).flatMap { x -> [UInt8] in [UInt8(x), 0, 0] }
        let pixels = row + row
        let image = RasterImage(width: 6, height: 2, channels: 3, pixels: pixels)
        let crop = ResizePipeline.centreCrop(image, toAspectOf: 10, 10)
        #expect(crop.width == 2 && crop.height == 2 && crop.pixels == [2, 0, 0, 3, 0, 0, 2, 0, 0, 3, 0, 0])
        #expect(ResizePipeline.centreCrop(image, toAspectOf: 3, 1) == image)
    }

    @Test func coverWithOneSideIsThePlainScale() throws {
        // 1001×500 at w=100: the height rounds to 50, and cover must not crop the column that rounding leaves.
        let pipeline = ResizePipeline(config: ServiceConfig())
        let png = try ImageEncoder.png(TestImages.scene(width: 1001, height: 500))
        var outputs: [[UInt8]] = []
        for fit in ["fill", "cover"] {
            let options = try parse([("w", "100"), ("method", "scale"), ("fit", fit)]).options
            let size = options.targetSize(sourceWidth: 1001, sourceHeight: 500)
            #expect(size == (100, 50))
            outputs.append(try pipeline.run(png, options: options, width: size.width, height: size.height).output)
        }
        #expect(outputs[0] == outputs[1])
    }

    @Test func aParameterTheMethodWouldIgnoreIsA400NamingIt() {
        let cases: [([(String, String)], String)] = [
            ([("w", "10"), ("method", "scale"), ("iterations", "5")], "'iterations' applies to method=deep only; method=scale"),
            ([("w", "10"), ("method", "seam"), ("protect", "false")], "'protect' applies to method=deep only; method=seam"),
            ([("w", "10"), ("method", "scale"), ("operator", "linear")], "'operator' applies to method=deep"),
            ([("w", "10"), ("method", "seam"), ("fit", "cover")], "'fit' applies to method=scale only; method=seam"),
            ([("w", "10"), ("fit", "contain")], "method=deep (the default) would ignore it"),
            ([("w", "10"), ("method", "scale"), ("fit", "stretch")], "fit must be one of fill, contain, cover"),
        ]
        expectRefusals(cases) { try parse($0) }
    }
}

@Suite struct FitEndToEndTests {
    @Test func scaleFitsFillContainAndCover() throws {
        let server = try ServerProcess()
        // 160×120: a red band at the left (x < 20), a blue band at the right (x ≥ 140), green between.
        var pixels: [UInt8] = []
        for _ in 0..<120 {
            for x in 0..<160 { pixels += x < 20 ? [255, 0, 0] : x >= 140 ? [0, 0, 255] : [0, 255, 0] }
        }
        let input = try TestImages.file(RasterImage(width: 160, height: 120, channels: 3, pixels: pixels))
        func resize(_ query: String) throws -> RasterImage {
            let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?method=scale&\(query)")
            #expect(answer.status == 200, "\(query): \(answer.text)")
            return try ImageDecoder.decode(answer.body)
        }
        let fill = try resize("w=80&h=80")
        #expect(fill.width == 80 && fill.height == 80)
        #expect(fill.pixels[0] > 200, "fill keeps the red band")
        let same = try resize("w=80&h=80&fit=fill")
        #expect(same == fill)
        let contain = try resize("w=80&h=80&fit=contain")
        #expect(contain.width == 80 && contain.height == 60)
        let tall = try resize("w=100&h=30&fit=contain")
        #expect(tall.width == 40 && tall.height == 30)
        let cover = try resize("w=80&h=80&fit=cover")
        #expect(cover.width == 80 && cover.height == 80)
        // The centre 120×120 was kept: green from edge to edge, no red, no blue.
        let edges = [TestImages.pixel(cover, 0, 40), TestImages.pixel(cover, 79, 40)]
        #expect(edges.allSatisfy { $0[0] < 30 && $0[1] > 220 && $0[2] < 30 }, "\(edges)")
        let wide = try resize("w=80&h=20&fit=cover")
        #expect(wide.width == 80 && wide.height == 20 && TestImages.pixel(wide, 0, 10)[0] > 200)

        for (query, name) in [("method=scale&w=80&iterations=3", "iterations"), ("method=seam&w=80&fit=cover", "fit"),
                              ("method=deep&w=80&h=80&fit=contain", "fit"), ("method=scale&w=80&protect=true", "protect")] {
            let refused = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?\(query)")
            #expect(refused.status == 400 && refused.headers["content-type"] == "application/problem+json")
            #expect((try refused.json()["detail"] as? String ?? "").contains("'\(name)' applies to"), "\(query): \(refused.text)")
        }
    }
}
