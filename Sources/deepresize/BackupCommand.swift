import ArgumentParser
import Server

/// `deepresize backup FILE`: a consistent copy of the job database, WAL included, while the server runs
/// (`SQLiteBackup`).
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
        // The PostgreSQL queue's jobs, files included, live in its database: PostgreSQL's own tools back it up.
        if let backend = QueueBackend(url: config.queueURL), backend.isShared {
            throw ValidationError("queue_url names PostgreSQL: back the queue up with pg_dump -Fc (docs/operations.md, PostgreSQL \"Backups\"); this command copies the SQLite queue")
        }
        do {
            let copy = try SQLiteBackup.copy(dataDirectory: config.dataDirectory, to: file)
            print("backed up \(copy.jobs) jobs of store \(copy.storeIdentity) to \(file)")
        } catch let failure as SQLiteBackup.Failure {
            switch failure.reason {
            case .fileExists: throw ValidationError(failure.description)  // choose another name: a usage error
            case .noDatabase: throw CommandFailure(.noInput, failure.description)
            case .copyFailed: throw CommandFailure(.cannotCreate, failure.description)
            }
        }
    }
}
