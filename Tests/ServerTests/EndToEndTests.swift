import Engine
import Foundation
import ImageCodecs
import Testing
import TestSupport

/// The real server process and curl over 127.0.0.1: what a user of docs/api.md sees.
@Suite(.serialized) struct EndToEndTests {
    @Test func scaleAnswersThePNGInline() throws {
        let server = try ServerProcess()
        let input = try TestImages.file(TestImages.scene(width: 320, height: 240))
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=80&h=45&method=scale")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.headers["content-type"] == "image/png")
        #expect(answer.headers["server-timing"]?.contains("decode;dur=") == true)
        let image = try ImageDecoder.decode(answer.body)
        #expect(image.width == 80 && image.height == 45)
        // Only the width: the height follows the aspect ratio (320:240 → 100:75).
        let widthOnly = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=100&method=scale&format=jpeg")
        #expect(widthOnly.headers["content-type"] == "image/jpeg")
        let header = try ImageDecoder.readHeader(widthOnly.body)
        #expect(header.width == 100 && header.height == 75)
        // A raw body works as well as a multipart form.
        let raw = try curl(["--data-binary", "@\(input)", "-H", "Content-Type: image/png"], "\(server.baseURL)/resize?h=24&method=scale")
        #expect(try ImageDecoder.readHeader(raw.body).height == 24)
    }

    @Test func seamRunsAsAJobThatClientsPoll() throws {
        let server = try ServerProcess()
        let input = try TestImages.file(TestImages.scene(width: 160, height: 100))
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=110&h=100&method=seam&wait=0")
        #expect(answer.status == 202, "\(answer.text)")
        let job = try answer.json()
        let id = try #require(job["id"] as? String)
        #expect(answer.headers["location"] == "/jobs/\(id)")
        #expect(answer.headers["retry-after"] != nil)
        #expect(job["method"] as? String == "seam")
        let done = try pollJob(server, id: id)
        #expect(done["status"] as? String == "succeeded", "\(done)")
        let progress = try #require(done["progress"] as? [String: Any])
        #expect(progress["fraction"] as? Double == 1)
        #expect(progress["iterations"] as? Int == 50)
        #expect(done["finished_at"] is String)
        let result = try curl([], "\(server.baseURL)/jobs/\(id)/result")
        #expect(result.status == 200)
        let etag = try #require(result.headers["etag"])
        let image = try ImageDecoder.decode(result.body)
        #expect(image.width == 110 && image.height == 100)
        let again = try curl(["-H", "If-None-Match: \(etag)"], "\(server.baseURL)/jobs/\(id)/result")
        #expect(again.status == 304)
        let noMask = try curl([], "\(server.baseURL)/jobs/\(id)/mask")
        #expect(noMask.status == 404 && noMask.text.contains("only method=deep"))
    }

