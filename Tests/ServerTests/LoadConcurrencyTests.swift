import Foundation
@testable import Server
import ImageCodecs
import Synchronization
import Testing

/// Many clients at once against the real server: every answer must be the result of its own upload.
@Suite(.serialized) struct LoadConcurrencyTests {
    /// 200 uploads at the same moment, half `scale` (answered inline) and half `seam` (queued jobs the
    /// request waits for). Each input is a solid colour no other request uses and asks for its own width,
    /// so a result that crossed over to another request would show the wrong colour or size.
    @Test func twoHundredConcurrentUploadsEachGetTheirOwnResult() throws {
        let server = try ServerProcess(settings: ["queue_capacity": "300"], workers: 2)
        let count = 200
        let failures = Mutex<[String]>([])
        let statuses = Mutex<[Int: Int]>([:])
        let done = DispatchGroup()
        let started = Date()
        for i in 0..<count {
            let colour: [UInt8] = [UInt8(i), UInt8(255 - i), UInt8(truncatingIfNeeded: i * 7 + 30)]
            let pixels = [[UInt8]](repeating: colour, count: 320 * 240).flatMap { $0 }
            let png = try ImageEncoder.png(RasterImage(width: 320, height: 240, channels: 3, pixels: pixels))
            let method = i % 2 == 0 ? "scale" : "seam"
            let width = (method == "scale" ? 100 : 200) + i % 50
            let query = method == "scale" ? "w=\(width)&h=120&method=scale" : "w=\(width)&h=240&method=seam&wait=120"
            done.enter()
            Thread {
                defer { done.leave() }
                guard let answer = postImage(port: server.port, query: query, png: png, timeout: 180) else {
                    failures.withLock { $0.append("\(i): no answer") }
                    return
                }
                statuses.withLock { $0[answer.status, default: 0] += 1 }
                guard answer.status == 200, let image = try? ImageDecoder.decode(answer.body) else {
                    failures.withLock { $0.append("\(i): \(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))") }
                    return
                }
                let expectedHeight = method == "scale" ? 120 : 240
                if image.width != width || image.height != expectedHeight {
                    failures.withLock { $0.append("\(i): got \(image.width)x\(image.height), asked \(width)x\(expectedHeight)") }
                    return
                }
                for index in [0, image.width * image.height / 2, image.width * image.height - 1] {
                    let got = image.pixels[(index * 3)..<(index * 3 + 3)]
                    if zip(got, colour).contains(where: { abs(Int($0) - Int($1)) > 1 }) {
                        failures.withLock { $0.append("\(i): pixel \(Array(got)) is not its colour \(colour)") }
                        return
                    }
                }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 300) == .success)
        let seconds = Date().timeIntervalSince(started)
        let memory = residentMegabytes(pid: server.pid)
        let problems = failures.withLock { $0 }
        print("load: \(count) concurrent uploads (100 scale, 100 seam) in \(String(format: "%.1f", seconds)) s; statuses \(statuses.withLock { $0 }); server peak RSS \(memory.peak) MB, now \(memory.current) MB")
        #expect(problems.isEmpty, "\(problems.count) wrong answers, e.g. \(problems.prefix(5))")
        #expect(server.isRunning)
    }

    /// Inline `scale` runs at most one request per core; the others wait for a slot, and their
    /// `Server-Timing` says how long (its `queue` was always 0).
    @Test func inlineScalesThatWaitForASlotSayHowLongInServerTiming() throws {
        let server = try ServerProcess()
        // The server runs one inline scale per online CPU (ServiceConfig.cpuCount, not this process's
        // affinity): three requests per slot make some wait.
        let count = 3 * ServiceConfig.cpuCount
        let png = try ImageEncoder.png(RasterImage(width: 4, height: 3))
        let timings = Mutex<[(queue: Double, process: Double)]>([])
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for i in 0..<count {
            done.enter()
            Thread {
                defer { done.leave() }
                guard let answer = postImage(port: server.port, query: "w=3000&h=2250&method=scale", png: png, timeout: 120),
                      answer.status == 200, let header = answer.headers["Server-Timing"] else {
                    failures.withLock { $0.append("\(i): no image") }
                    return
                }
                // "queue;dur=12.3, decode;dur=…, process;dur=…, encode;dur=…"
                var durations: [String: Double] = [:]
                for part in header.split(separator: ",") {
                    let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                    if fields.count == 2, fields[1].hasPrefix("dur="), let ms = Double(fields[1].dropFirst(4)) { durations[fields[0]] = ms }
                }
                guard let queue = durations["queue"], let process = durations["process"] else {
                    failures.withLock { $0.append("\(i): Server-Timing \(header)") }
                    return
                }
                timings.withLock { $0.append((queue, process)) }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 300) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let measured = timings.withLock { $0 }
        let shortest = measured.map(\.process).min() ?? 0
        // Three requests per slot: some waited at least one resize's time.
        #expect(measured.contains { $0.queue >= 0.5 * shortest } && shortest > 0, "\(measured)")
    }
}
