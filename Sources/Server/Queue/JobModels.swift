// Value types of the job queue: what a job is, what it asked for, how it ends, and how the store fails.
// Every `JobStore` speaks them.
import Glibc

public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, canceled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .canceled }
}

/// What the client asked for, stored as JSON text. Keys match the `params` object of the HTTP job body.
public struct JobParams: Sendable, Codable, Equatable {
    public var width: Int
    public var height: Int
    public var op: String?
    public var protect: Bool?
    public var iterations: Int?
    public var format: String
    /// JPEG/WebP quality (absent for PNG, and in rows written before it existed: then `jpeg_quality`).
    public var quality: Int?

    public init(width: Int, height: Int, op: String? = nil, protect: Bool? = nil, iterations: Int? = nil, format: String,
         quality: Int? = nil) {
        self.width = width
        self.height = height
        self.op = op
        self.protect = protect
        self.iterations = iterations
        self.format = format
        self.quality = quality
    }

    enum CodingKeys: String, CodingKey {
        case width = "w", height = "h", op = "operator", protect, iterations, format, quality
    }
}

/// Why a job failed, as stored with it: the problem (RFC 9457 status, title, detail) its clients are shown.
/// The store keeps it as data; the HTTP edge decides what an error becomes (`Problem`).
public struct JobError: Sendable, Codable, Equatable, Error {
    public var status: Int
    public var title: String
    public var detail: String

    public init(status: Int, title: String, detail: String) {
        self.status = status
        self.title = title
        self.detail = detail
    }
}

public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var status: JobStatus
    public var method: String
    public var params: JobParams
    public var inputWidth: Int
    public var inputHeight: Int
    public var inputFormat: String
    public var progressStep: Int
    public var progressTotal: Int
    public var loss: Double?
    /// How many times a worker claimed this job (a crashed run counts; a graceful requeue does not).
    public var attempts: Int
    public var cancelRequested: Bool
    /// Unix seconds.
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var error: JobError?
    public var resultFormat: String?
    /// What the run did, in one line, once succeeded (deep: a uniform scale only, or a reconstruction).
    public var summary: String?

    /// What the run stored beside its result, recorded when it succeeded (deep: the mask, unless the request
    /// kept the aspect ratio and was only scaled). A recorded attachment whose file is missing is lost; one
    /// never recorded is simply absent.
    public var attachments: Set<JobAttachment>

    public init(id: String, status: JobStatus, method: String, params: JobParams, inputWidth: Int, inputHeight: Int,
                inputFormat: String, progressStep: Int = 0, progressTotal: Int = 0, loss: Double? = nil, attempts: Int = 0,
                cancelRequested: Bool = false, createdAt: Double, startedAt: Double? = nil, finishedAt: Double? = nil,
                error: JobError? = nil, resultFormat: String? = nil, summary: String? = nil,
                attachments: Set<JobAttachment> = []) {
        self.id = id
        self.status = status
        self.method = method
        self.params = params
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        self.inputFormat = inputFormat
        self.progressStep = progressStep
        self.progressTotal = progressTotal
        self.loss = loss
        self.attempts = attempts
        self.cancelRequested = cancelRequested
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.error = error
        self.resultFormat = resultFormat
        self.summary = summary
        self.attachments = attachments
    }
}

/// A file a succeeded job keeps beside its result; the raw value is its file name in the store.
public enum JobAttachment: String, Sendable, CaseIterable {
    /// The deep method's semantic mask drawn over the image it worked on (PNG), at /jobs/{id}/mask.
    case mask = "mask.png"
}

/// How a claimed job ends without a result.
public enum JobEnd: Sendable, Equatable {
    case failed(JobError)
    /// The worker stopped after a cancel request.
    case canceled

    var status: JobStatus {
        switch self {
        case .failed: .failed
        case .canceled: .canceled
        }
    }

    var error: JobError? {
        switch self {
        case .failed(let error): error
        case .canceled: nil
        }
    }
}

/// What a lease holder learns from `JobStore.heartbeat`.
public enum LeaseState: Sendable, Equatable {
    /// Still running under this lease.
    case held
    /// Still held, but a client asked to cancel: stop at the next step and `finish(_:as: .canceled)`.
    case cancelRequested
    /// Another claim holds the job now, or it ended or expired: stop; nothing this holder reports counts.
    case lost
}