    @Test func deepRunsAsAJobAndChangesMoreThanTheLinearResize() throws {
        let server = try ServerProcess(settings: ["engine_threads": "2"])
        let ready = try curl([], "\(server.baseURL)/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        let input = try TestImages.file(TestImages.scene(width: 160, height: 120))
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=100&h=120&method=deep&iterations=30&wait=0")
        #expect(answer.status == 202, "\(answer.text)")
        let id = try #require(try answer.json()["id"] as? String)
        // Follow the job closely: the loss it reports after each iteration must go down.
        var losses: [Double] = []
        var done: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            done = try curl([], "\(server.baseURL)/jobs/\(id)").json()
            if let loss = (done["progress"] as? [String: Any])?["loss"] as? Double, loss != losses.last { losses.append(loss) }
            if ["succeeded", "failed", "canceled"].contains(done["status"] as? String ?? "") { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(done["status"] as? String == "succeeded", "\(done)")
        let progress = try #require(done["progress"] as? [String: Any])
        #expect(progress["iterations"] as? Int == 30)
        #expect(losses.count >= 2, "saw only \(losses)")
        #expect((losses.last ?? 1) < (losses.first ?? 0), "the loss did not decrease: \(losses)")
        let params = try #require(done["params"] as? [String: Any])
        #expect(params["operator"] as? String == "seam" && params["protect"] as? Bool == true)
        let result = try ImageDecoder.decode(try curl([], "\(server.baseURL)/jobs/\(id)/result").body)
        #expect(result.width == 100 && result.height == 120)
        // The mask is drawn over the image the method worked on (here the input itself).
        let mask = try curl([], "\(server.baseURL)/jobs/\(id)/mask")
        #expect(mask.status == 200 && mask.headers["content-type"] == "image/png")
        let maskImage = try ImageDecoder.decode(mask.body)
        #expect(maskImage.width == 160 && maskImage.height == 120)
        // The optimiser starts from the seams' own geometry, not the bilinear resize; the result is not that
        // resize.
        let start = try #require(FeatureResize.linear(Tensor(rgbOf: TestImages.scene(width: 160, height: 120)),
                                                      height: 120, width: 100).rgbImage())
        let difference = zip(result.pixels, start.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        #expect(Double(difference) / Double(result.pixels.count) > 1, "the deep result is the initial linear resize")
    }

    /// The README's own line, `curl -F image=@photo.jpg 'localhost:8080/resize?w=400&h=300'`, on a real photo
    /// with every default (method deep, default wait): the image comes back, never a 202.
    @Test func theReadmeLineAnswersTheImage() throws {
        let server = try ServerProcess(settings: ["engine_threads": "2"])
        let photo = ServerProcess.packageRoot.appendingPathComponent("Tests/Fixtures/ladybird-320x240.jpg").path
        // Same aspect ratio (4:3 → 4:3): the uniform scale is the answer, at once.
        let started = Date()
        let same = try curl(["-F", "image=@\(photo)"], "\(server.baseURL)/resize?w=240&h=180")
        #expect(same.status == 200, "\(same.text)")
        #expect(same.headers["content-type"] == "image/png")
        let image = try ImageDecoder.decode(same.body)
        #expect(image.width == 240 && image.height == 180)
        #expect(Date().timeIntervalSince(started) < 10)
        // A change of aspect is reconstructed, and still answered within the default wait.
        let narrow = try curl(["-F", "image=@\(photo)"], "\(server.baseURL)/resize?w=200&h=240")
        #expect(narrow.status == 200, "\(narrow.text)")
        #expect(narrow.headers["content-type"] == "image/png")
        let carved = try ImageDecoder.decode(narrow.body)
        #expect(carved.width == 200 && carved.height == 240)
        // Each job's JSON says what was done: a uniform scale without the optimiser, or a reconstruction.
        func jobObject(_ answer: CurlResult) throws -> [String: Any] {
            let id = try #require(answer.headers["x-job-id"])
            let job = try curl([], "\(server.baseURL)/jobs/\(id)")
            return try #require(try JSONSerialization.jsonObject(with: Data(job.body)) as? [String: Any])
        }
        func summary(_ answer: CurlResult) throws -> String? { try jobObject(answer)["summary"] as? String }
        func maskLink(_ answer: CurlResult) throws -> String? { (try jobObject(answer)["links"] as? [String: Any])?["mask"] as? String }
        let uniform = try #require(try summary(same))
        #expect(uniform.contains("uniform scale") && uniform.contains("nothing to reconstruct"), "\(uniform)")
        let reconstructed = try #require(try summary(narrow))
        #expect(reconstructed.contains("reconstructed") && !reconstructed.contains("uniform scale 320×240 → 200×240:"), "\(reconstructed)")
        // So does a seam job's (it had none).
        let seamed = try curl(["-F", "image=@\(photo)"], "\(server.baseURL)/resize?w=200&h=240&method=seam")
        #expect(seamed.status == 200, "\(seamed.text)")
        #expect(try summary(seamed) == "seams 320×240 → 200×240 (120 columns removed)")
        // Only a reconstruction has a mask: the uniform scale's is a 404 that says why, not a lost file's 410.
        let noMask = try curl([], "\(server.baseURL)/jobs/\(same.headers["x-job-id"] ?? "")/mask")
        #expect(noMask.status == 404 && noMask.text.contains("kept the aspect ratio"), "\(noMask.status) \(noMask.text)")
        #expect(try curl([], "\(server.baseURL)/jobs/\(narrow.headers["x-job-id"] ?? "")/mask").status == 200)
        // The job links its mask only when it has one.
        #expect(try maskLink(same) == nil)
        #expect(try maskLink(narrow) == "/jobs/\(narrow.headers["x-job-id"] ?? "")/mask")
        // The start-up log names what answered: the weights file with a fingerprint, the network and the
        // arithmetic, the workers and the memory budget.
        let log = server.output
        #expect(log.contains("weights vgg16-imagenet.safetensors (fnv1a-64 ") && log.contains("vgg16 (caffe-bgr input)")
                && log.contains("engine_precision") && log.contains("job memory budget") && log.contains("workers"), "\(log)")
    }

