import Foundation
import ImageCodecs
import Testing
import TestSupport

/// `kill -9` in the middle of a job, then a restart on the same data directory: every job finishes,
/// none is lost, none is run to completion twice.
@Suite(.serialized) struct CrashRecoveryTests {
    @Test func jobsSurviveAKillDuringWork() throws {
        let data = try ServerProcess.temporaryDirectory("crash")
        let first = try ServerProcess(dataDirectory: data)
        var ids: [String] = []
        for seed in 1...4 {
            let input = try TestImages.file(TestImages.scene(width: 800, height: 600, seed: UInt64(seed)))
            let job = try curl(["-F", "image=@\(input)"], "\(first.baseURL)/resize?w=\(400 + seed)&h=600&method=seam&wait=0").json()
            ids.append(try #require(job["id"] as? String))
        }
        // Wait until a job is visibly under way (some seams done), then kill the process without warning.
        let deadline = Date().addingTimeInterval(60)
        var running = false
        while !running && Date() < deadline {
            for id in ids where !running {
                let job = try curl([], "\(first.baseURL)/jobs/\(id)").json()
                let progress = job["progress"] as? [String: Any]
                running = job["status"] as? String == "running" && (progress?["fraction"] as? Double ?? 0) > 0
            }
            if !running { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(running, "no job was seen running")
        first.kill9()

        let second = try ServerProcess(dataDirectory: data)
        #expect(second.output.contains("recovered jobs interrupted"), "\(second.output)")
        for (index, id) in ids.enumerated() {
            let job = try pollJob(second, id: id, timeout: 180)
            #expect(job["status"] as? String == "succeeded", "\(job)")
            let result = try curl([], "\(second.baseURL)/jobs/\(id)/result")
            let image = try ImageDecoder.decode(result.body)
            #expect(image.width == 401 + index && image.height == 600, "job \(index) got another job's result")
        }
        // One directory per job, each with exactly one result (a finished job drops its input): nothing
        // orphaned or doubled.
        let jobsDirectory = data + "/jobs"
        let entries = try FileManager.default.contentsOfDirectory(atPath: jobsDirectory).sorted()
        #expect(entries == ids.sorted())
        for id in ids {
            let files = try FileManager.default.contentsOfDirectory(atPath: jobsDirectory + "/" + id)
            #expect(files.filter { $0.hasPrefix("result") }.count == 1, "\(id): \(files)")
            #expect(files.count == 1, "\(id): \(files)")
        }
    }
}