/// What `JobStore.recoverInterruptedJobs` did, for the log.
public struct JobRecoveryReport: Sendable, Equatable {
    /// Running jobs put back in the queue.
    public var requeued = 0
    /// Running jobs failed because they had used up max_attempts (or lost their input file).
    public var failed = 0
    /// Running jobs whose cancel had been requested: now canceled.
    public var canceled = 0
    /// Orphan files (directories without a row, stray temp files, files a job's status does not allow) deleted.
    public var removedFiles = 0
    /// Files the database cannot account for and that nothing marks as never acknowledged (jobs the database
    /// forgot): set aside (SQLiteJobStore: moved to DIR/unclaimed), never deleted.
    public var unclaimed: [String] = []

    public init() {}
}

/// A lease on a running job. Only the holder of the current lease (its `lease` equals the row's, which
/// every claim bumps and nothing ever lowers) can report progress or finish the job; a stale holder's
/// calls change nothing.
public struct JobClaim: Sendable, Equatable {
    /// The job as claimed (status running, attempts already counting this run).
    public let job: JobRecord
    /// Which attempt this is, 1-based (equals `job.attempts`).
    public let attempt: Int
    /// The lease token.
    public let lease: Int

    public init(job: JobRecord, attempt: Int, lease: Int) {
        self.job = job
        self.attempt = attempt
        self.lease = lease
    }

    public var id: String { job.id }
}

/// The store's own conditions, whatever its backend.
public enum JobStoreError: Error, CustomStringConvertible, Equatable, JobStoreFailure {
    /// The queue holds `queueCapacity` jobs already; try again after about this many seconds (429).
    case queueFull(retryAfterSeconds: Int)
    /// The id does not name a live job (unknown, malformed, or expired).
    case notFound(id: String)
    /// The job succeeded, but its result (or mask) file is missing from the store (410).
    case resultLost(id: String, file: String)
    /// The database was written by a newer build (its user_version is above what we know).
    case unsupportedSchema(found: Int, supported: Int)
    /// Another JobStore (this or another process) already serves this data directory.
    case directoryInUse(path: String)
    /// An image format name we will not turn into a file extension.
    case invalidFormat(String)
    /// A file-system call failed; `errno` says why (ENOSPC, EROFS, EIO are storage outages).
    case fileSystem(operation: String, path: String, errno: Int32)
    /// `max_data_bytes` is reached: `usedBytes` (files plus the unfinished jobs' result allowances) and
    /// `neededBytes` more do not fit in `limitBytes`; space frees when finished jobs expire (507).
    case storeFull(usedBytes: Int, neededBytes: Int, limitBytes: Int, retryAfterSeconds: Int)
    /// A row we cannot decode (hand-edited or damaged database).
    case corruptRecord(id: String, detail: String)
    /// The data directory holds job files, but the database has neither jobs nor the directory's identity:
    /// it is missing, empty, or lost its WAL. Starting would serve an empty queue over files it cannot
    /// account for, so the store refuses.
    case databaseLost(directory: String, jobDirectories: Int, detail: String)
    /// The database's identity is not the data directory's: it was made by another store.
    case foreignDatabase(directory: String, fileIdentity: String, databaseIdentity: String)
    /// `PRAGMA quick_check` found damage.
    case damagedDatabase(path: String, detail: String)

    /// A `storeFull` whose job needs more than the whole quota: no expiry makes room, so it is a 422, not
    /// a 507 to retry.
    public var neverFits: Bool {
        if case .storeFull(_, let needed, let limit, _) = self { return needed > limit }
        return false
    }

