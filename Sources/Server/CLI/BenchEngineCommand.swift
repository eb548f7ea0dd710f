import ArgumentParser

struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engine", abstract: "VGG-16 forward/backward timing.")
    func run() throws { throw ValidationError("bench engine: not built yet") }
}
