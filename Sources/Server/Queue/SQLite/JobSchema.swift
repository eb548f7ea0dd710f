// Schema of the job database, versioned through `PRAGMA user_version`. Each migration is a value with its
// version and a name; the ones a database lacks run in order inside one IMMEDIATE transaction. Append new
// ones, never edit a shipped one.

/// One step of the schema.
struct JobMigration: Sendable {
    /// The `user_version` the database has after it (1, 2, …: its place in `JobSchema.migrations`).
    let version: Int
    /// What it changes, for the reader of the list.
    let name: String
    let sql: String
}

enum JobSchema {
    static let migrations: [JobMigration] = [
        JobMigration(version: 1, name: "jobs (FIFO by seq, leases), meta (identity, readiness heartbeat)", sql: """
        CREATE TABLE jobs (
            seq               INTEGER PRIMARY KEY,          -- FIFO order (rowids grow monotonically)
            id                TEXT NOT NULL UNIQUE,         -- lowercase UUID
            status            TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','canceled')),
            method            TEXT NOT NULL,
            params            TEXT NOT NULL,                -- JobParams as JSON
            input_width       INTEGER NOT NULL,
            input_height      INTEGER NOT NULL,
            input_format      TEXT NOT NULL,
            progress_step     INTEGER NOT NULL DEFAULT 0,
            progress_total    INTEGER NOT NULL DEFAULT 0,
            loss              REAL,
            attempts          INTEGER NOT NULL DEFAULT 0,   -- claims that count (a graceful requeue gives one back)
            lease             INTEGER NOT NULL DEFAULT 0,   -- bumped on every claim, never reused: the holder's token
            cancel_requested  INTEGER NOT NULL DEFAULT 0,
            created_at        REAL NOT NULL,
            started_at        REAL,
            finished_at       REAL,
            error             TEXT,                         -- JobError as JSON
            result_format     TEXT
        );
        CREATE INDEX jobs_status_seq ON jobs (status, seq);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;   -- readiness heartbeat
        CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
        """),
        JobMigration(version: 2, name: "jobs.summary: what a succeeded run did, in one line", sql: """
        ALTER TABLE jobs ADD COLUMN summary TEXT;   -- e.g. deep: "uniform scale 528×396 → 400×300: …"
        """),
        JobMigration(version: 3, name: "jobs.cache_key: the result cache's key (ResultCache.key), looked up among succeeded jobs", sql: """
        ALTER TABLE jobs ADD COLUMN cache_key TEXT;   -- 64 hex digits of SHA-256; NULL: no cache source
        CREATE INDEX jobs_cache_key ON jobs (cache_key, finished_at) WHERE cache_key IS NOT NULL AND status = 'succeeded';
        """),
        JobMigration(version: 4, name: "jobs.attachments: the files a succeeded run stored beside its result", sql: """
        ALTER TABLE jobs ADD COLUMN attachments TEXT NOT NULL DEFAULT '';   -- JobRows.attachmentsText: "mask.png" or ""
        -- Before this column, a succeeded deep job had its mask unless its summary said it only scaled.
        UPDATE jobs SET attachments = 'mask.png' WHERE status = 'succeeded' AND method = 'deep'
            AND (summary IS NULL OR summary NOT LIKE '%nothing to reconstruct');
        """),
    ]

    static var currentVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database to `currentVersion`. A database written by a newer build is refused rather
    /// than guessed at.
    static func migrate(_ db: SQLiteConnection) throws {
        // Checked outside a write transaction first, so an up-to-date database opens read-only too.
        let found = try db.queryInt("PRAGMA user_version") ?? 0
        if found > currentVersion {
            throw JobStoreError.unsupportedSchema(found: found, supported: currentVersion)
        }
        if found == currentVersion { return }
        try db.writeTransaction {
            // Re-read under the write lock: another connection may have migrated meanwhile.
            let version = try db.queryInt("PRAGMA user_version") ?? 0
            if version > currentVersion {
                throw JobStoreError.unsupportedSchema(found: version, supported: currentVersion)
            }
            for migration in migrations where migration.version > version {
                try db.execute(migration.sql)
                // PRAGMA cannot take a bound parameter; the value is our own integer.
                try db.execute("PRAGMA user_version = \(migration.version)")
            }
        }
    }
}
