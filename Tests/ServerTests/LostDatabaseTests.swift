import Foundation
import Glibc
import Testing

@testable import Server

/// Issue 11, item 2: a lost, emptied, rolled-back, foreign or damaged database must never cost the job files.
/// The store refuses to start (a clear reason, nothing written) or moves what it cannot account for aside.
@Suite struct LostDatabaseTests {
    private static let params = JobParams(width: 40, height: 30, format: "png")

    private static func temp() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/lostdb-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw JobFiles.fail("mkdtemp", "tmp") }
        return String(cString: made)
    }

    private static func store(_ dir: String) throws -> SQLiteJobStore {
        try SQLiteJobStore(directory: dir, queueCapacity: 100, maxAttempts: 3, resultTTL: 86_400)
    }

    /// A store with one succeeded and one queued job; returns their ids.
    @discardableResult
    private static func populate(_ store: SQLiteJobStore) throws -> [String] {
        let done = try store.enqueue(method: "seam", params: params, input: [1, 2, 3], inputFormat: "png", inputWidth: 64, inputHeight: 48)
        let waiting = try store.enqueue(method: "seam", params: params, input: [4, 5, 6], inputFormat: "png", inputWidth: 64, inputHeight: 48)
        let claim = try #require(try store.claimNext())
        #expect(try store.succeed(claim, result: [9, 9], format: "png"))
        return [done.id, waiting.id]
    }

    /// Copies a data directory as a crash would leave it while `store` is still open (nothing checkpointed:
    /// the rows live in jobs.sqlite3-wal). `wal`: copy the WAL as it is, drop it, or overwrite its header.
    enum WAL { case keep, drop, overwriteHeader }
    private static func snapshot(_ from: String, wal: WAL) throws -> String {
        let to = try temp()
        let manager = FileManager.default
        try manager.removeItem(atPath: to)
        try manager.createDirectory(atPath: to, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: from) where name != "jobs.lock" && name != "jobs.sqlite3-shm" {
            if name == "jobs.sqlite3-wal" && wal == .drop { continue }
            try manager.copyItem(atPath: from + "/" + name, toPath: to + "/" + name)
        }
        if wal == .overwriteHeader {
            let handle = try #require(FileHandle(forUpdatingAtPath: to + "/jobs.sqlite3-wal"))
            try handle.write(contentsOf: Data(repeating: 0xAB, count: 32))
            try handle.close()
        }
        return to
    }

    private static func jobEntries(_ dir: String) -> [String] {
        ((try? JobFiles.list(dir + "/jobs")) ?? []).sorted()
    }

    @Test func missingDatabaseRefusesToStartAndCreatesNothing() throws {
        let dir = try Self.temp()
        let ids: [String]
        do { ids = try Self.populate(try Self.store(dir)) }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/jobs.sqlite3" + suffix) }
        let error = try #require(throws: JobStoreError.self) { try Self.store(dir) }
        guard case .databaseLost(_, let count, _) = error else { Issue.record("\(error)"); return }
        #expect(count == 2)
        #expect(error.description.contains("jobs.sqlite3 is missing") && error.description.contains("Restore"))
        #expect(!JobFiles.exists(dir + "/jobs.sqlite3"))
        #expect(Self.jobEntries(dir) == ids.sorted())
    }

    @Test func emptyDatabaseRefusesToStart() throws {
        let dir = try Self.temp()
        do { try Self.populate(try Self.store(dir)) }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/jobs.sqlite3" + suffix) }
        #expect(truncate(dir + "/jobs.sqlite3", 0) == 0)
        let error = try #require(throws: JobStoreError.self) { try Self.store(dir) }
        #expect(error.description.contains("jobs.sqlite3 is empty"), "\(error)")
        #expect(Self.jobEntries(dir).count == 2)
    }

    @Test(arguments: [WAL.drop, .overwriteHeader])
    func databaseThatLostItsWALRefusesToStart(wal: WAL) throws {
        let original = try Self.temp()
        let store = try Self.store(original)
        let ids = try Self.populate(store)
        let copy = try Self.snapshot(original, wal: wal)
        let error = try #require(throws: JobStoreError.self) { try Self.store(copy) }
        guard case .databaseLost = error else { Issue.record("\(error)"); return }
        #expect(error.description.contains("no jobs and not the store's identity"), "\(error)")
        #expect(Self.jobEntries(copy) == ids.sorted())
        // The same copy with its WAL is fine: the refusal is about the lost WAL, not the copying.
        let intact = try Self.snapshot(original, wal: .keep)
        let reopened = try Self.store(intact)
        #expect(try reopened.recoverInterruptedJobs().unclaimed.isEmpty)
        #expect(try reopened.resultBytes(id: ids[0]) == [9, 9])
        withExtendedLifetime(store) {}
    }

    /// The identity reached the main file (a checkpoint), later jobs only the WAL, and the WAL is lost: the
    /// database is this directory's, rolled back. It starts; the jobs it forgot are moved aside, not deleted.
    @Test func rolledBackDatabaseStartsAndMovesForgottenJobsAside() throws {
        let original = try Self.temp()
        let store = try Self.store(original)
        let before = try Self.populate(store)
        try store.checkpoint()
        let after = try Self.populate(store)
        let copy = try Self.snapshot(original, wal: .overwriteHeader)
        let reopened = try Self.store(copy)
        let report = try reopened.recoverInterruptedJobs()
        #expect(Set(report.unclaimed) == Set(after))
        // The second populate ran the first one's queued job, which dropped its input when it succeeded;
        // rolled back to queued, it fails ("input lost") and its result file is the one file removed.
        #expect(report.removedFiles == 1)
        #expect(try reopened.job(id: before[1])?.status == .failed)
        #expect(Self.jobEntries(copy) == before.sorted())
        #expect(try reopened.resultBytes(id: before[0]) == [9, 9])
        for id in after { #expect(JobFiles.isDirectory(copy + "/unclaimed/" + id)) }
        withExtendedLifetime(store) {}
    }

    @Test func anotherStoresDatabaseRefusesToStart() throws {
        let mine = try Self.temp(), theirs = try Self.temp()
        do { try Self.populate(try Self.store(mine)) }
        do { try Self.populate(try Self.store(theirs)) }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: mine + "/jobs.sqlite3" + suffix) }
        try FileManager.default.removeItem(atPath: mine + "/jobs.sqlite3")
        try FileManager.default.copyItem(atPath: theirs + "/jobs.sqlite3", toPath: mine + "/jobs.sqlite3")
        let error = try #require(throws: JobStoreError.self) { try Self.store(mine) }
        guard case .foreignDatabase = error else { Issue.record("\(error)"); return }
        #expect(Self.jobEntries(mine).count == 2)
    }

    @Test func damagedDatabaseRefusesToStartWithTheReason() throws {
        let dir = try Self.temp()
        do { try Self.populate(try Self.store(dir)) }  // closing checkpoints: everything is in the main file
        let root: Int
        do {
            let raw = try SQLiteConnection(path: dir + "/jobs.sqlite3")
            root = try #require(try raw.queryInt("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'"))
        }
        let handle = try #require(FileHandle(forUpdatingAtPath: dir + "/jobs.sqlite3"))
        try handle.seek(toOffset: UInt64((root - 1) * 4096))
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 64))
        try handle.close()
        let error = try #require(throws: JobStoreError.self) { try Self.store(dir) }
        guard case .damagedDatabase(_, let detail) = error else { Issue.record("\(error)"); return }
        #expect(!detail.isEmpty && detail != "ok")
        #expect(Self.jobEntries(dir).count == 2)
    }

    /// A store made before identities (rows, no identity anywhere) keeps working: it gets an identity, and
    /// a directory it does not know is moved aside.
    @Test func storeFromBeforeIdentitiesIsAdopted() throws {
        let dir = try Self.temp()
        let ids: [String]
        do { ids = try Self.populate(try Self.store(dir)) }
        do {
            let raw = try SQLiteConnection(path: dir + "/jobs.sqlite3")
            try raw.execute("DELETE FROM meta WHERE key = 'store_id'")
        }
        try FileManager.default.removeItem(atPath: dir + "/" + SQLiteJobStore.identityFileName)
        let stray = JobID.generate()
        try JobFiles.makeDirectory(dir + "/jobs/" + stray, parent: dir + "/jobs")
        // With a file in it: an empty directory (or one of temp files only) is an enqueue that died
        // before its marker, which the sweep removes.
        try JobFiles.writeAtomically([7], to: dir + "/jobs/" + stray + "/input.png", directory: dir + "/jobs/" + stray)
        let store = try Self.store(dir)
        #expect(try store.recoverInterruptedJobs().unclaimed == [stray])
        #expect(try SQLiteJobStore.readIdentityFile(dir) != nil)
        #expect(Self.jobEntries(dir) == ids.sorted())
    }

    /// Issue 11, item 11: the single-store lock is on the directory itself. Deleting files cannot undo it
    /// (removing `jobs.lock` let a second server in), and a symlink to the directory is the same directory.
    @Test func theLockSurvivesDeletingFilesAndCoversSymlinks() throws {
        let dir = try Self.temp()
        let first = try Self.store(dir)
        try? FileManager.default.removeItem(atPath: dir + "/jobs.lock")
        #expect(throws: JobStoreError.directoryInUse(path: dir)) { try Self.store(dir) }
        let link = dir + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir)
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect(throws: JobStoreError.directoryInUse(path: link)) { try Self.store(link) }
        withExtendedLifetime(first) {}
    }

    @Test func aSymlinkedDataDirectoryWorks() throws {
        let real = try Self.temp()
        let link = real + "-data"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        defer { try? FileManager.default.removeItem(atPath: link) }
        let ids: [String]
        do {
            let store = try Self.store(link)
            ids = try Self.populate(store)
        }
        let store = try Self.store(link)
        #expect(try store.recoverInterruptedJobs().unclaimed.isEmpty)
        #expect(try store.resultBytes(id: ids[0]) == [9, 9])
        #expect(Self.jobEntries(real) == ids.sorted())
    }

    @Test func aNewStoreWritesTheSameIdentityToTheDatabaseAndTheDirectory() throws {
        let dir = try Self.temp()
        let store = try Self.store(dir)
        let file = try #require(try SQLiteJobStore.readIdentityFile(dir))
        #expect(JobID.isValid(file))
        let raw = try SQLiteConnection(path: dir + "/jobs.sqlite3")
        #expect(try raw.queryText("SELECT value FROM meta WHERE key = 'store_id'") == file)
        withExtendedLifetime(store) {}
    }
}
