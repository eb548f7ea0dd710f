import Engine
import Foundation
import Testing
@testable import Server

@Suite struct ConfigLoaderTests {
    private func file(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "deepresize-config-\(UUID().uuidString.prefix(8)).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverTheFile() async throws {
        let path = try file(#"{"port": 1111, "max_wait": 100, "workers": 3}"#)
        let config = try await ConfigLoader.load(file: path, overrides: ["port": "3333"],
                                                 environment: ["DEEPRESIZE_PORT": "2222", "DEEPRESIZE_MAX_WAIT": "120"])
        #expect(config.port == 3333)
        #expect(config.maxWait == 120)
        #expect(config.workers == 3)
        #expect(config.queueCapacity == 100)
    }

    @Test func booleanSettingFromFileEnvironmentAndFlags() async throws {
        #expect(try await ConfigLoader.load(file: nil, overrides: [:], environment: [:]).deepEarlyStop == true)
        let path = try file(#"{"deep_early_stop": false}"#)
        #expect(try await ConfigLoader.load(file: path, overrides: [:], environment: [:]).deepEarlyStop == false)
        #expect(try await ConfigLoader.load(file: nil, overrides: [:], environment: ["DEEPRESIZE_DEEP_EARLY_STOP": "false"]).deepEarlyStop == false)
        #expect(try await ConfigLoader.load(file: path, overrides: ["deep_early_stop": "true"], environment: [:]).deepEarlyStop == true)
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: ["deep_early_stop": "maybe"], environment: [:])
        }
        // The pipeline passes the engine's default rule, or none.
        var config = ServiceConfig()
        #expect(ResizePipeline(config: config).deepEarlyStop == DeepResizeOptions.defaultEarlyStop)
        config.deepEarlyStop = false
        #expect(ResizePipeline(config: config).deepEarlyStop == nil)
    }

