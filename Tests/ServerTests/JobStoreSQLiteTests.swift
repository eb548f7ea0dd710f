import Foundation
import Glibc
import Testing

@testable import Server

/// The thin SQLite layer under SQLiteJobStore.
@Suite("JobStore SQLite layer")
struct JobStoreSQLiteTests {
    private func withDatabase(_ body: (SQLiteConnection) throws -> Void) throws {
        var template = Array((NSTemporaryDirectory() + "/sqlite-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template))
        let dir = String(cString: made)
        defer { try? JobFiles.removeTree(dir) }
        try body(try SQLiteConnection(path: dir + "/test.sqlite3"))
    }

    @Test func connectionSettings() throws {
        try withDatabase { db throws in
            #expect(try db.queryText("PRAGMA journal_mode") == "wal")
            #expect(try db.queryInt("PRAGMA synchronous") == 1)  // NORMAL
            #expect(try db.queryInt("PRAGMA foreign_keys") == 1)
            #expect(try db.queryInt("PRAGMA busy_timeout") == 5_000)
        }
    }

    @Test func typedBindsRoundTrip() throws {
        try withDatabase { db throws in
            try db.execute("CREATE TABLE t (i INTEGER, d REAL, s TEXT, n TEXT)")
            let insert = try db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)")
            try insert.bind(1, Int.max)
            try insert.bind(2, -0.125)
            try insert.bind(3, "zürich\u{0}tail")
            try insert.bind(4, nil as String?)
            #expect(try insert.step() == false)
            let select = try db.prepare("SELECT i, d, s, n FROM t")
            #expect(try select.step())
            #expect(select.int(0) == Int.max && select.double(1) == -0.125)
            #expect(select.text(2) == "zürich\u{0}tail")
            #expect(select.optionalText(3) == nil && select.isNull(3))
            #expect(try select.step() == false)
        }
    }

    @Test func errorsCarryCodeAndMessage() throws {
        try withDatabase { db throws in
            let syntax = try #require(throws: SQLiteError.self) { try db.prepare("SELEC 1") }
            #expect(syntax.primaryCode == 1)  // SQLITE_ERROR
            #expect(syntax.message.contains("syntax error"))
            #expect(!syntax.isStorageUnavailable)

            try db.execute("CREATE TABLE u (k TEXT UNIQUE)")
            try db.execute("INSERT INTO u VALUES ('a')")
            let duplicate = try #require(throws: SQLiteError.self) { try db.execute("INSERT INTO u VALUES ('a')") }
            #expect(duplicate.primaryCode == 19)  // SQLITE_CONSTRAINT
            #expect(duplicate.code == 2067)  // SQLITE_CONSTRAINT_UNIQUE: extended codes are kept
            #expect(duplicate.description.contains("UNIQUE"))
        }
    }

    @Test func failedTransactionRollsBack() throws {
        struct Boom: Error {}
        // No #expect(throws:) around a nested closure here: Swift 6.3.1 gave a closure inside that macro
        // the same symbol as a sibling closure below (the second writeTransaction ran the first body).
        try withDatabase { db throws in
            try db.execute("CREATE TABLE t (x INTEGER)")
            var caught: (any Error)?
            do {
                try db.writeTransaction { () throws -> Void in
                    try db.execute("INSERT INTO t VALUES (1)")
                    throw Boom()
                }
            } catch {
                caught = error
            }
            #expect(caught is Boom)
            #expect(try db.queryInt("SELECT COUNT(*) FROM t") == 0)
            try db.writeTransaction { try db.execute("INSERT INTO t VALUES (2)") }
            #expect(try db.queryInt("SELECT SUM(x) FROM t") == 2)
        }
    }

    @Test func migrationSetsTheSchemaVersionOnce() throws {
        try withDatabase { db throws in
            try JobSchema.migrate(db)
            #expect(try db.queryInt("PRAGMA user_version") == JobSchema.currentVersion)
            try JobSchema.migrate(db)  // idempotent
            #expect(try db.queryInt("SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs'") == 1)
        }
    }

    /// A database written before `summary` existed (version 1) keeps its rows and gains the column empty.
    @Test func aVersion1DatabaseGainsTheSummaryColumn() throws {
        try withDatabase { db throws in
            try db.execute(JobSchema.migrations[0].sql)
            try db.execute("PRAGMA user_version = 1")
            try db.execute("""
                INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, created_at)
                VALUES ('a', 'succeeded', 'deep', '{}', 4, 3, 'png', 0)
                """)
            try JobSchema.migrate(db)
            #expect(try db.queryInt("PRAGMA user_version") == JobSchema.currentVersion)
            #expect(try db.queryInt("SELECT COUNT(*) FROM jobs WHERE id = 'a' AND summary IS NULL AND input_width = 4") == 1)
        }
    }

    /// A database from before `attachments` (version 3): succeeded deep jobs that reconstructed are recorded
    /// with their mask, the ones that only scaled (their summary says so) and other methods with none.
    @Test func aVersion3DatabaseRecordsTheMasksDeepJobsStored() throws {
        try withDatabase { db throws in
            for migration in JobSchema.migrations where migration.version <= 3 { try db.execute(migration.sql) }
            try db.execute("PRAGMA user_version = 3")
            try db.execute("""
                INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, created_at, summary)
                VALUES ('carved', 'succeeded', 'deep', '{}', 4, 3, 'png', 0, 'reconstructed 4×3 → 3×3'),
                       ('scaled', 'succeeded', 'deep', '{}', 4, 3, 'png', 0,
                        'uniform scale 4×3 → 8×6: the aspect ratio is kept, nothing to reconstruct'),
                       ('seam', 'succeeded', 'seam', '{}', 4, 3, 'png', 0, NULL),
                       ('queued', 'queued', 'deep', '{}', 4, 3, 'png', 0, NULL)
                """)
            try JobSchema.migrate(db)
            #expect(try db.queryInt("SELECT COUNT(*) FROM jobs WHERE id = 'carved' AND attachments = 'mask.png'") == 1)
            #expect(try db.queryInt("SELECT COUNT(*) FROM jobs WHERE attachments = ''") == 3)
        }
    }
}
