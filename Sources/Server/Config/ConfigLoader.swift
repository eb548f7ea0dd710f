import Configuration
public import Foundation
import SystemPackage

/// Layers the configuration sources with swift-configuration: command-line values win over the
/// environment (`DEEPRESIZE_<KEY>`), the environment over the JSON file, the file over the defaults.
/// A value that is present but malformed is an error naming the key, never silently replaced by a default.
public enum ConfigLoader {
    static let defaultFile = "config/deepresize.json"
    static let fileVariable = "DEEPRESIZE_CONFIG"

    /// - Parameters:
    ///   - file: `--config`; when nil, `DEEPRESIZE_CONFIG`, else `config/deepresize.json` if it exists.
    ///   - overrides: values from command-line flags, by key name.
    ///   - crossChecked: false skips the checks between keys (`ServiceConfig.validated`), for a probe such as
    ///     `healthcheck` that reads one key and cannot see `serve`'s own flags, which may settle them.
    public static func load(file: String?, overrides: [String: String],
                     environment: [String: String] = ProcessInfo.processInfo.environment,
                     crossChecked: Bool = true) async throws -> ServiceConfig {
        for name in overrides.keys where ServiceConfig.key(named: name) == nil {
            throw ConfigurationError("unknown configuration key '\(name)'; known keys: \(knownKeys)")
        }
        let explicitFile = file ?? environment[fileVariable]
        let path = explicitFile ?? defaultFile
        var providers: [any ConfigProvider] = [
            // Flags are text like environment values, so the same provider parses them.
            EnvironmentVariablesProvider(environmentVariables: Dictionary(uniqueKeysWithValues: overrides.map {
                ("DEEPRESIZE_" + $0.key.uppercased(), $0.value)
            })).prefixKeys(with: ["deepresize"]),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: ["deepresize"]),
        ]
        if FileManager.default.fileExists(atPath: path) {
            try checkFileKeys(path)
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
            } catch {
                throw ConfigurationError("config file \(path): \(error)")
            }
        } else if explicitFile != nil {
            throw ConfigurationError("config file \(path) does not exist")
        }
        let reader = ConfigReader(providers: providers)
        var config = ServiceConfig()
        for key in ServiceConfig.keys {
            // Where a malformed value came from, for its error: the command line wins, then the environment.
            let source = overrides[key.name] != nil ? "--set \(key.name) or its flag"
                : environment[key.environmentVariable] != nil ? key.environmentVariable : "config file \(path)"
            guard let raw = try read(key, from: reader, source: source) else { continue }
            try key.set(&config, raw)
        }
        return crossChecked ? try config.validated() : config
    }

    /// `DEEPRESIZE_*` variables that name no key: probably typos, worth a warning at start.
    public static func unknownEnvironmentVariables(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let known = Set(ServiceConfig.keys.map(\.environmentVariable) + [fileVariable])
        return environment.keys.filter { $0.hasPrefix("DEEPRESIZE_") && !known.contains($0) }.sorted()
    }

    private static var knownKeys: String { ServiceConfig.keys.map(\.name).joined(separator: ", ") }

    private static func read(_ key: SettingKey, from reader: ConfigReader, source: String) throws -> ConfigScalar? {
        let configKey = ConfigKey(key.name)
        do {
            switch key.kind {
            case .string: return .string(try reader.requiredString(forKey: configKey))
            case .int: return .int(try reader.requiredInt(forKey: configKey))
            case .seconds: return .double(try reader.requiredDouble(forKey: configKey))
            case .bool: return .bool(try reader.requiredBool(forKey: configKey))
            }
        } catch {
            // swift-configuration reports "missing" and "malformed" with the same error type; only the
            // first means "use the default".
            if String(describing: error).hasPrefix("Missing required config value") { return nil }
            throw ConfigurationError("\(key.name) (\(source)): malformed value, expected \(key.kind.rawValue)")
        }
    }

    /// Unknown keys in the file are refused: a typo must not silently fall back to a default. So are values
    /// of the wrong JSON type: swift-configuration's JSON reader would take `true` as 1 for a number, 1 or 2
    /// as true for a boolean, and `null` as "not set".
    private static func checkFileKeys(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("config file \(path) cannot be read")
        }
        // JSON files are UTF-8 (RFC 8259 §8.1); Foundation also reads UTF-16 and 32, which the key checks below
        // (and swift-configuration's own reader) would then see differently.
        guard String(validating: data, as: UTF8.self) != nil, !data.contains(0) else {
            throw ConfigurationError("config file \(path) is not UTF-8 text (save it as UTF-8)")
        }
        do { _ = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigurationError("config file \(path) is not valid JSON: \(error.localizedDescription)")
        }
        guard let values = try? JSONDecoder().decode([String: FileValue].self, from: data) else {
            throw ConfigurationError("config file \(path) must hold a JSON object")
        }
        // JSON parsers keep the last of two equal keys without a word; an edit that added a key a second time
        // would silently undo the first.
        if let repeated = repeatedTopLevelKey(data) {
            throw ConfigurationError("config file \(path): key '\(repeated)' appears more than once")
        }
        for name in values.keys.sorted() {
            guard let key = ServiceConfig.key(named: name) else {
                throw ConfigurationError("config file \(path): unknown key '\(name)'; known keys: \(knownKeys)")
            }
            let value = values[name]!
            let fits = switch (key.kind, value) {
            case (.string, .string), (.seconds, .number), (.bool, .bool): true
            case (.int, .number(let n)): n == n.rounded()
            default: false
            }
            guard fits else {
                throw ConfigurationError("config file \(path): \(name) is \(value.description), expected \(key.kind.rawValue)"
                                         + (value == .null ? " (leave the key out for the default)" : ""))
            }
        }
    }

    /// The first key of the top-level object of `data` (valid JSON) that appears twice, if any.
    static func repeatedTopLevelKey(_ data: Data) -> String? {
        var seen = Set<String>()
        var depth = 0
        var i = data.startIndex
        var lastString: Range<Data.Index>?
        while i < data.endIndex {
            let byte = data[i]
            if byte == UInt8(ascii: "\"") {
                // A string: skip to its closing quote (a backslash escapes the next byte).
                var j = data.index(after: i)
                while j < data.endIndex, data[j] != UInt8(ascii: "\"") {
                    j = data[j] == UInt8(ascii: "\\") ? data.index(j, offsetBy: 2, limitedBy: data.endIndex) ?? data.endIndex
                                                        : data.index(after: j)
                }
                lastString = i..<min(data.index(after: j), data.endIndex)
                i = min(data.index(after: j), data.endIndex)
                continue
            }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ":") where depth == 1:
                // The string just before a colon at depth 1 is a top-level key; decoded, so that "a" and
                // "\u0061" are the same key.
                if let range = lastString, let key = try? JSONDecoder().decode(String.self, from: data[range]) {
                    if !seen.insert(key).inserted { return key }
                }
            default: break
            }
            if !(byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09) && byte != UInt8(ascii: ":") { lastString = nil }
            i = data.index(after: i)
        }
        return nil
    }

    /// A top-level value of the config file, by JSON type.
    private enum FileValue: Decodable, Equatable, CustomStringConvertible {
        case null, bool(Bool), number(Double), string(String), other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let b = try? container.decode(Bool.self) { self = .bool(b) }
            else if let n = try? container.decode(Double.self) { self = .number(n) }
            else if let s = try? container.decode(String.self) { self = .string(s) }
            else { self = .other }
        }

        var description: String {
            switch self {
            case .null: "null"
            case .bool(let b): "\(b)"
            case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            case .string(let s): s.debugDescription
            case .other: "an array, an object or a number out of range"
            }
        }
    }
}

