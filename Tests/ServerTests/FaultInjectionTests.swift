import Foundation
import Glibc
import ImageCodecs
import Synchronization
import Testing
import TestSupport
@testable import Server

/// Crashes and failing storage, injected into the real server: `kill -9` at random moments, a locked
/// database, a full disk, SIGTERM in the middle of work. Nothing acknowledged may be lost, nothing may
/// be left behind, and the service must come back by itself when the fault clears.
@Suite(.serialized) struct FaultInjectionTests {
    /// 50 small seam jobs; the server is SIGKILLed at random moments in five rounds (while uploads are
    /// arriving and while jobs run), then restarted on the same data directory. The client behaves like
    /// a real one: it re-sends an upload that got no 202. Afterwards every acknowledged job is final
    /// (succeeded, or failed with a reason after max_attempts), each result belongs to its own input,
    /// and the data directory holds exactly one directory per job row with only its files.
    @Test func killNineAtRandomMomentsLosesNoJob() throws {
        let data = try ServerProcess.temporaryDirectory("kill9")
        var inputs: [[UInt8]] = []
        // 640x480 → (300 + i)x480: long enough (tens of ms each) that kills land on running jobs too.
        for i in 0..<50 { inputs.append(try ImageEncoder.png(TestImages.scene(width: 640, height: 480, seed: UInt64(i + 1)))) }
        var ids: [Int: String] = [:]           // input index → acknowledged job id
        var rng = SeededRandom(seed: 0x6b696c6c)
        var kills = 0
        var recovered = 0
        for round in 0..<6 {
            let server = try ServerProcess(dataDirectory: data, settings: ["queue_capacity": "200"], workers: 2)
            if let line = server.output.split(separator: "\n").first(where: { $0.contains("recovered jobs interrupted") }),
               let range = line.range(of: #"requeued=[0-9]+"#, options: .regularExpression) {
                recovered += Int(line[range].dropFirst("requeued=".count)) ?? 0
            }
            let lastRound = round == 5
            if !lastRound {
                let delay = 0.15 + Double(rng.next() % 1000) / 1000 * 1.2   // 0.15 … 1.35 s
                DispatchQueue.global().asyncAfter(deadline: .now() + delay) { server.kill9() }
            }
            // Upload what is not acknowledged yet; job i asks for width 40 + i, which identifies its result.
            for i in inputs.indices where ids[i] == nil {
                guard let answer = postImage(port: server.port, query: "w=\(300 + i)&h=480&method=seam&wait=0", png: inputs[i]) else { break }
                #expect(answer.status == 202, "\(String(decoding: answer.body, as: UTF8.self))")
                if let id = jsonObject(answer.body)["id"] as? String { ids[i] = id }
            }
            if lastRound {
                #expect(ids.count == inputs.count)
                let deadline = Date().addingTimeInterval(120)
                for (i, id) in ids.sorted(by: { $0.key < $1.key }) {
                    var job: [String: Any] = [:]
                    repeat {
                        job = jsonObject(request(port: server.port, "/jobs/\(id)")?.body ?? [])
                        if ["succeeded", "failed"].contains(job["status"] as? String ?? "") { break }
                        Thread.sleep(forTimeInterval: 0.05)
                    } while Date() < deadline
                    let status = job["status"] as? String
                    #expect(status == "succeeded" || status == "failed", "job \(i) \(id) lost or stuck: \(job)")
                    if status == "failed" {
                        let detail = (job["error"] as? [String: Any])?["detail"] as? String ?? ""
                        #expect(detail.contains("max_attempts"), "job \(i) failed without the reason: \(job)")
                    } else if let result = request(port: server.port, "/jobs/\(id)/result") {
                        let header = try ImageDecoder.readHeader(result.body)
                        #expect(header.width == 300 + i && header.height == 480, "job \(i) got another job's result")
                    }
                }
                server.terminate()
            } else {
                while server.isRunning { Thread.sleep(forTimeInterval: 0.02) }
                kills += 1
            }
        }
        #expect(kills == 5)

        // Every row has its directory and every directory its row; only inputs and results, no temp files.
        let store = try SQLiteJobStore(directory: data, queueCapacity: 200, maxAttempts: 3, resultTTL: 86_400)
        let counts = try store.counts()
        let rows = counts.values.reduce(0, +)
        #expect(rows >= inputs.count, "rows \(counts)")
        #expect((counts[.queued] ?? 0) + (counts[.running] ?? 0) == 0, "unfinished rows: \(counts)")
        let directories = try FileManager.default.contentsOfDirectory(atPath: data + "/jobs")
        #expect(directories.count == rows, "\(directories.count) job directories for \(rows) rows")
        for id in directories {
            let job = try #require(try store.job(id: id), "directory \(id) has no row")
            let files = try FileManager.default.contentsOfDirectory(atPath: data + "/jobs/" + id).sorted()
            #expect(files == (job.status == .succeeded ? ["result.png"] : job.status.isFinished ? [] : ["input.png"]), "\(id) \(job.status): \(files)")
        }
        print("kill -9: 5 kills, \(recovered) running jobs requeued at restarts, \(ids.count) acknowledged jobs, \(rows) rows (\(rows - ids.count) created but unacknowledged), statuses \(counts)")
    }

