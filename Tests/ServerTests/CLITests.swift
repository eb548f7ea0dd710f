import Foundation
import ImageCodecs
import Testing
import TestSupport

/// Issue 16, item 10: `deepresize resize -h` prints help; width and height are `--width/-W` (and `-w`) and
/// `--height/-H`; the bar's last loss is the loss the summary prints.
@Suite struct CLITests {
    @Test func dashHPrintsHelp() throws {
        for flag in ["-h", "--help"] {
            let (status, output) = try runBinary(["resize", flag])
            #expect(status == 0, "\(flag): \(output)")
            #expect(output.contains("USAGE: deepresize resize"), "\(flag): \(output)")
            #expect(output.contains("-W, -w, --width") && output.contains("-H, --height"), "\(output)")
        }
    }

    @Test func theOldDashHForHeightIsRefusedNotTakenForHelp() throws {
        // A script written for -h HEIGHT must not get help and exit 0 without an image.
        let (status, output) = try runBinary(["resize", "in.jpg", "-w", "400", "-h", "300", "-o", "/nonexistent/out.png"])
        #expect(status == 64, "\(output)")
        #expect(output.contains("the height is -H"), "\(output)")
    }

    @Test func widthAndHeightByEveryName() throws {
        let directory = try ServerProcess.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        for (flags, size) in [(["-W", "48", "-H", "20"], (48, 20)), (["--width", "40", "--height", "30"], (40, 30)),
                              (["-w", "48"], (48, 32)), (["-H", "16"], (24, 16))] {
            let output = directory + "/out.png"
            let (status, text) = try runBinary(["resize", input, "--method", "scale", "-o", output] + flags)
            #expect(status == 0, "\(flags): \(text)")
            let result = try ImageDecoder.decode(Array(try Data(contentsOf: URL(fileURLWithPath: output))))
            #expect((result.width, result.height) == size, "\(flags)")
        }
    }

    @Test func theBarEndsOnTheLossTheSummaryPrints() throws {
        let directory = try ServerProcess.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = try TestImages.file(TestImages.scene(width: 96, height: 72))
        let (status, text) = try runBinary(["resize", input, "-W", "64", "-H", "72", "--iterations", "4", "--progress",
                                            "--set", "weights=\(ServerProcess.weightsPath)", "--set", "engine_threads=2",
                                            "-o", directory + "/deep.png"])
        #expect(status == 0, "\(text)")
        // The bar redraws with \r; its last state is the text after the last \r on its line.
        let barLine = try #require(text.split(separator: "\n").first { $0.contains("deep [") }, "\(text)")
        let lastBar = String(barLine.split(separator: "\r").last ?? "")
        let barLoss = try #require(lastBar.firstMatch(of: /loss ([0-9.e+-]+)/).map { String($0.1) }, "\(lastBar)")
        let finalLoss = try #require(text.firstMatch(of: /L [0-9.e+-]+ → ([0-9.e+-]+)/).map { String($0.1) }, "\(text)")
        #expect(barLoss == finalLoss, "bar \(lastBar) vs summary \(finalLoss)")
    }

    /// `healthcheck` (the container's HEALTHCHECK) refuses a port it cannot use with a message and exit 64;
    /// 65536 and above trapped converting to a 16-bit port, and a malformed DEEPRESIZE_PORT probed 8080.
    @Test func healthcheckRefusesPortsItCannotUse() throws {
        for port in ["0", "65536", "99999", "4294967296"] {
            let (status, output) = try runBinary(["healthcheck", "--port", port])
            #expect(status == 64 && output.contains("outside 1…65535"), "\(port): \(status) \(output)")
        }
        let (status, output) = try runBinary(["healthcheck"], environment: ["DEEPRESIZE_PORT": "abc"])
        #expect(status == 64 && output.contains("port (DEEPRESIZE_PORT): malformed value"), "\(status) \(output)")
    }

