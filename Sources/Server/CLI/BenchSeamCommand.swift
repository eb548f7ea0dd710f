import ArgumentParser

struct BenchSeamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seam", abstract: "Pixel seam carving timing.")
    func run() throws { throw ValidationError("bench seam: not built yet") }
}