    /// Another process holds the database's write lock (as a stuck backup or a sqlite3 shell would):
    /// uploads, cancels and /readyz answer 503 naming the problem within a bound a user accepts (the
    /// store gives request-path calls ~1 s of SQLite's busy wait, and the worker, whose claims wait
    /// longer, never makes a request queue behind it); status reads keep working; once the lock is
    /// released everything works again without a restart.
    @Test func lockedDatabaseAnswers503AndRecovers() throws {
        let server = try ServerProcess()
        let png = try ImageEncoder.png(TestImages.scene(width: 96, height: 64))
        let done = try #require(postImage(port: server.port, query: "w=60&method=seam&wait=30", png: png))
        #expect(done.status == 200)
        let doneID = try #require(done.headers["x-job-id"])
        let locker = try SQLiteConnection(path: server.dataDirectory + "/jobs.sqlite3", busyTimeoutMs: 1000)
        try locker.execute("BEGIN EXCLUSIVE")
        // The idle worker polls for jobs every second: give it time to be waiting on the lock too, which
        // is the case where requests used to queue behind its claim.
        Thread.sleep(forTimeInterval: 1.5)

        // Bound for one refused request: ~1 s of busy wait plus headroom for a loaded 2-core CI machine.
        let bound = 3.0
        // Two uploads at once (as many as the inline limiter runs together on 2 cores): neither may wait
        // for the other's busy wait.
        let uploads = Mutex<[(answer: RawResponse?, seconds: Double)]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread {
                let (answer, seconds) = timed { postImage(port: server.port, query: "w=60&method=seam&wait=0", png: png) }
                uploads.withLock { $0.append((answer, seconds)) }
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        for (refused, seconds) in uploads.withLock({ $0 }) {
            #expect(refused?.status == 503)
            let detail = jsonObject(refused?.body ?? [])["detail"] as? String ?? ""
            #expect(detail.contains("job store is unavailable") && detail.contains("locked"), "\(detail)")
            #expect(refused?.headers["retry-after"] != nil)
            #expect(seconds < bound, "the upload's 503 took \(seconds) s")
        }
        let (ready, readySeconds) = timed { request(port: server.port, "/readyz") }
        #expect(ready?.status == 503)
        #expect(readySeconds < bound, "/readyz took \(readySeconds) s")
        let (cancel, cancelSeconds) = timed { request(port: server.port, "/jobs/\(doneID)", method: "DELETE") }
        #expect(cancel?.status == 503)
        #expect(cancelSeconds < bound, "DELETE took \(cancelSeconds) s")
        // Reads do not need the write lock (WAL): status and result stay available.
        let (status, statusSeconds) = timed { request(port: server.port, "/jobs/\(doneID)") }
        #expect(status?.status == 200 && jsonObject(status?.body ?? [])["status"] as? String == "succeeded")
        #expect(statusSeconds < bound, "GET /jobs took \(statusSeconds) s")
        #expect(request(port: server.port, "/jobs/\(doneID)/result")?.status == 200)
        #expect(request(port: server.port, "/healthz")?.status == 200)
        let uploadSeconds = uploads.withLock { $0.map(\.seconds) }.map { String(format: "%.2f", $0) }
        print("locked database: uploads 503 after \(uploadSeconds) s, /readyz 503 after \(String(format: "%.2f", readySeconds)) s, "
              + "DELETE 503 after \(String(format: "%.2f", cancelSeconds)) s, GET /jobs 200 after \(String(format: "%.2f", statusSeconds)) s")
        try locker.execute("COMMIT")

        let readyAgain = request(port: server.port, "/readyz")
        #expect(readyAgain?.status == 200, "\(String(decoding: readyAgain?.body ?? [], as: UTF8.self))")
        let accepted = try #require(postImage(port: server.port, query: "w=60&method=seam&wait=30", png: png))
        #expect(accepted.status == 200, "\(String(decoding: accepted.body, as: UTF8.self))")
        #expect(try ImageDecoder.readHeader(accepted.body).width == 60)
        let jobs = try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/jobs")
        #expect(jobs.count == 2, "the refused uploads left files behind: \(jobs)")
    }

    /// The data directory on a 3 MB tmpfs that is then filled up: uploads and /readyz answer 503 "No
    /// space left on device", nothing half-written stays, and when space is freed the service recovers
    /// by itself. Needs `mount` (root with CAP_SYS_ADMIN); skipped where it is not allowed.
    @Test(.enabled(if: TmpfsMount.isAllowed)) func fullDiskAnswers503AndRecovers() throws {
        let mount = try TmpfsMount(megabytes: 3)
        defer { mount.unmount() }
        let server = try ServerProcess(dataDirectory: mount.path + "/data")
        let png = try ImageEncoder.png(TestImages.noise(width: 160, height: 120))   // ~58 KB, incompressible
        #expect(postImage(port: server.port, query: "w=100&method=seam&wait=30", png: png)?.status == 200)

        let filler = mount.path + "/filler"
        mount.fill(filler)
        let refused = try #require(postImage(port: server.port, query: "w=100&method=seam&wait=0", png: png))
        #expect(refused.status == 503)
        let detail = jsonObject(refused.body)["detail"] as? String ?? ""
        #expect(detail.contains("No space left on device") || detail.contains("full"), "\(detail)")
        #expect(request(port: server.port, "/readyz")?.status == 503)
        #expect(request(port: server.port, "/healthz")?.status == 200)
        let jobs = try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/jobs")
        #expect(jobs.count == 1, "the refused upload left files behind: \(jobs)")

        unlink(filler)
        #expect(request(port: server.port, "/readyz")?.status == 200)
        let accepted = try #require(postImage(port: server.port, query: "w=100&method=seam&wait=30", png: png))
        #expect(accepted.status == 200, "\(String(decoding: accepted.body, as: UTF8.self))")
        server.terminate()
    }

    /// SIGTERM while a job runs, a request waits for a job and an inline resize is being computed: the
    /// inline request gets its image, the waiting one its 202, the process exits 0 within the grace
    /// period, and the interrupted job runs again after the restart without using up an attempt.
    @Test func sigtermFinishesRequestsAndRequeuesRunningJobs() throws {
        let data = try ServerProcess.temporaryDirectory("sigterm")
        let server = try ServerProcess(dataDirectory: data, settings: ["shutdown_grace": "10"], workers: 1)
        // 1200x900 → 500 wide: 700 seams, seconds per job, so one is surely running at SIGTERM.
        let big = try ImageEncoder.png(TestImages.scene(width: 1200, height: 900))
        var ids: [String] = []
        for i in 0..<2 {
            let answer = try #require(postImage(port: server.port, query: "w=\(500 + i)&h=900&method=seam&wait=0", png: big))
            ids.append(try #require(jsonObject(answer.body)["id"] as? String))
        }
        // Wait until the first job is visibly running.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let job = jsonObject(request(port: server.port, "/jobs/\(ids[0])")?.body ?? [])
            if job["status"] as? String == "running", ((job["progress"] as? [String: Any])?["fraction"] as? Double ?? 0) > 0 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let answers = Mutex<[String: (status: Int, body: [UInt8])]>([:])
        let inflight = DispatchGroup()
        let noise = try ImageEncoder.png(TestImages.noise(width: 200, height: 200))
        for (name, query, body) in [("inline", "w=2000&h=2000&method=scale", noise), ("waiting", "w=600&h=900&method=seam&wait=60", big)] {
            inflight.enter()
            // A thread of its own: blocking clients on the Dispatch pool may start a second late.
            Thread {
                let answer = postImage(port: server.port, query: query, png: body, timeout: 60)
                answers.withLock { $0[name] = (answer?.status ?? -1, answer?.body ?? []) }
                inflight.leave()
            }.start()
        }
        Thread.sleep(forTimeInterval: 0.3)   // both requests are in the server now
        let (status, seconds) = server.terminate(timeout: 30)
        #expect(inflight.wait(timeout: .now() + 30) == .success)
        let got = answers.withLock { $0 }.mapValues(\.status)
        print("SIGTERM: exit \(status) after \(String(format: "%.2f", seconds)) s; in-flight answers \(got)")
        #expect(status == 0)
        #expect(seconds < 10 + 2, "exit took \(seconds) s with a 10 s grace period")
        #expect(got["inline"] == 200 || got["inline"] == 503, "inline request: \(String(describing: got["inline"]))")
        #expect(got["waiting"] == 202 || got["waiting"] == 503, "waiting request: \(String(describing: got["waiting"]))")
        // The waiting request's job was acknowledged (202): it must survive the restart like the others.
        if got["waiting"] == 202, let body = answers.withLock({ $0["waiting"]?.body }),
           let id = jsonObject(body)["id"] as? String {
            ids.append(id)
        }

        let restarted = try ServerProcess(dataDirectory: data, workers: 1)
        for id in ids {
            let job = try pollJob(restarted, id: id, timeout: 180)
            #expect(job["status"] as? String == "succeeded", "\(job)")
        }
        print("SIGTERM: \(ids.count) acknowledged jobs all succeeded after the restart")
    }
}

/// The value of `body` and the seconds it took.
private func timed<T>(_ body: () -> T) -> (T, Double) {
    let start = Date()
    let value = body()
    return (value, Date().timeIntervalSince(start))
}

/// A size-limited tmpfs for disk-full tests (needs root with CAP_SYS_ADMIN, as in the dev container).
struct TmpfsMount {
    let path: String

    static let isAllowed: Bool = {
        guard let probe = try? TmpfsMount(megabytes: 1) else { return false }
        probe.unmount()
        return true
    }()

    init(megabytes: Int) throws {
        path = try ServerProcess.temporaryDirectory("tmpfs")
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            throw ServerTestError("mount tmpfs at \(path) not permitted")
        }
    }

    func unmount() {
        _ = Self.run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes zeros to `file` until the filesystem is full.
    func fill(_ file: String) {
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let block = [UInt8](repeating: 0, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
