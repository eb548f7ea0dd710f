import ArgumentParser
import Glibc

/// `deepresize backup FILE`: a consistent copy of the job database, WAL included, while the server runs.
/// Copying `jobs.sqlite3` alone is not a backup: with WAL the recent commits (after a clean stop, possibly
/// all of them) live in `jobs.sqlite3-wal`. The copy is one self-contained file (journal mode DELETE);
/// restoring is described in docs/operations.md ("Backups").
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the job database (WAL included) into FILE, safely while the server runs.",
        discussion: "Restore: stop the server, copy FILE to DATA/jobs.sqlite3, delete DATA/jobs.sqlite3-wal and DATA/jobs.sqlite3-shm, start. Jobs newer than the backup have their files moved to DATA/unclaimed.")

    @OptionGroup var options: ConfigOptions
    @Option(name: .long, help: "Data directory (default: the configuration's `data`).") var data: String?
    @Argument(help: "The backup file to write (must not exist).") var file: String

    func run() async throws {
        let config = try await options.load(["data": data])
        let source = config.dataDirectory + "/jobs.sqlite3"
        guard access(source, R_OK) == 0 else { throw ValidationError("no job database at \(source)") }
        guard access(file, F_OK) != 0 else { throw ValidationError("\(file) exists; choose a new file name") }
        let temp = file + ".partial"
        unlink(temp)
        do {
            let database = try SQLiteConnection(path: source, readOnly: true)
            try database.backup(to: temp)
            let fd = open(temp, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(temp, file) == 0 else { throw ValidationError("renaming \(temp) to \(file): \(String(cString: strerror(errno)))") }
            let check = try SQLiteConnection(path: file, readOnly: true)
            let jobs = try check.queryInt("SELECT COUNT(*) FROM jobs") ?? 0
            let identity = try check.queryText("SELECT value FROM meta WHERE key = 'store_id'") ?? "none"
            print("backed up \(jobs) jobs of store \(identity) to \(file)")
        } catch let error as ValidationError {
            unlink(temp)
            throw error
        } catch {
            unlink(temp)
            throw ValidationError("backup failed: \(error)")
        }
    }
}
