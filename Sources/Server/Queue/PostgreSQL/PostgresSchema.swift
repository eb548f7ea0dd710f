// Schema of the shared job database, versioned in `deepresize_schema`. Like the SQLite schema, each migration
// is a value with its version and name; whichever replica starts first applies the missing ones, in order,
// in one transaction under an advisory lock (the others wait for it, then find nothing to do). Append new
// ones, never edit a shipped one.
//
// Files live in `job_files` as bytea (measured against large objects: docs/operations.md, "PostgreSQL"):
// one row per file, deleted with its job (ON DELETE CASCADE), published in the same transaction as the row
// that makes them visible. STORAGE EXTERNAL: images are compressed already, so TOAST does not try again.

enum PostgresSchema {
    static let migrations: [JobMigration] = [
        JobMigration(version: 1, name: "jobs (FIFO by seq, leases with an expiry), job_files (bytea), meta", sql: """
        CREATE TABLE jobs (
            seq               BIGSERIAL PRIMARY KEY,        -- FIFO order
            id                TEXT NOT NULL UNIQUE,         -- lowercase UUID
            status            TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','canceled')),
            method            TEXT NOT NULL,
            params            TEXT NOT NULL,                -- JobParams as JSON
            input_width       INTEGER NOT NULL,
            input_height      INTEGER NOT NULL,
            input_format      TEXT NOT NULL,
            progress_step     INTEGER NOT NULL DEFAULT 0,
            progress_total    INTEGER NOT NULL DEFAULT 0,
            loss              DOUBLE PRECISION,
            attempts          INTEGER NOT NULL DEFAULT 0,   -- claims that count (a graceful requeue gives one back)
            lease             BIGINT NOT NULL DEFAULT 0,    -- bumped on every claim, never reused: the holder's token
            lease_expires_at  DOUBLE PRECISION,             -- a running job's holder must heartbeat before this
            cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
            created_at        DOUBLE PRECISION NOT NULL,    -- Unix seconds, the replicas' clocks
            started_at        DOUBLE PRECISION,
            finished_at       DOUBLE PRECISION,
            error             TEXT,                         -- JobError as JSON
            result_format     TEXT,
            summary           TEXT,
            reserved_bytes    BIGINT NOT NULL DEFAULT 0     -- max_data_bytes room held for the result until the end
        );
        CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';
        CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE status = 'running';
        CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
        CREATE TABLE job_files (
            job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            name    TEXT NOT NULL,                          -- input.<ext>, result.<ext>, mask.png
            size    BIGINT NOT NULL,
            data    BYTEA NOT NULL,
            PRIMARY KEY (job_id, name)
        );
        ALTER TABLE job_files ALTER COLUMN data SET STORAGE EXTERNAL;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);   -- readiness heartbeat
        """),
        JobMigration(version: 2, name: "jobs.cache_key: the result cache's key (ResultCache.key), looked up among succeeded jobs", sql: """
        ALTER TABLE jobs ADD COLUMN cache_key TEXT;   -- 64 hex digits of SHA-256; NULL: no cache source
        CREATE INDEX jobs_cache_key ON jobs (cache_key, finished_at) WHERE cache_key IS NOT NULL AND status = 'succeeded';
        """),
        JobMigration(version: 3, name: "jobs.attachments: the files a succeeded run stored beside its result", sql: """
        ALTER TABLE jobs ADD COLUMN attachments TEXT NOT NULL DEFAULT '';   -- JobRows.attachmentsText: 'mask.png' or ''
        -- Before this column, a succeeded deep job had its mask unless its summary said it only scaled.
        UPDATE jobs SET attachments = 'mask.png' WHERE status = 'succeeded' AND method = 'deep'
            AND (summary IS NULL OR summary NOT LIKE '%nothing to reconstruct');
        """),
    ]

    static var currentVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database (the connection's schema) to `currentVersion` under an advisory lock. A database
    /// written by a newer build is refused rather than guessed at.
    static func migrate(_ db: PostgresConnection) throws {
        try db.transaction {
            try db.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':deepresize-migrate'))")
            try db.execute("CREATE TABLE IF NOT EXISTS deepresize_schema (version INTEGER NOT NULL)")
            let rows = try db.query("SELECT COALESCE(MAX(version), 0) AS version FROM deepresize_schema")
            let version = try rows.int(0, "version")
            if version > currentVersion {
                throw JobStoreError.unsupportedSchema(found: version, supported: currentVersion)
            }
            for migration in migrations where migration.version > version {
                try db.execute(migration.sql)
            }
            if version < currentVersion {
                try db.execute("DELETE FROM deepresize_schema")
                try db.query("INSERT INTO deepresize_schema (version) VALUES ($1)", [.int(currentVersion)])
            }
        }
    }
}