    public var description: String {
        switch self {
        case .queueFull(let seconds):
            return "the job queue is full; retry after \(seconds) s"
        case .storeFull(let used, let needed, let limit, let seconds):
            // Exact bytes: rounded to MB, "1.4 MB in use, needs 1.6 MB more" of "3.0 MB" would not show the excess.
            if neverFits {
                return "this job needs \(groupedBytes(needed)) (its input and room for its result), more than max_data_bytes "
                    + "\(groupedBytes(limit)) in all: it can never be stored; ask for a smaller output or send a smaller input"
            }
            return "the job store is full: \(groupedBytes(used)) of max_data_bytes \(groupedBytes(limit)) in use, and this job "
                + "needs \(groupedBytes(needed)) more (its input and room for its result); space frees as jobs end and "
                + "finished ones expire after result_ttl: retry after \(seconds) s"
        case .notFound(let id):
            return "no job with id \(id)"
        case .resultLost(let id, let file):
            return "job \(id) succeeded, but its \(file) is missing from the store (deleted, or the database was "
                + "restored from an older backup): the result is lost; submit the job again"
        case .unsupportedSchema(let found, let supported):
            return "the job database has schema version \(found), but this build supports up to \(supported); "
                + "it was written by a newer deepresize — upgrade, or point --data at another directory"
        case .directoryInUse(let path):
            return "the data directory \(path) is already in use by another deepresize server "
                + "(one server per data directory is supported)"
        case .invalidFormat(let format):
            return "invalid image format name \(format.debugDescription)"
        case .fileSystem(let operation, let path, let code):
            return "\(operation) \(path) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .corruptRecord(let id, let detail):
            return "job \(id) in the database cannot be read: \(detail)"
        case .databaseLost(let directory, let count, let detail):
            return "\(directory)/jobs holds \(count) job \(count == 1 ? "directory" : "directories") but \(detail): the database "
                + "was lost (missing, emptied, or its -wal file deleted or damaged), and starting would leave those jobs "
                + "unreachable. Restore jobs.sqlite3 from a backup (docs/operations.md, \"Backups\"; remove a stale "
                + "jobs.sqlite3-wal and -shm with it), or move \(directory)/jobs aside to start with an empty queue"
        case .foreignDatabase(let directory, let fileIdentity, let databaseIdentity):
            return "the database in \(directory) belongs to another job store (its identity is \(databaseIdentity), the "
                + "directory's \(SQLiteJobStore.identityFileName) says \(fileIdentity)): put back this directory's own jobs.sqlite3, or "
                + "move the directory's jobs and \(SQLiteJobStore.identityFileName) aside"
        case .damagedDatabase(let path, let detail):
            return "the job database \(path) is damaged (PRAGMA quick_check: \(detail)); restore it from a backup "
                + "(docs/operations.md, \"Backups\")"
        }
    }

    /// The description without server paths, for problem details and job errors clients read.
    public var clientDescription: String {
        switch self {
        case .fileSystem(let operation, let path, let code):
            let name = path.split(separator: "/").last.map(String.init) ?? path
            return "\(operation) \(name) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .damagedDatabase(_, let detail):
            return "the job database is damaged (\(detail))"
        case .directoryInUse:
            return "the data directory is in use by another deepresize server"
        case .databaseLost, .foreignDatabase:
            return "the job database does not match the data directory"
        default:
            return description
        }
    }

    /// True when the storage itself is unavailable (full, read-only, failing): the server answers 503.
    public var isStorageUnavailable: Bool {
        switch self {
        case .fileSystem(_, _, let code):
            return [ENOSPC, EROFS, EIO, EDQUOT, EACCES, EPERM].contains(code)
        case .directoryInUse, .damagedDatabase:
            return true
        default:
            return false
        }
    }
}

/// Job ids: random UUIDs (version 4 layout, 122 random bits) from the system CSPRNG, lowercase.
enum JobID {
    static func generate() -> String {
        var rng = SystemRandomNumberGenerator()  // getrandom(2) on Linux
        var bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Exact syntax check: 8-4-4-4-12 lowercase hex digits. Anything else never reaches SQL or a path.
    static func isValid(_ id: String) -> Bool {
        let utf8 = Array(id.utf8)
        guard utf8.count == 36 else { return false }
        for (index, char) in utf8.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard char == UInt8(ascii: "-") else { return false }
            } else {
                let isDigit = char >= UInt8(ascii: "0") && char <= UInt8(ascii: "9")
                let isLowerHex = char >= UInt8(ascii: "a") && char <= UInt8(ascii: "f")
                guard isDigit || isLowerHex else { return false }
            }
        }
        return true
    }
}

/// Format names become file extensions, so they are held to a tiny alphabet.
enum JobFormat {
    static func isValid(_ format: String) -> Bool {
        let utf8 = Array(format.utf8)
        return (1...10).contains(utf8.count) && utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
        }
    }
}
