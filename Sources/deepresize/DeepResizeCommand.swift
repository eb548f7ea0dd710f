import ArgumentParser

@main
struct DeepResizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deepresize",
        abstract: "Image resizing by reconstruction from deep features, as an HTTP service and a CLI.",
        subcommands: [ServeCommand.self, ResizeCommand.self, BenchCommand.self, HealthcheckCommand.self, BackupCommand.self]
    )

    static func main() async {
        // `resize … -h 300` meant the height before -h became help: refused with the new spelling, rather than
        // help printed and exit 0 with no image (a script would take that for success).
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == ResizeCommand.configuration.commandName,
           let flag = arguments.firstIndex(of: "-h"), flag + 1 < arguments.count, Int(arguments[flag + 1]) != nil {
            ResizeCommand.exit(withError: ValidationError("-h is help; the height is -H (or --height), e.g. -W 400 -H 300"))
        }
        // As ArgumentParser's own main, except that a failure of the work (`CommandFailure`) keeps its exit
        // status and is not followed by the usage lines.
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            failure.exit()
        } catch {
            exit(withError: error)
        }
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of the engine and the resizing methods.",
        subcommands: [BenchEngineCommand.self, BenchPeakCommand.self, BenchAccuracyCommand.self, BenchDeepPrecisionCommand.self, BenchSeamCommand.self, BenchQueueCommand.self]
    )
}
