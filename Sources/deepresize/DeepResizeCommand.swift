import ArgumentParser

@main
struct DeepResizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deepresize",
        abstract: "Image resizing by reconstruction from deep features, as an HTTP service and a CLI.",
        subcommands: [ServeCommand.self, ResizeCommand.self, BenchCommand.self, HealthcheckCommand.self, BackupCommand.self]
    )
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of the engine and the resizing methods.",
        subcommands: [BenchEngineCommand.self, BenchPeakCommand.self, BenchAccuracyCommand.self, BenchDeepPrecisionCommand.self, BenchSeamCommand.self, BenchQueueCommand.self]
    )
}