    /// queue_url: SQLite by default, PostgreSQL by URL or libpq keywords; its password never shows; roles
    /// other than all need PostgreSQL.
    @Test func queueURLSelectsTheBackendAndRolesNeedPostgreSQL() async throws {
        let defaults = try await ConfigLoader.load(file: nil, overrides: [:], environment: [:])
        #expect(QueueBackend(url: defaults.queueURL) == .sqlite && defaults.role == "all")
        let url = "postgres://deepresize:s3cret@db:5432/jobs"
        let fromEnvironment = try await ConfigLoader.load(file: nil, overrides: [:], environment: ["DEEPRESIZE_QUEUE_URL": url])
        #expect(QueueBackend(url: fromEnvironment.queueURL) == .postgres(url))
        #expect(ServiceConfig.key(named: "queue_url")?.get(fromEnvironment) == "postgres postgres://deepresize:***@db:5432/jobs")
        let keywords = try await ConfigLoader.load(file: nil, overrides: ["queue_url": "host=db dbname=jobs password=s3cret"], environment: [:])
        #expect(QueueBackend(url: keywords.queueURL) == .postgres("host=db dbname=jobs password=s3cret"))
        #expect(QueueBackend(url: keywords.queueURL)?.description == "postgres host=db dbname=jobs password=***")
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: ["queue_url": "mysql://db/jobs"], environment: [:])
        }
        let worker = try await ConfigLoader.load(file: nil, overrides: ["queue_url": url, "role": "worker"], environment: [:])
        #expect(worker.role == "worker")
        for role in ["api", "worker"] {
            let refused = await #expect(throws: ConfigurationError.self) {
                _ = try await ConfigLoader.load(file: nil, overrides: ["role": role], environment: [:])
            }
            #expect(refused?.description.contains("queue_url") == true)
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: ["queue_url": url, "role": "both"], environment: [:])
        }
    }

    @Test func enginePrecisionFromFileEnvironmentAndFlags() async throws {
        #expect(try await ConfigLoader.load(file: nil, overrides: [:], environment: [:]).enginePrecision == "auto")
        let path = try file(#"{"engine_precision": "fp32"}"#)
        #expect(try await ConfigLoader.load(file: path, overrides: [:], environment: [:]).enginePrecision == "fp32")
        #expect(try await ConfigLoader.load(file: path, overrides: [:], environment: ["DEEPRESIZE_ENGINE_PRECISION": "bf16"]).enginePrecision == "bf16")
        #expect(try await ConfigLoader.load(file: path, overrides: ["engine_precision": "auto"], environment: [:]).enginePrecision == "auto")
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: ["engine_precision": "fp16"], environment: [:])
        }
        // The network gets it; a CPU without AVX512_BF16 keeps fp32 even when bf16 is asked for.
        guard FileManager.default.fileExists(atPath: ServiceConfig().weightsPath) else { return }
        for asked in ["auto", "fp32", "bf16"] {
            var config = ServiceConfig()
            config.enginePrecision = asked
            let network = try #require(ResizePipeline.loadNetwork(config).0)
            let expected: EnginePrecision = asked == "bf16" && !EnginePrecision.bf16.isSupported ? .fp32 : EnginePrecision(rawValue: asked)!
            #expect(network.precision == expected)
        }
    }

    @Test func malformedOrUnknownSettingsAreErrorsNotDefaults() async throws {
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: [:], environment: ["DEEPRESIZE_PORT": "eighty"])
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: ["port": "70000"], environment: [:])
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: try file(#"{"max_wiat": 10}"#), overrides: [:], environment: [:])
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: try file("{not json"), overrides: [:], environment: [:])
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: "/nonexistent/deepresize.json", overrides: [:], environment: [:])
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigLoader.load(file: nil, overrides: ["default_wait": "500"], environment: [:])
        }
        #expect(ConfigLoader.unknownEnvironmentVariables(["DEEPRESIZE_PROT": "1", "DEEPRESIZE_PORT": "1"]) == ["DEEPRESIZE_PROT"])
    }

    /// A value of the wrong JSON type in the file is an error naming the file and the key: the JSON reader
    /// underneath took `true` as 1 for max_input_pixels (every upload then refused as too large), 2 as true
    /// for a boolean, and null as the default.
    @Test func fileValuesOfTheWrongTypeAreErrors() async throws {
        let wrong: [(String, String)] = [
            (#"{"max_input_pixels": true}"#, "max_input_pixels is true, expected int"),
            (#"{"workers": false}"#, "workers is false, expected int"),
            (#"{"max_wait": true}"#, "max_wait is true, expected seconds"),
            (#"{"deep_early_stop": 2}"#, "deep_early_stop is 2, expected bool"),
            (#"{"deep_early_stop": 1}"#, "deep_early_stop is 1, expected bool"),
            (#"{"deep_early_stop": "true"}"#, #"deep_early_stop is "true", expected bool"#),
            (#"{"max_wait": null}"#, "max_wait is null, expected seconds (leave the key out for the default)"),
            (#"{"workers": 1.5}"#, "workers is 1.5, expected int"),
            (#"{"port": "8080"}"#, #"port is "8080", expected int"#),
            (#"{"host": 0}"#, "host is 0, expected string"),
            (#"{"host": ["a"]}"#, "host is an array, an object or a number out of range, expected string"),
            (#"[1, 2]"#, "must hold a JSON object"),
            (#"{"workers": 2,"#, "is not valid JSON: "),
        ]
        for (json, message) in wrong {
            do {
                _ = try await ConfigLoader.load(file: try file(json), overrides: [:], environment: [:])
                Issue.record("accepted \(json)")
            } catch {
                #expect("\(error)".contains(message), "\(json): \(error)")
            }
        }
        let right = try await ConfigLoader.load(file: try file(#"{"workers": 3, "max_wait": 100, "deep_early_stop": false, "host": "0.0.0.0", "port": 8081}"#),
                                                overrides: [:], environment: [:])
        #expect(right.workers == 3 && right.maxWait == 100 && right.deepEarlyStop == false && right.host == "0.0.0.0" && right.port == 8081)
    }

    /// A key written twice: JSON parsers keep the last one silently, so an added line would undo an earlier
    /// one unseen. Keys are compared decoded ("\u0061" is "a"); nested objects and strings that look like
    /// keys do not count.
    @Test func aRepeatedKeyIsAnError() async throws {
        for json in [#"{"workers": 2, "port": 8081, "workers": 3}"#, #"{"workers": 2, "\u0077orkers": 3}"#,
                     "{\n  \"workers\" : 2,\n  \"workers\"\t:\n 3\n}"] {
            do {
                _ = try await ConfigLoader.load(file: try file(json), overrides: [:], environment: [:])
                Issue.record("accepted \(json)")
            } catch {
                #expect("\(error)".contains("key 'workers' appears more than once"), "\(json): \(error)")
            }
        }
        #expect(ConfigLoader.repeatedTopLevelKey(Data(#"{"a": {"b": 1, "b": 2}, "c": ["a", "a"], "d": "a:", "e": "\"a\":"}"#.utf8)) == nil)
        #expect(ConfigLoader.repeatedTopLevelKey(Data(#"{"a\"": 1, "a\"": 2}"#.utf8)) == "a\"")
        #expect(ConfigLoader.repeatedTopLevelKey(Data(#"{"a\\": 1, "b": "a\\", "a\\": 2}"#.utf8)) == "a\\")
        let config = try await ConfigLoader.load(file: try file(#"{"workers": 2, "port": 8081}"#), overrides: [:], environment: [:])
        #expect(config.workers == 2 && config.port == 8081)
        // UTF-16 (as PowerShell 5's `>` writes): Foundation reads it, the key checks would not; refused.
        let utf16 = NSTemporaryDirectory() + "deepresize-utf16-\(UUID().uuidString).json"
        _ = FileManager.default.createFile(atPath: utf16, contents: #"{"port": 8081, "port": 8082}"#.data(using: .utf16LittleEndian))
        defer { try? FileManager.default.removeItem(atPath: utf16) }
        do {
            _ = try await ConfigLoader.load(file: utf16, overrides: [:], environment: [:])
            Issue.record("accepted a UTF-16 file")
        } catch {
            #expect("\(error)".contains("is not UTF-8 text"), "\(error)")
        }
    }

    @Test func theShippedConfigFileHoldsTheDefaults() async throws {
        let shipped = ServerProcess.packageRoot.appendingPathComponent("config/deepresize.json").path
        var expected = ServiceConfig()
        let config = try await ConfigLoader.load(file: shipped, overrides: [:], environment: [:])
        expected.workers = config.workers
        expected.engineThreads = config.engineThreads
        #expect(config == expected)
    }
}
