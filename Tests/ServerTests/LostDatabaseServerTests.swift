import Foundation
import Glibc
import ImageCodecs
import Testing
import TestSupport

/// The issue's scenario with the real server: a database lost after a clean stop refuses the next start
/// with the reason (it used to start, report ready and delete every job directory); `deepresize backup`,
/// taken while the server ran, restores it; the job made after the backup keeps its files (moved aside).
@Suite(.serialized) struct LostDatabaseServerTests {
    @Test func lostDatabaseRefusesToStartAndABackupRestoresIt() throws {
        let data = try ServerProcess.temporaryDirectory("lostdb")
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        var ids: [String] = []
        let backup = data + "-backup.sqlite3"
        do {
            let server = try ServerProcess(dataDirectory: data)
            for width in [40, 50] {
                let answer = try #require(postImage(port: server.port, query: "w=\(width)&method=seam&wait=30", png: png))
                #expect(answer.status == 200)
                ids.append(try #require(answer.headers["x-job-id"]))
            }
            let backedUp = try runBinary(["backup", "--data", data, backup])
            #expect(backedUp.status == 0, "\(backedUp.output)")
            #expect(backedUp.output.contains("backed up 2 jobs"), "\(backedUp.output)")
            let later = try #require(postImage(port: server.port, query: "w=60&method=seam&wait=30", png: png))
            ids.append(try #require(later.headers["x-job-id"]))
            #expect(server.terminate().status == 0)
        }
        // After a clean stop the main file holds every commit.
        #expect(!FileManager.default.fileExists(atPath: data + "/jobs.sqlite3-wal")
                || ((try? FileManager.default.attributesOfItem(atPath: data + "/jobs.sqlite3-wal")[.size] as? Int) ?? 0) == 0)

        // Lost: the server refuses to start, says why, and deletes nothing.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: data + "/jobs.sqlite3" + suffix) }
        do {
            _ = try ServerProcess(dataDirectory: data)
            Issue.record("the server started on a lost database")
        } catch {
            #expect("\(error)".contains("was lost"), "\(error)")
        }
        #expect(Set((try? FileManager.default.contentsOfDirectory(atPath: data + "/jobs")) ?? []) == Set(ids))

        // Restored from the backup: the two jobs it knows are served; the later one is moved aside.
        try FileManager.default.copyItem(atPath: backup, toPath: data + "/jobs.sqlite3")
        let server = try ServerProcess(dataDirectory: data)
        for id in ids.prefix(2) {
            let result = try curl([], "\(server.baseURL)/jobs/\(id)/result")
            #expect(result.status == 200, "\(id): \(result.status)")
        }
        #expect(try curl([], "\(server.baseURL)/jobs/\(ids[2])").status == 404)
        #expect(FileManager.default.fileExists(atPath: data + "/unclaimed/" + ids[2]))
        #expect(server.output.contains("moved to"), "\(server.output)")
    }
}

/// Runs the deepresize binary with `arguments`; its exit status and output.
func runBinary(_ arguments: [String], environment extra: [String: String] = [:],
               without removed: [String] = []) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
    process.arguments = arguments
    if !extra.isEmpty || !removed.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }.filter { !removed.contains($0.key) }
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}
