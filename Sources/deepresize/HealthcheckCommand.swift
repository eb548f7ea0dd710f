import ArgumentParser
import Glibc

/// `deepresize healthcheck`: GET /healthz on the local service, exit 0 on 200. The container's
/// HEALTHCHECK uses it, so the runtime image needs no curl. The port is found as `serve` finds it
/// (`DEEPRESIZE_PORT`, the config file, 8080; `--set port=…` and `--port` here stand for `serve`'s own
/// flags, which a probe cannot see): it read only `DEEPRESIZE_PORT`, so a port set in a config file was
/// probed at 8080. Only the port is read: the checks between other keys are `serve`'s, whose flags may
/// settle them.
struct HealthcheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "healthcheck",
                                                    abstract: "Exit 0 when the local service answers GET /healthz with 200.")

    @Option(help: "IPv4 address of the service.") var host = "127.0.0.1"
    @Option(help: "Port (default: the service's, from DEEPRESIZE_PORT, --set port=… or the config file; else 8080).") var port: Int?
    @Option(help: "Seconds to wait for the answer.") var timeout: Int = 3
    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if let port { try Self.checkPort(port, from: "--port") }
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { throw ValidationError("--host: not an IPv4 address: \(host)") }
        guard timeout >= 1 else { throw ValidationError("--timeout: \(timeout) is not a number of seconds ≥ 1") }
    }

    func run() async throws {
        let port: Int
        if let flag = self.port {
            port = flag
        } else {
            // As `serve` reads it: a malformed value is an error, not a silent 8080.
            port = try await options.load(crossChecked: false).port
            // 0 asks `serve` for any free port, which only its log tells.
            guard port != 0 else { throw ValidationError("the service's port is 0 (any free port): give --port") }
        }
        // Any failure to get an answer is "unhealthy" (exit 1, as container runtimes read it), not a usage
        // error (64, which printed the usage lines after "connect … refused").
        let status: Int
        do {
            status = try Self.get(path: "/healthz", host: host, port: port, timeout: timeout)
        } catch {
            print("unhealthy: \(error)")
            throw ExitCode(1)
        }
        guard status == 200 else {
            print("unhealthy: /healthz answered \(status)")
            throw ExitCode(1)
        }
    }

    /// A port the socket can take (a larger one trapped converting to UInt16).
    static func checkPort(_ port: Int, from source: String) throws {
        guard (1...65535).contains(port) else { throw ValidationError("\(source): \(port) is outside 1…65535") }
    }

    /// The status code of `GET path`, over a plain blocking socket with send/receive timeouts.
    static func get(path: String, host: String, port: Int, timeout: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw ProbeFailure("not an IPv4 address: \(host)") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw failure("connect to \(host):\(port)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { throw failure("send") }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 12 else { throw failure("no answer") }
        // "HTTP/1.1 200 ..."
        guard let code = Int(String(decoding: buffer[9..<12], as: UTF8.self)) else { throw ProbeFailure("not an HTTP answer") }
        return code
    }

    private static func failure(_ what: String) -> ProbeFailure {
        ProbeFailure("\(what): \(String(cString: strerror(errno)))")
    }

    /// Why no answer came.
    struct ProbeFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