    @Test func aQuickJobIsAnsweredWithinTheWait() throws {
        let server = try ServerProcess()
        let input = try TestImages.file(TestImages.scene(width: 120, height: 90))
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=100&method=seam&wait=60")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.headers["x-job-id"] != nil)
        let image = try ImageDecoder.decode(answer.body)
        #expect(image.width == 100 && image.height == 75)
        // Prefer: respond-async wins over the wait.
        let async = try curl(["-F", "image=@\(input)", "-H", "Prefer: respond-async"], "\(server.baseURL)/resize?w=100&method=seam")
        #expect(async.status == 202)
    }

    @Test func clientErrorsFollowTheContract() throws {
        let server = try ServerProcess(settings: ["max_body_bytes": "200000", "max_deep_output_pixels": "20000"])
        let input = try TestImages.file(TestImages.scene(width: 64, height: 48))
        let base = server.baseURL

        func problem(_ args: [String], _ url: String, _ status: Int, mentions: String) throws {
            let answer = try curl(args, url)
            #expect(answer.status == status, "\(url): \(answer.text)")
            #expect(answer.headers["content-type"] == "application/problem+json", "\(url)")
            let body = try answer.json()
            #expect(body["status"] as? Int == status)
            #expect((body["detail"] as? String ?? "").contains(mentions), "\(url): \(body)")
        }
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=10&method=scale&size=3", 400, mentions: "size")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?method=scale", 400, mentions: "w, h")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=0&method=scale", 400, mentions: "w must be")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=10&method=magic", 400, mentions: "method")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=10&iterations=5000", 400, mentions: "iterations")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=10&w=12&method=scale", 400, mentions: "more than once")
        try problem(["-F", "other=@\(input)"], "\(base)/resize?w=10&method=scale", 400, mentions: "image")
        let text = try TestImages.write(Array("hello, not an image".utf8), suffix: "png")
        try problem(["-F", "image=@\(text)"], "\(base)/resize?w=10&method=scale", 415, mentions: "not a JPEG, PNG or WebP")
        try problem(["--data-binary", "@\(input)", "-H", "Content-Type: text/plain"], "\(base)/resize?w=10&method=scale", 415, mentions: "multipart")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=400&h=300&method=seam", 422, mentions: "exceeds")
        try problem(["-F", "image=@\(input)"], "\(base)/resize?w=9000&method=scale", 422, mentions: "8192")
        // A PNG whose header claims 100000×100000: refused from the header, before any decoding.
        try problem(["-F", "image=@\(try TestImages.write(Self.pngHeader(width: 100_000, height: 100_000), suffix: "png"))"],
                    "\(base)/resize?w=10&method=scale", 422, mentions: "exceeds")
        let big = try TestImages.file(TestImages.noise(width: 300, height: 300))
        let tooLarge = try curl(["-F", "image=@\(big)"], "\(base)/resize?w=10&method=scale")
        #expect(tooLarge.status == 413)
        try problem([], "\(base)/nowhere", 404, mentions: "/nowhere")
        let wrongMethod = try curl([], "\(base)/resize")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["allow"] == "POST")
        try problem([], "\(base)/jobs/0b7e3f6c-9d1a-4c2b-8e5f-1a2b3c4d5e6f", 404, mentions: "no job")
        try problem([], "\(base)/jobs/..%2F..%2Fetc%2Fpasswd", 404, mentions: "no job")  // %2F stays inside the id
        try problem([], "\(base)/jobs/not-a-uuid", 404, mentions: "no job")
        // curl -I writes the head where the body would go; a body after it would show up as JSON.
        let head = try curl(["-I"], "\(base)/healthz")
        #expect(head.status == 200 && !head.text.contains("{"))
    }

    @Test func deleteCancelsAQueuedJobAndItsResultIsAConflict() throws {
        // No workers free: a long job occupies the only one, the next stays queued.
        let server = try ServerProcess()
        let slow = try TestImages.file(TestImages.scene(width: 900, height: 600))
        let first = try curl(["-F", "image=@\(slow)"], "\(server.baseURL)/resize?w=450&h=600&method=seam&wait=0").json()
        let second = try curl(["-F", "image=@\(slow)"], "\(server.baseURL)/resize?w=450&h=600&method=seam&wait=0").json()
        let id = try #require(second["id"] as? String)
        #expect(second["queue_position"] as? Int != nil)
        let conflict = try curl([], "\(server.baseURL)/jobs/\(id)/result")
        #expect(conflict.status == 409)
        let canceled = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(id)")
        #expect(canceled.status == 200)
        #expect(try canceled.json()["status"] as? String == "canceled")
        // And a running one stops at its next step.
        let firstID = try #require(first["id"] as? String)
        _ = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(firstID)")
        let stopped = try pollJob(server, id: firstID, timeout: 30)
        #expect(["canceled", "succeeded"].contains(stopped["status"] as? String ?? ""), "\(stopped)")
    }

    @Test func aFullQueueAnswers429WithRetryAfter() throws {
        let server = try ServerProcess(settings: ["queue_capacity": "1"])
        let slow = try TestImages.file(TestImages.scene(width: 900, height: 600))
        var statuses: [Int] = []
        var retryAfter: String?
        // One job runs, one waits in the queue (the capacity), the next is refused.
        for _ in 0..<4 {
            let answer = try curl(["-F", "image=@\(slow)"], "\(server.baseURL)/resize?w=450&h=600&method=seam&wait=0")
            statuses.append(answer.status)
            if answer.status == 429 { retryAfter = answer.headers["retry-after"] }
        }
        #expect(statuses.contains(429), "\(statuses)")
        #expect(Int(retryAfter ?? "") ?? 0 >= 1)
    }

    @Test func keepAliveReusesOneConnection() throws {
        let server = try ServerProcess()
        let answer = try curl([], "\(server.baseURL)/healthz", "\(server.baseURL)/readyz", "\(server.baseURL)/healthz")
        #expect(answer.status == 200)
        #expect(answer.verbose.components(separatedBy: "Re-using existing connection").count - 1 == 2, "\(answer.verbose)")
    }

    @Test func expectContinueLetsALargeUploadThroughWithoutDelay() throws {
        let server = try ServerProcess()
        // Random pixels do not compress: a ≈ 2 MB PNG, over curl's 1 MiB threshold for Expect: 100-continue.
        let input = try TestImages.file(TestImages.noise(width: 840, height: 840))
        let size = try FileManager.default.attributesOfItem(atPath: input)[.size] as? Int ?? 0
        #expect(size > 2_000_000)
        let answer = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=64&method=scale")
        #expect(answer.status == 200)
        #expect(answer.verbose.contains("HTTP/1.1 100 Continue"))
        // Without a 100 the client would wait a full second before sending the body.
        #expect(answer.seconds < 1.0, "took \(answer.seconds) s")
        // A body the service cannot take is refused from the head: no 100, no upload.
        let refused = try curl(["--data-binary", "@\(input)", "-H", "Content-Type: text/plain"], "\(server.baseURL)/resize?w=64&method=scale")
        #expect(refused.status == 415)
        #expect(!refused.verbose.contains("HTTP/1.1 100 Continue"))
    }

    @Test func sigtermStopsPromptlyAndJobsSurvive() throws {
        let data = try ServerProcess.temporaryDirectory("term")
        let server = try ServerProcess(dataDirectory: data)
        let input = try TestImages.file(TestImages.scene(width: 400, height: 300))
        let job = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=200&h=300&method=seam&wait=0").json()
        let id = try #require(job["id"] as? String)
        Thread.sleep(forTimeInterval: 0.3)
        let (status, seconds) = server.terminate()
        #expect(status == 0)
        #expect(seconds < 10)
        let restarted = try ServerProcess(dataDirectory: data)
        let done = try pollJob(restarted, id: id)
        #expect(done["status"] as? String == "succeeded", "\(done)")
    }

    /// A small, well-formed PNG (valid CRCs) whose IHDR claims the given size: an image bomb's header.
    static func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        var chunk: [UInt8] = Array("IHDR".utf8)
        for value in [width, height] { chunk += withUnsafeBytes(of: value.bigEndian, Array.init) }
        chunk += [8, 2, 0, 0, 0]
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func append(_ chunk: [UInt8]) {
            bytes += withUnsafeBytes(of: UInt32(chunk.count - 4).bigEndian, Array.init) + chunk
            bytes += withUnsafeBytes(of: crc32(chunk).bigEndian, Array.init)
        }
        append(chunk)
        append(Array("IDAT".utf8) + [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])  // a few zlib bytes
        append(Array("IEND".utf8))
        return bytes
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }
}
