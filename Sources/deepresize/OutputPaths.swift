import ArgumentParser
import Foundation

/// Where a command will write must be a path in an existing directory: checked before the work (a
/// deep run or a benchmark of many seconds), not found missing after it.
func checkOutputPath(_ path: String?, option: String) throws {
    guard let path else { return }
    guard path != "-" else {
        throw ValidationError("\(option) '-' is not a file: give a path (nothing is written to stdout)")
    }
    let directory = (path as NSString).deletingLastPathComponent
    var isDirectory: ObjCBool = false
    guard directory.isEmpty || (FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue) else {
        throw ValidationError("cannot write \(path): the directory \(directory) does not exist")
    }
}
