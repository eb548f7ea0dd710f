// What a start finds and repairs: a database that cannot be the one that made the job files (missing,
// emptied, another store's, damaged) refuses to open; jobs a dead process was running are requeued, failed
// or canceled; files no row accounts for are deleted when something marks them as never acknowledged, else
// set aside in DIR/unclaimed.
import CSQLite
import Foundation
import Glibc

extension SQLiteJobStore {
    /// Opens the database only when it can be the one that made the job files: a missing or empty file,
    /// or one with neither jobs nor the directory's identity, while DIR/jobs holds unmarked job
    /// directories, refuses (before SQLite creates or changes anything); so does a database whose
    /// identity is another's, and one that `PRAGMA quick_check` finds damaged.
    static func openChecked(directory: String, readOnly: Bool) throws -> SQLiteConnection {
        let path = directory + "/jobs.sqlite3"
        let fileIdentity = try readIdentityFile(directory)
        let jobFiles = try unmarkedEntries(directory + "/jobs")
        var info = stat()
        let exists = lstat(path, &info) == 0
        if !jobFiles.isEmpty && (!exists || info.st_size == 0) {
            throw JobStoreError.databaseLost(directory: directory, jobDirectories: jobFiles.count,
                                             detail: exists ? "jobs.sqlite3 is empty" : "jobs.sqlite3 is missing")
        }
        let db: SQLiteConnection
        var problems: [String] = []
        do {
            db = try SQLiteConnection(path: path, readOnly: readOnly)
            let check = try db.prepare("PRAGMA quick_check")
            while try check.step(), problems.count < 5 { problems.append(check.text(0)) }
            check.reset()
        } catch let error as SQLiteError where [SQLITE_CORRUPT, SQLITE_NOTADB].contains(error.primaryCode) {
            throw JobStoreError.damagedDatabase(path: path, detail: error.message)
        }
        if problems != ["ok"] {
            throw JobStoreError.damagedDatabase(path: path, detail: problems.joined(separator: "; "))
        }
        // A database without the schema (user_version 0) has neither jobs nor an identity.
        let hasSchema = (try db.queryInt("PRAGMA user_version") ?? 0) > 0
        let databaseIdentity = hasSchema ? try readIdentity(db) : nil
        if let fileIdentity, let databaseIdentity, fileIdentity != databaseIdentity {
            throw JobStoreError.foreignDatabase(directory: directory, fileIdentity: fileIdentity, databaseIdentity: databaseIdentity)
        }
        if databaseIdentity == nil && !jobFiles.isEmpty {
            let jobs = hasSchema ? (try db.queryInt("SELECT COUNT(*) FROM jobs") ?? 0) : 0
            if jobs == 0 {
                throw JobStoreError.databaseLost(
                    directory: directory, jobDirectories: jobFiles.count,
                    detail: "jobs.sqlite3 has no jobs and not the store's identity"
                        + (fileIdentity.map { " (\($0), in \(directory)/\(identityFileName))" } ?? ""))
            }
            // Jobs but no identity: a database from before identities, or a directory that lost its identity
            // file. Its rows are kept; directories it does not know go to DIR/unclaimed.
        }
        return db
    }

    /// Writes the identity where it is missing: the database first, then the file, so a file identity
    /// always names a database that held it. A new store gets a fresh UUID.
    static func establishIdentity(_ db: SQLiteConnection, directory: String) throws {
        let fileIdentity = try readIdentityFile(directory)
        var identity = try readIdentity(db)
        if identity == nil {
            let chosen = fileIdentity ?? JobID.generate()
            try db.writeTransaction {
                let insert = try db.prepare("INSERT INTO meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING")
                try insert.bind(1, chosen)
                try insert.step()
            }
            identity = try readIdentity(db)
        }
        guard let identity, fileIdentity != identity else { return }
        try JobFiles.writeAtomically(Array((identity + "\n").utf8), to: directory + "/" + identityFileName, directory: directory)
    }

    /// The database's identity (`meta.store_id`), nil when it has none.
    static func readIdentity(_ db: SQLiteConnection) throws -> String? {
        let query = try db.prepare("SELECT value FROM meta WHERE key = 'store_id'")
        return try query.step() ? query.text(0) : nil
    }

