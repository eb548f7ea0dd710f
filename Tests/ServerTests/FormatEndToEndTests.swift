import Foundation
import ImageCodecs
import Testing
import TestSupport

/// WebP in and out, `quality`, and the `Accept` negotiation, through the real server and curl.
@Suite(.serialized) struct FormatEndToEndTests {
    static func isWebP(_ bytes: [UInt8]) -> Bool {
        bytes.count > 12 && bytes[0..<4].elementsEqual("RIFF".utf8) && bytes[8..<12].elementsEqual("WEBP".utf8)
    }

    @Test func scaleAnswersWebPWithAlpha() throws {
        let server = try ServerProcess()
        // RGBA: opaque on the left, fading to transparent on the right.
        var source = RasterImage(width: 120, height: 80, channels: 4)
        let scene = TestImages.scene(width: 120, height: 80)
        for p in 0..<(120 * 80) {
            source.pixels[p * 4] = scene.pixels[p * 3]
            source.pixels[p * 4 + 1] = scene.pixels[p * 3 + 1]
            source.pixels[p * 4 + 2] = scene.pixels[p * 3 + 2]
            source.pixels[p * 4 + 3] = UInt8(255 - (p % 120) * 2)
        }
        let input = try TestImages.write(try ImageEncoder.png(source), suffix: "png")
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=60&h=40&method=scale&format=webp")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.headers["content-type"] == "image/webp")
        #expect(answer.headers["vary"] == nil)
        #expect(Self.isWebP(answer.body))
        let header = try ImageDecoder.readHeader(answer.body)
        #expect(header.format == .webp && header.width == 60 && header.height == 40 && header.hasAlpha)
        let image = try ImageDecoder.decode(answer.body)
        #expect(image.channels == 4 && image.pixels[3] > 240 && image.pixels[(59 * 4) + 3] < 40)
    }

    @Test func acceptDecidesWithoutFormat() throws {
        let server = try ServerProcess()
        let input = try TestImages.file(TestImages.scene(width: 160, height: 120))
        let url = "\(server.baseURL)/resize?w=80&method=scale"
        let browser = try curl(["-F", "image=@\(input)", "-H", "Accept: image/avif,image/webp,*/*;q=0.8"], url)
        #expect(browser.status == 200 && browser.headers["content-type"] == "image/webp" && Self.isWebP(browser.body))
        #expect(browser.headers["vary"] == "Accept")
        // curl's own Accept: */*: the PNG of the README.
        let plain = try curl(["-F", "image=@\(input)"], url)
        #expect(plain.headers["content-type"] == "image/png" && plain.headers["vary"] == "Accept")
        #expect(ImageDecoder.sniff(plain.body) == .png)
        // An explicit format wins over Accept and does not vary.
        let explicit = try curl(["-F", "image=@\(input)", "-H", "Accept: image/webp"], url + "&format=jpeg")
        #expect(explicit.headers["content-type"] == "image/jpeg" && explicit.headers["vary"] == nil)
        // A queued job that waits answers with the negotiated format too.
        let seam = try curl(["-F", "image=@\(input)", "-H", "Accept: image/webp"], "\(server.baseURL)/resize?w=150&method=seam&wait=60")
        #expect(seam.status == 200, "\(seam.text)")
        #expect(seam.headers["content-type"] == "image/webp" && seam.headers["vary"] == "Accept")
        let id = try #require(seam.headers["x-job-id"])
        let job = try curl([], "\(server.baseURL)/jobs/\(id)").json()
        let params = try #require(job["params"] as? [String: Any])
        #expect(params["format"] as? String == "webp" && params["quality"] as? Int == 90, "\(params)")
        let result = try curl([], "\(server.baseURL)/jobs/\(id)/result")
        #expect(result.headers["content-type"] == "image/webp" && Self.isWebP(result.body))
    }

    @Test func higherQualityGivesLargerAnswers() throws {
        let server = try ServerProcess(settings: ["jpeg_quality": "50"])
        let input = try TestImages.file(TestImages.noise(width: 200, height: 150))
        for format in ["jpeg", "webp"] {
            var sizes: [Int] = []
            for quality in ["20", nil, "80", "100"] as [String?] {
                let query = "w=200&h=150&method=scale&format=\(format)" + (quality.map { "&quality=\($0)" } ?? "")
                let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?\(query)")
                #expect(answer.status == 200, "\(query): \(answer.text)")
                #expect(answer.headers["content-type"] == "image/\(format)")
                sizes.append(answer.body.count)
            }
            // nil = jpeg_quality 50: between 20 and 80.
            #expect(sizes == sizes.sorted() && Set(sizes).count == sizes.count, "\(format): \(sizes)")
        }
        let refused = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=20&method=scale&format=png&quality=80")
        #expect(refused.status == 400 && refused.text.contains("quality applies to format=jpeg or format=webp"))
    }

    @Test func webpInputIsReadAndOtherFormatsAreNamed() throws {
        let server = try ServerProcess()
        let webp = try ImageEncoder.webp(TestImages.scene(width: 90, height: 60), quality: 90)
        let path = try TestImages.write(webp, suffix: "webp")
        let raw = try curl(["--data-binary", "@\(path)", "-H", "Content-Type: image/webp"],
                           "\(server.baseURL)/resize?w=45&method=scale&format=png")
        #expect(raw.status == 200, "\(raw.text)")
        #expect(try ImageDecoder.readHeader(raw.body).width == 45)
        let form = try curl(["-F", "image=@\(path)"], "\(server.baseURL)/resize?w=30&method=scale&format=webp&quality=60")
        #expect(form.status == 200 && Self.isWebP(form.body))
        let gif = try TestImages.write(Array("GIF89a".utf8) + [2, 0, 2, 0, 0, 0, 0] + [0x3B], suffix: "gif")
        let refused = try curl(["-F", "image=@\(gif)"], "\(server.baseURL)/resize?w=10&method=scale")
        #expect(refused.status == 415)
        let detail = try refused.json()["detail"] as? String ?? ""
        #expect(detail.contains("GIF") && detail.contains("JPEG, PNG or WebP"), "\(detail)")
    }
}