    /// The port comes from where `serve` takes it: a port set only in the config file was probed at 8080.
    @Test func healthcheckFindsThePortWhereServeDoes() throws {
        let server = try ServerProcess()
        let directory = try ServerProcess.temporaryDirectory("health")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/deepresize.json"
        _ = FileManager.default.createFile(atPath: file, contents: Data(#"{"port": \#(server.port)}"#.utf8))
        // (DEEPRESIZE_PORT would win over the file, as for serve: left out of these two.)
        #expect(try runBinary(["healthcheck", "--config", file], without: ["DEEPRESIZE_PORT"]).status == 0)
        #expect(try runBinary(["healthcheck"], environment: ["DEEPRESIZE_CONFIG": file], without: ["DEEPRESIZE_PORT"]).status == 0)
        #expect(try runBinary(["healthcheck", "--set", "port=\(server.port)"]).status == 0)
        #expect(try runBinary(["healthcheck"], environment: ["DEEPRESIZE_PORT": "\(server.port)"]).status == 0)
        // Only the port is read: a conflict between other keys, which serve's own flags may settle
        // (default_wait 60 over this max_wait), does not fail the probe.
        #expect(try runBinary(["healthcheck"], environment: ["DEEPRESIZE_PORT": "\(server.port)", "DEEPRESIZE_MAX_WAIT": "30"]).status == 0)
        let any = try runBinary(["healthcheck", "--set", "port=0"])
        #expect(any.status == 64 && any.output.contains("give --port"), "\(any.output)")
        // No answer is "unhealthy", exit 1 (as container runtimes read it), without usage lines.
        let refused = try runBinary(["healthcheck", "--port", "1"])
        #expect(refused.status == 1 && refused.output.contains("unhealthy: connect to 127.0.0.1:1") && !refused.output.contains("Usage:"),
                "\(refused.status) \(refused.output)")
    }

    /// deep-only options are refused for the other methods, all of them (--start and --tear-limit were
    /// silently ignored), and an output into a missing directory is refused before the run, not after it.
    @Test func resizeRefusesWhatItWouldIgnoreOrCouldNotWrite() throws {
        let directory = try ServerProcess.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        for extra in [["--start", "bilinear"], ["--tear-limit", "0.2"]] {
            for method in ["scale", "seam"] {
                let (status, output) = try runBinary(["resize", input, "-W", "48", "--method", method, "-o", directory + "/a.png"] + extra)
                #expect(status == 64 && output.contains("need --method deep"), "\(method) \(extra): \(output)")
            }
        }
        let started = Date()
        let (status, output) = try runBinary(["resize", input, "-W", "60", "-H", "64", "--mask-out", directory + "/missing/m.png",
                                              "-o", directory + "/d.png"])
        #expect(status == 64 && output.contains("the directory \(directory)/missing does not exist"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/d.png"))
        #expect(Date().timeIntervalSince(started) < 30)
        // Reading and writing failures say why; "-" is no file (a file named "-" was written).
        // A failure of the work is no usage error: its own sysexits status (66 no input, 73 cannot create,
        // 65 bad data), and no usage lines after the message.
        let missing = try runBinary(["resize", directory + "/none.png", "-W", "48", "--method", "scale", "-o", directory + "/b.png"])
        #expect(missing.status == 66 && missing.output.contains("cannot read \(directory)/none.png: No such file or directory"),
                "\(missing.status) \(missing.output)")
        let intoDirectory = try runBinary(["resize", input, "-W", "48", "--method", "scale", "-o", directory])
        #expect(intoDirectory.status == 73 && intoDirectory.output.contains("cannot write \(directory): Is a directory"),
                "\(intoDirectory.status) \(intoDirectory.output)")
        let text = directory + "/text.jpg"
        _ = FileManager.default.createFile(atPath: text, contents: Data("not an image".utf8))
        let undecodable = try runBinary(["resize", text, "-W", "48", "--method", "scale", "-o", directory + "/c.png"])
        #expect(undecodable.status == 65 && undecodable.output.contains("is not a JPEG, PNG or WebP"), "\(undecodable.output)")
        let tooWide = try runBinary(["resize", input, "-W", "100000", "--method", "scale", "-o", directory + "/d.png"])
        #expect(tooWide.status == 65 && tooWide.output.contains("exceeds the largest dimension"), "\(tooWide.output)")
        // The benchmarks read and write the same way (they said "The operation could not be completed", exit 1).
        let benchMissing = try runBinary(["bench", "seam", directory + "/none.png", "--shrink", "8"])
        #expect(benchMissing.status == 66 && benchMissing.output.contains("cannot read \(directory)/none.png: No such file or directory"),
                "\(benchMissing.output)")
        for failure in [missing, intoDirectory, undecodable, tooWide, benchMissing] {
            #expect(!failure.output.contains("Usage:"), "\(failure.output)")
        }
        let dash = try runBinary(["resize", input, "-W", "48", "--method", "scale", "-o", "-"])
        #expect(dash.status == 64 && dash.output.contains("'-' is not a file"), "\(dash.output)")
        // The benchmarks too check where they will write before they run.
        let bench = try runBinary(["bench", "seam", input, "--shrink", "8", "--json", directory + "/missing/r.json"])
        #expect(bench.status == 64 && bench.output.contains("the directory \(directory)/missing does not exist"), "\(bench.output)")
    }

    /// `backup` copies the SQLite queue; with PostgreSQL's it says to use pg_dump, not that no database exists.
    @Test func backupPointsAPostgreSQLQueueToPgDump() throws {
        let (status, output) = try runBinary(["backup", "--set", "queue_url=postgres://u@127.0.0.1:1/db", "/tmp/never-written.sqlite3"])
        #expect(status == 64 && output.contains("pg_dump -Fc"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-written.sqlite3"))
        // No database to copy is no usage error: 66, without usage lines.
        let directory = try ServerProcess.temporaryDirectory("backup")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let none = try runBinary(["backup", "--data", directory + "/empty", directory + "/b.sqlite3"], without: ["DEEPRESIZE_QUEUE_URL"])
        #expect(none.status == 66 && none.output.contains("no job database at") && !none.output.contains("Usage:"), "\(none.output)")
    }

    /// A malformed value names where it came from: the command line, not an environment variable nobody set.
    @Test func aMalformedSettingNamesItsSource() throws {
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        let (status, output) = try runBinary(["resize", input, "-W", "48", "--method", "scale", "--set", "max_wait=abc", "-o", "/tmp/never.png"])
        #expect(status != 0 && output.contains("max_wait (--set max_wait or its flag): malformed value"), "\(output)")
        let (_, fromEnvironment) = try runBinary(["resize", input, "-W", "48", "--method", "scale", "-o", "/tmp/never.png"],
                                                 environment: ["DEEPRESIZE_MAX_WAIT": "abc"])
        #expect(fromEnvironment.contains("max_wait (DEEPRESIZE_MAX_WAIT): malformed value"), "\(fromEnvironment)")
    }
}
