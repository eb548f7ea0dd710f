import Glibc

/// Every setting of the service, with the defaults README.md lists. One table (`ServiceConfig.keys`) names each
/// key once; the file, the environment (`DEEPRESIZE_<KEY>`) and `--set key=value` all go through it.
public struct ServiceConfig: Sendable, Equatable {
    public init() {}

    public var host = "0.0.0.0"
    public var port = 8080
    public var dataDirectory = "./data"
    /// Where the job queue and its files live: empty = the embedded SQLite in `dataDirectory`; a
    /// `postgres://` / `postgresql://` URL or libpq keywords = PostgreSQL, shared by replicas (`QueueBackend`).
    public var queueURL = ""
    /// What this process does (`ServerRole`): all (the default), api (requests, no jobs) or worker (jobs only).
    public var role = "all"
    public var weightsPath = "./weights/vgg16-imagenet.safetensors"
    public var workers = ServiceConfig.defaultWorkers
    public var engineThreads = ServiceConfig.cpuCount
    /// Products of the network's convolutions: auto, fp32 or bf16 (EnginePrecision).
    public var enginePrecision = "auto"
    /// Bytes the running jobs may hold together by their estimates; 0 = from the memory limit (MemoryBudget).
    public var jobMemoryBudgetBytes = 0
    public var logLevel = "info"

    public var maxBodyBytes = 25 * 1024 * 1024
    /// Request body bytes in flight at once (HTTPCore reserves each from the head); 0 = no budget.
    public var maxBodyBytesInFlight = 256 * 1024 * 1024
    public var maxInputPixels = 40_000_000
    public var maxOutputDimension = 8192
    public var maxDeepOutputPixels = 1_000_000
    public var maxDeepInputPixels = 1_000_000
    /// `seam`'s cost bound: pixels × seams (`ResizePipeline.seamWork`).
    public var maxSeamWork = 2_000_000_000
    /// `scale`'s cost bound: output pixels (inline work: it holds a request slot and a core).
    public var maxScaleOutputPixels = 40_000_000
    /// Longest run of a queued job; then it fails with a reason.
    public var jobTimeout = 3600.0
    /// `deep` ends a job early once L fell by < 0.1 % over 10 iterations (DeepResizeOptions.defaultEarlyStop).
    public var deepEarlyStop = true
    public var queueCapacity = 100
    public var defaultWait = 60.0
    public var maxWait = 300.0
    public var maxHeaderBytes = 16 * 1024
    public var headerTimeout = 10.0
    public var bodyTimeout = 60.0
    public var keepAliveTimeout = 5.0
    public var maxConnections = 512
    public var maxAttempts = 3
    /// PostgreSQL: seconds a claim lives without a heartbeat (the workers beat every sixth of it).
    public var leaseTimeout = 60.0
    public var resultTTL = 24 * 3600.0
    /// Quota of the job files in the data directory; 0 = none.
    public var maxDataBytes = 8 * 1024 * 1024 * 1024
    public var shutdownGrace = 20.0
    public var jpegQuality = 90
    /// Bearer tokens that may use /resize and /jobs; empty = no authentication.
    public var authTokens: [String] = []

    public static var cpuCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
    /// One worker per two cores: seam carving is single-threaded, the deep method uses `engine_threads`.
    public static var defaultWorkers: Int { max(1, cpuCount / 2) }
}

/// A configuration key: its name in the file, its environment variable, its type, what it means, and how
/// it reads from and writes to `ServiceConfig`.
struct SettingKey: Sendable {
    enum Kind: String, Sendable { case string, int, seconds, bool }
    let name: String
    let kind: Kind
    let help: String
    let get: @Sendable (ServiceConfig) -> String
    let set: @Sendable (inout ServiceConfig, ConfigScalar) throws -> Void

    var environmentVariable: String { "DEEPRESIZE_" + name.uppercased() }
}

/// A raw value from one of the sources, before validation.
enum ConfigScalar: Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)

    var text: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        }
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}

extension ServiceConfig {
    private static func string(_ name: String, _ path: any WritableKeyPath<ServiceConfig, String> & Sendable, _ help: String,
                               allowed: [String]? = nil) -> SettingKey {
        SettingKey(name: name, kind: .string, help: help, get: { $0[keyPath: path] }, set: { config, raw in
            let value = raw.text
            if value.isEmpty { throw ConfigurationError("\(name): must not be empty") }
            if let allowed, !allowed.contains(value) {
                throw ConfigurationError("\(name): '\(value)' is not one of \(allowed.joined(separator: ", "))")
            }
            config[keyPath: path] = value
        })
    }

