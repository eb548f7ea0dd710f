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

    @Test func theShippedConfigFileHoldsTheDefaults() async throws {
        let shipped = ServerProcess.packageRoot.appendingPathComponent("config/deepresize.json").path
        var expected = ServiceConfig()
        let config = try await ConfigLoader.load(file: shipped, overrides: [:], environment: [:])
        expected.workers = config.workers
        expected.engineThreads = config.engineThreads
        #expect(config == expected)
    }
}
