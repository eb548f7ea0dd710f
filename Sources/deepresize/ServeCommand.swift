import ArgumentParser
import Dispatch
import Glibc
import Logging
import Server

/// Options every command that reads the service configuration shares (README "Configuration").
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "JSON config file (default: $DEEPRESIZE_CONFIG, else config/deepresize.json if present).")
    var config: String?

    @Option(name: .long, help: "Any config key, e.g. --set max_wait=120 (repeatable; wins over the environment and the file).")
    var set: [String] = []

    /// `--set` pairs plus the named flags of a command, by config key.
    func overrides(_ named: [String: String?]) throws -> [String: String] {
        var result: [String: String] = [:]
        for pair in set {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--set expects key=value, got '\(pair)'")
            }
            result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        for (key, value) in named { if let value { result[key] = value } }
        return result
    }

    /// `crossChecked`: as `ConfigLoader.load`'s.
    func load(_ named: [String: String?] = [:], crossChecked: Bool = true) async throws -> ServiceConfig {
        do {
            return try await ConfigLoader.load(file: config, overrides: try overrides(named), crossChecked: crossChecked)
        } catch let error as ConfigurationError {
            throw ValidationError("configuration: \(error.description)")
        }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service.",
        discussion: "Every setting is a key of the config file, an environment variable DEEPRESIZE_<KEY> and --set key=value; flags win over the environment, the environment over the file.")

    @OptionGroup var options: ConfigOptions
    @Option(name: .long, help: "Address to listen on (default 0.0.0.0).") var host: String?
    @Option(name: .long, help: "TCP port (default 8080; 0 = any free port).") var port: String?
    @Option(name: .long, help: "Directory for the queue database and job files (default ./data).") var data: String?
    @Option(name: .long, help: "VGG-16 or VGG-19 weights file (default ./weights/vgg16-imagenet.safetensors; docs/deep.md).") var weights: String?
    @Option(name: .long, help: "Worker threads for queued jobs.") var workers: String?
    @Option(name: .long, help: "Job queue: empty = SQLite in --data (default); postgres://user:pass@host:port/db or libpq keywords = PostgreSQL, shared by replicas.")
    var queueURL: String?
    @Option(name: .long, help: "all (default), api (requests, no jobs) or worker (jobs; /healthz, /readyz, /metrics only); api and worker need a PostgreSQL --queue-url.")
    var role: String?

    func run() async throws {
        let config = try await options.load(["host": host, "port": port, "data": data, "weights": weights, "workers": workers,
                                             "queue_url": queueURL, "role": role])
        Allocator.configureForServing()
        let logger = bootstrapLogging(level: config.logLevel)
        for name in ConfigLoader.unknownEnvironmentVariables() {
            logger.warning("environment variable \(name) names no configuration key; ignored")
        }
        let service: Service
        do {
            service = try Service(config: config, logger: logger)
            _ = try service.start()
        } catch {
            logger.critical("cannot start: \(error)")
            LogSink.standardError.flush()
            throw ExitCode(1)
        }
        await waitForTerminationSignal(logger: logger, service: service)
    }

    /// Blocks until SIGTERM or SIGINT, then shuts the service down gracefully.
    private func waitForTerminationSignal(logger: Logger, service: Service) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "deepresize.signals")
            let once = OnceFlag()
            var sources: [any DispatchSourceSignal] = []
            for number in [SIGTERM, SIGINT] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    guard once.claim() else { return }
                    logger.notice("received signal \(number)")
                    service.shutdown { continuation.resume() }
                }
                source.activate()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
        logger.notice("stopped")
        LogSink.standardError.flush()
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []  // written once, on the main task, before any signal
    static func keep(_ list: [any DispatchSourceSignal]) { sources = list }
}
