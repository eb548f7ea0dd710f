// Expiry of finished jobs, the readiness write, checkpoints and integrity checks.
import CSQLite

extension SQLiteJobStore {
    /// Deletes finished jobs older than resultTTL: rows first, then their files (a crash in between
    /// leaves orphan files, which the next start sweeps). Returns how many jobs were deleted.
    @discardableResult
    public func expire() throws -> Int {
        let cutoff = clock() - resultTTL
        // The directories are marked before their rows go, so a crash in between leaves directories the
        // sweep may delete (a row whose directory is marked is past its result_ttl: nobody sees it).
        let due: [String] = try withDatabase(wait: LockWait.background) { state in
            let query = try state.db.prepare("""
                SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled')
                AND finished_at IS NOT NULL AND finished_at < ?
                """)
            try query.bind(1, cutoff)
            var ids: [String] = []
            while try query.step() { ids.append(query.text(0)) }
            return ids
        }
        for id in due where JobID.isValid(id) && JobFiles.isDirectory(jobDirectory(id)) {
            try JobFiles.writeAtomically([], to: jobDirectory(id) + "/" + Self.expiredMarker, directory: jobDirectory(id))
        }
        let ids: [String] = try withDatabase(wait: LockWait.background) { state in
            let db = state.db
            return try db.writeTransaction {
                let delete = try db.prepare("""
                    DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled')
                    AND finished_at IS NOT NULL AND finished_at < ? RETURNING id
                    """)
                try delete.bind(1, cutoff)
                var ids: [String] = []
                while try delete.step() { ids.append(delete.text(0)) }
                delete.reset()
                return ids
            }
        }
        for id in ids where JobID.isValid(id) {
            try JobFiles.removeJobDirectory(jobDirectory(id))
        }
        try refreshDataUsage()
        return ids.count
    }

    /// For /readyz: commits a tiny write to the database and creates/removes a temp file in the jobs
    /// directory. Throws (SQLiteError / JobStoreError.fileSystem) when either cannot be written.
    public func checkWritable() throws {
        if let damage = state.withLock({ $0.damage }) {
            throw JobStoreError.damagedDatabase(path: "jobs.sqlite3", detail: damage)
        }
        let now = clock()
        try withDatabase(wait: LockWait.request) { state in
            let db = state.db
            try db.writeTransaction {
                let beat = try db.prepare("""
                    INSERT INTO meta (key, value) VALUES ('writable_check', ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """)
                try beat.bind(1, now)
                try beat.step()
            }
        }
        let temp = try JobFiles.writeTemp([0], in: jobsDirectory)
        try JobFiles.removeFile(temp)
    }

    /// Copies the WAL into the main file and empties it (`wal_checkpoint(TRUNCATE)`): at a clean shutdown,
    /// so jobs.sqlite3 alone holds everything. Best effort: a reader elsewhere may keep part of the WAL.
    public func checkpoint() throws {
        try withDatabase(wait: LockWait.background) { state in
            _ = try state.db.queryText("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// For tests that damage the file under a running store: with no statement running (the store's lock
    /// held), checkpoints the WAL into the main file, lets `damage` change the file, and drops the cached
    /// pages, so the next statement reads the damage (and no newer copy of a page waits in the WAL).
    func damageForTests(_ damage: (String) throws -> Void) throws {
        try state.withLock { state in
            _ = try state.db.queryText("PRAGMA wal_checkpoint(TRUNCATE)")
            try damage(databasePath)
            _ = state.db.releaseMemory()
        }
    }

    /// `PRAGMA quick_check` on the live database (housekeeping runs it now and then): damage found is
    /// kept like damage met by a statement, and /readyz reports it.
    public func verifyIntegrity() throws {
        try withDatabase(wait: LockWait.background) { state in
            let check = try state.db.prepare("PRAGMA quick_check")
            var problems: [String] = []
            while try check.step(), problems.count < 5 { problems.append(check.text(0)) }
            check.reset()
            if problems != ["ok"], state.damage == nil { state.damage = "PRAGMA quick_check: " + problems.joined(separator: "; ") }
        }
    }
}
