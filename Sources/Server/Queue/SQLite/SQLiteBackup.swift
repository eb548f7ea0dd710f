import CSQLite
import Glibc

/// `deepresize backup FILE`: a consistent copy of the job database, WAL included, while the server runs.
/// Copying `jobs.sqlite3` alone is not a backup: with WAL the recent commits (after a clean stop, possibly
/// all of them) live in `jobs.sqlite3-wal`. The copy is one self-contained file (journal mode DELETE), written
/// as FILE.partial, synced and renamed; restoring is described in docs/operations.md ("Backups").
public enum SQLiteBackup {
    /// What the copy holds, read back from it.
    public struct Summary: Sendable {
        public var jobs: Int
        /// The store's identity (`meta.store_id`), "none" for a database without one.
        public var storeIdentity: String
    }

    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong, for a caller that tells them apart (the CLI's exit status).
        public enum Reason: Sendable { case noDatabase, fileExists, copyFailed }
        public var reason: Reason
        public var description: String
    }

    /// Copies DIR/jobs.sqlite3 into `file`, which must not exist.
    public static func copy(dataDirectory: String, to file: String) throws -> Summary {
        let source = dataDirectory + "/jobs.sqlite3"
        guard access(source, R_OK) == 0 else { throw Failure(reason: .noDatabase, description: "no job database at \(source)") }
        guard access(file, F_OK) != 0 else { throw Failure(reason: .fileExists, description: "\(file) exists; choose a new file name") }
        let temp = file + ".partial"
        unlink(temp)
        do {
            let database = try SQLiteConnection(path: source, readOnly: true)
            try database.backup(to: temp)
            let fd = open(temp, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(temp, file) == 0 else {
                throw Failure(reason: .copyFailed, description: "renaming \(temp) to \(file): \(String(cString: strerror(errno)))")
            }
            let check = try SQLiteConnection(path: file, readOnly: true)
            return Summary(jobs: try check.queryInt("SELECT COUNT(*) FROM jobs") ?? 0,
                           storeIdentity: try check.queryText("SELECT value FROM meta WHERE key = 'store_id'") ?? "none")
        } catch let error as Failure {
            unlink(temp)
            throw error
        } catch {
            unlink(temp)
            throw Failure(reason: .copyFailed, description: "backup failed: \(error)")
        }
    }
}