    private static func int(_ name: String, _ path: any WritableKeyPath<ServiceConfig, Int> & Sendable, _ range: ClosedRange<Int>,
                            _ help: String) -> SettingKey {
        SettingKey(name: name, kind: .int, help: help, get: { String($0[keyPath: path]) }, set: { config, raw in
            let value: Int?
            switch raw {
            case .int(let i): value = i
            case .double(let d): value = d.rounded() == d && abs(d) < 1e15 ? Int(d) : nil
            case .string(let s): value = Int(s)
            case .bool: value = nil
            }
            guard let value else { throw ConfigurationError("\(name): '\(raw.text)' is not an integer") }
            guard range.contains(value) else {
                throw ConfigurationError("\(name): \(value) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            config[keyPath: path] = value
        })
    }

    private static func bool(_ name: String, _ path: any WritableKeyPath<ServiceConfig, Bool> & Sendable, _ help: String) -> SettingKey {
        SettingKey(name: name, kind: .bool, help: help, get: { String($0[keyPath: path]) }, set: { config, raw in
            let value: Bool?
            switch raw {
            case .bool(let b): value = b
            case .string(let s): value = ["true": true, "false": false][s.lowercased()]
            case .int, .double: value = nil
            }
            guard let value else { throw ConfigurationError("\(name): '\(raw.text)' is not true or false") }
            config[keyPath: path] = value
        })
    }

    private static func seconds(_ name: String, _ path: any WritableKeyPath<ServiceConfig, Double> & Sendable,
                                _ range: ClosedRange<Double>, _ help: String) -> SettingKey {
        SettingKey(name: name, kind: .seconds, help: help, get: { formatSeconds($0[keyPath: path]) }, set: { config, raw in
            let value: Double?
            switch raw {
            case .int(let i): value = Double(i)
            case .double(let d): value = d
            case .string(let s): value = Double(s)
            case .bool: value = nil
            }
            guard let value, value.isFinite else { throw ConfigurationError("\(name): '\(raw.text)' is not a number of seconds") }
            guard range.contains(value) else {
                throw ConfigurationError("\(name): \(formatSeconds(value)) s is outside \(formatSeconds(range.lowerBound))…\(formatSeconds(range.upperBound)) s")
            }
            config[keyPath: path] = value
        })
    }

    /// The schema: every key the file, the environment and `--set` accept. README's table is checked against it.
    static let keys: [SettingKey] = [
        string("host", \.host, "address to listen on"),
        int("port", \.port, 0...65535, "TCP port (0 = any free port, logged at start)"),
        string("data", \.dataDirectory, "directory of the SQLite queue database and the job files"),
        queueURLKey,
        string("role", \.role, "what this process does: all, api (requests and inline scale, runs no jobs) or worker (runs jobs; only /healthz, /readyz, /metrics); api and worker need a PostgreSQL queue_url",
               allowed: ["all", "api", "worker"]),
        string("weights", \.weightsPath, "VGG weights (safetensors): VGG-16 from scripts/fetch-weights, or VGG-19 from scripts/convert-vgg"),
        int("workers", \.workers, 1...64, "worker threads running queued jobs (default: one per two cores)"),
        int("engine_threads", \.engineThreads, 1...256, "threads one deep job's network uses (default: all cores)"),
        string("engine_precision", \.enginePrecision, "products of the network's convolutions: auto (bf16 where the CPU has AVX512_BF16), fp32, or bf16 (backward pass; the forward stays fp32)",
               allowed: ["auto", "fp32", "bf16"]),
        jobMemoryBudgetKey,
        string("log_level", \.logLevel, "trace, debug, info, notice, warning, error or critical",
               allowed: ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        int("max_body_bytes", \.maxBodyBytes, 1024...(1 << 31), "largest request body (413 above)"),
        int("max_body_bytes_in_flight", \.maxBodyBytesInFlight, 0...(1 << 40),
            "request body bytes all requests together may hold at once (503 with Retry-After above; 0 = no budget)"),
        int("max_input_pixels", \.maxInputPixels, 1...1_000_000_000, "largest source image, from its header (422 above)"),
        int("max_output_dimension", \.maxOutputDimension, 1...65_535, "largest output width or height for scale (422 above)"),
        int("max_deep_output_pixels", \.maxDeepOutputPixels, 1...100_000_000, "largest output area for deep and seam (422 above)"),
        int("max_deep_input_pixels", \.maxDeepInputPixels, 4096...100_000_000, "deep works on the input scaled down to at most this area"),
        int("max_seam_work", \.maxSeamWork, 1...1_000_000_000_000_000,
            "largest seam job in pixels × seams: its largest image area times the seams it carves or inserts (422 above)"),
        int("max_scale_output_pixels", \.maxScaleOutputPixels, 1...1_000_000_000,
            "largest output area for scale, which runs inline (422 above)"),
        seconds("job_timeout", \.jobTimeout, 0.1...604_800, "longest run of a queued job; then it fails with a reason (422)"),
        bool("deep_early_stop", \.deepEarlyStop, "deep stops before its iterations once L fell by less than 0.1 % over 10 iterations"),
        int("queue_capacity", \.queueCapacity, 1...1_000_000, "queued jobs before /resize answers 429"),
        seconds("default_wait", \.defaultWait, 0...86_400, "how long /resize waits for a job when the query has no wait"),
        seconds("max_wait", \.maxWait, 0...86_400, "largest wait a client may ask for"),
        int("max_header_bytes", \.maxHeaderBytes, 1024...1_048_576, "largest request head (431 above)"),
        seconds("header_timeout", \.headerTimeout, 0.1...3600, "time to receive a request head (408 after)"),
        seconds("body_timeout", \.bodyTimeout, 0.1...3600, "time to receive a request body (408 after)"),
        seconds("keep_alive_timeout", \.keepAliveTimeout, 0.1...3600, "idle time before a keep-alive connection is closed"),
        int("max_connections", \.maxConnections, 1...100_000, "open connections before new ones get 503"),
        int("max_attempts", \.maxAttempts, 1...100, "runs of a job interrupted by crashes before it is failed"),
        seconds("lease_timeout", \.leaseTimeout, 1...3600,
                "PostgreSQL: a running job whose replica stopped heartbeating (every sixth of this) for this long is requeued by another; a cancel from another replica reaches the job within a sixth"),
        seconds("result_ttl", \.resultTTL, 1...31_536_000, "how long finished jobs and their files are kept"),
        int("max_data_bytes", \.maxDataBytes, 0...(1 << 50),
            "quota of the job files, counting room for unfinished jobs' results (507 with Retry-After above, 422 for a job larger than all of it; 0 = none)"),
        seconds("shutdown_grace", \.shutdownGrace, 0...3600, "on SIGTERM, how long in-flight work may take before exit"),
        int("jpeg_quality", \.jpegQuality, 1...100, "quality of jpeg and webp outputs whose request gives no quality"),
        authTokensKey,
    ]

    /// Comma-separated; each token 16+ characters of RFC 6750 `b64token`. Errors never echo a token, and
    /// `get` prints only how many there are (the value is a secret).
    private static let authTokensKey = SettingKey(
        name: "auth_tokens", kind: .string,
        help: "comma-separated bearer tokens; when set, /resize and /jobs need Authorization: Bearer",
        get: { $0.authTokens.isEmpty ? "off" : "\($0.authTokens.count) token(s)" },
        set: { config, raw in
            let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=".utf8)
            let tokens = raw.text.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }.filter { !$0.isEmpty }
            for (index, token) in tokens.enumerated() {
                guard token.utf8.count >= 16, token.utf8.allSatisfy(allowed.contains) else {
                    throw ConfigurationError("auth_tokens: token \(index + 1) must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / =")
                }
            }
            config.authTokens = tokens
        })

    /// Empty (SQLite), or PostgreSQL's URL or keyword string. `get` hides a password: the value is a secret.
    private static let queueURLKey = SettingKey(
        name: "queue_url", kind: .string,
        help: "where jobs and their files live: empty = SQLite in data; postgres://user:pass@host:port/db (or libpq keywords) = PostgreSQL, shared by replicas",
        get: { QueueBackend(url: $0.queueURL).map { "\($0)" } ?? "invalid" },
        set: { config, raw in
            let value = Substring(raw.text).trimmingCharacters(in: " \t")
            guard QueueBackend(url: value) != nil else {
                throw ConfigurationError("queue_url: expected empty (SQLite), a postgres:// or postgresql:// URL, or libpq keywords (host=… dbname=…)")
            }
            config.queueURL = value
        })

    static func key(named name: String) -> SettingKey? { keys.first { $0.name == name } }

    /// Checks that hold across keys.
    func validated() throws -> ServiceConfig {
        if maxBodyBytesInFlight > 0 && maxBodyBytesInFlight < maxBodyBytes {
            throw ConfigurationError("max_body_bytes_in_flight (\(maxBodyBytesInFlight)) is below max_body_bytes (\(maxBodyBytes)): the largest upload could never be received")
        }
        if role != ServerRole.all.rawValue, QueueBackend(url: queueURL) == .sqlite {
            throw ConfigurationError("role \(role) needs a shared job queue: set queue_url to a PostgreSQL database (the embedded SQLite serves one process, which must have role all)")
        }
        if defaultWait > maxWait {
            throw ConfigurationError("default_wait (\(formatSeconds(defaultWait)) s) exceeds max_wait (\(formatSeconds(maxWait)) s)")
        }
        return self
    }
}
