import Foundation
import Synchronization

/// Where the server keeps its files is nobody's business but the operator's: problem details and job errors
/// (everything `Problem.json` renders) write a path under the data directory relative to it
/// (`jobs/<id>/input.png`), and one under the weights' directory or the working directory by its name there.
/// The log keeps the full paths.
enum ClientPaths {
    private static let prefixes = Mutex<[String]>([])

    /// Registers a directory whose paths clients see relative to it (as given, absolute, and resolved).
    static func register(directory: String) {
        var forms = [directory]
        let absolute = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        forms.append(absolute)
        forms.append(URL(fileURLWithPath: absolute).standardizedFileURL.path)
        forms.append(URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path)
        let cleaned = forms.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }.filter { $0.count > 1 }
        prefixes.withLock { list in
            for form in cleaned where !list.contains(form) { list.append(form) }
            list.sort { $0.count > $1.count }  // the longest (most specific) first
        }
    }

    /// `text` with every registered directory prefix (and the slash after it) taken out.
    static func redact(_ text: String) -> String {
        let list = prefixes.withLock { $0 }
        guard !list.isEmpty, text.contains("/") else { return text }
        var out = text
        for prefix in list where out.contains(prefix) {
            out = out.replacingOccurrences(of: prefix + "/", with: "")
            out = out.replacingOccurrences(of: prefix, with: ".")
        }
        return out
    }
}