    /// DIR/store-id's identity; nil when the file is missing. A file that holds no UUID is an error.
    static func readIdentityFile(_ directory: String) throws -> String? {
        let path = directory + "/" + identityFileName
        guard let bytes = try JobFiles.read(path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard JobID.isValid(text) else {
            throw JobStoreError.damagedDatabase(path: path, detail: "the identity file holds no store identity (a UUID)")
        }
        return text
    }

    /// Entries of DIR/jobs that are neither temp files nor directories marked `.pending`/`.expired`: what
    /// only the database can account for.
    static func unmarkedEntries(_ jobs: String) throws -> [String] {
        try JobFiles.list(jobs).filter { name in
            !name.hasPrefix(JobFiles.tempPrefix) && !isMarked(jobs + "/" + name)
        }
    }

    static func isMarked(_ path: String) -> Bool {
        JobFiles.isDirectory(path)
            && (JobFiles.exists(path + "/" + pendingMarker) || JobFiles.exists(path + "/" + expiredMarker))
    }

    /// A job directory holding nothing but temp files (or nothing): `enqueue` died after making it and
    /// before its `.pending` marker was in place. The marker and the input are written before the row,
    /// so no row, and no acknowledgement, can have existed.
    static func isUnfinishedEnqueue(_ path: String) -> Bool {
        JobFiles.isDirectory(path) && ((try? JobFiles.list(path))?.allSatisfy { $0.hasPrefix(JobFiles.tempPrefix) } ?? false)
    }

    /// Call once at start, before workers and requests: 'running' rows belong to a process that died.
    /// They go back to the queue, or fail once they have been interrupted `maxAttempts` times; a running
    /// job whose cancel was requested becomes canceled. Then files with no row, stray temp files and
    /// result files of unfinished jobs are deleted.
    @discardableResult
    public func recoverInterruptedJobs() throws -> JobRecoveryReport {
        let now = clock()
        return try withDatabase(wait: LockWait.background) { state in
            var report = JobRecoveryReport()
            let db = state.db
            var known: [String: (status: JobStatus, inputFormat: String, resultFormat: String?)] = [:]
            try db.writeTransaction {
                let running = try db.prepare("SELECT id, attempts, cancel_requested FROM jobs WHERE status = 'running'")
                var interrupted: [(id: String, attempts: Int, canceled: Bool)] = []
                while try running.step() {
                    interrupted.append((try running.text("id"), try running.int("attempts"), try running.int("cancel_requested") != 0))
                }
                running.reset()
                for job in interrupted {
                    if job.canceled {
                        try Self.writeEnd(db, id: job.id, status: .canceled, error: nil, at: now)
                        report.canceled += 1
                    } else if job.attempts >= maxAttempts {
                        let error = JobError(
                            status: 500, title: "Job interrupted",
                            detail: "interrupted \(job.attempts) times; gave up after max_attempts (\(maxAttempts))")
                        try Self.writeEnd(db, id: job.id, status: .failed, error: error, at: now)
                        report.failed += 1
                    } else {
                        try Self.backToQueue(db, id: job.id, giveBackAttempt: false)
                        report.requeued += 1
                    }
                }
                let all = try db.prepare("SELECT id, status, input_format, result_format FROM jobs")
                while try all.step() {
                    let status = JobStatus(rawValue: try all.text("status")) ?? .failed
                    known[try all.text("id")] = (status, try all.text("input_format"), try all.optionalText("result_format"))
                }
                all.reset()

                // Queued jobs must have their input: a missing one (e.g. power loss undid the file but not
                // the row) fails the job with a reason instead of failing a worker later.
                for (id, job) in known where job.status == .queued {
                    if !JobFiles.exists(jobDirectory(id) + "/input." + job.inputFormat) {
                        let error = JobError(status: 500, title: "Input lost",
                                             detail: "the stored input image of this job is missing")
                        try Self.writeEnd(db, id: id, status: .failed, error: error, at: now)
                        known[id]?.status = .failed
                        report.failed += 1
                    }
                }
            }

            for name in try JobFiles.list(jobsDirectory) where !state.pending.contains(name) {
                let path = jobsDirectory + "/" + name
                guard JobID.isValid(name), let job = known[name], JobFiles.isDirectory(path) else {
                    if name.hasPrefix(JobFiles.tempPrefix) || Self.isMarked(path) || Self.isUnfinishedEnqueue(path) {
                        // A temp file, an enqueue that never committed (marked, or killed before its marker
                        // was), or an expired job: never acknowledged, or past its result_ttl.
                        try JobFiles.removeJobDirectory(path)
                        report.removedFiles += 1
                    } else {
                        // Not ours to delete: the database does not know it, but nothing says it was never
                        // acknowledged (a database restored from an older backup, or one that lost its WAL).
                        try JobFiles.makeDirectory(unclaimedDirectory, parent: directory)
                        try JobFiles.moveAside(path, into: unclaimedDirectory, name: name)
                        report.unclaimed.append(name)
                    }
                    continue
                }
                for file in try JobFiles.list(path) {
                    let keep = (file == "input." + job.inputFormat && !job.status.isFinished)
                        || (job.status == .succeeded && file == "result." + (job.resultFormat ?? ""))
                        || (job.status == .succeeded && JobAttachment(rawValue: file) != nil)
                    if !keep {
                        try JobFiles.removeTree(path + "/" + file)
                        report.removedFiles += 1
                    }
                }
            }
            state.resultAllowances = state.resultAllowances.filter { known[$0.key]?.status.isFinished == false }
            state.dataBytes = try JobFiles.treeSize(jobsDirectory)
            return report
        }
    }
}
