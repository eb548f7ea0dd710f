import ArgumentParser

struct ResizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resize", abstract: "Resize one image file.")
    func run() throws { throw ValidationError("resize: not built yet") }
}
