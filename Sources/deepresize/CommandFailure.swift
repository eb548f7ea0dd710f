import ArgumentParser
import Foundation

/// A failure of the work a command was given, not of its command line: printed as "Error: …" without the
/// usage lines (which would suggest a mistyped option), with an exit status of sysexits.h that a script can
/// tell from a usage error (64).
struct CommandFailure: Error, CustomStringConvertible {
    enum Status: Int32 {
        /// The input is not an image the command can use (undecodable, too large, a size it refuses).
        case dataError = 65
        /// The input cannot be read.
        case noInput = 66
        /// The work itself failed (the engine, its weights, memory).
        case software = 70
        /// An output cannot be written.
        case cannotCreate = 73
    }

    let status: Status
    let description: String

    init(_ status: Status, _ description: String) {
        self.status = status
        self.description = description
    }

    /// Prints the failure and ends the process with its status.
    func exit() -> Never {
        FileHandle.standardError.write(Data("Error: \(description)\n".utf8))
        Foundation.exit(status.rawValue)
    }
}
