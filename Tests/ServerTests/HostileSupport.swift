import Foundation
import Glibc

/// A deliberately dumb HTTP/1.1 client on a raw POSIX socket: it sends exactly the bytes it is given
/// (partial heads, lies about Content-Length, never reading) so tests can behave the way curl won't.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    /// `receiveBuffer` shrinks SO_RCVBUF so a client that stops reading stalls the server's writes quickly.
    init(port: Int, receiveTimeout: Double = 10, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerTestError("socket: \(String(cString: strerror(errno)))") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - receiveTimeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let text = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServerTestError("connect: \(text)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends all bytes; false when the peer is gone (EPIPE/ECONNRESET).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Half-close: the server sees EOF after what was sent.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// One response (status, headers lowercased, body by Content-Length). nil on EOF/timeout before a
    /// complete response. `isHEAD` skips the body.
    func readResponse(isHEAD: Bool = false) -> (status: Int, headers: [String: String], body: [UInt8])? {
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                var lines = head.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = isHEAD || status == 304 || status == 204 || (100..<200).contains(status)
                    ? 0 : Int(headers["content-length"] ?? "0") ?? 0
                while buffer.count < end + 4 + length {
                    guard fill() else { return nil }
                }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeSubrange(..<(end + 4 + length))
                if (100..<200).contains(status) { continue }  // 100 Continue: the real answer follows
                return (status, headers, body)
            }
            guard fill() else { return nil }
        }
    }

    /// True when the server closed the connection (EOF) within the receive timeout, discarding input.
    func waitForClose() -> Bool {
        while true {
            var scratch = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &scratch, scratch.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func fill() -> Bool {
        var scratch = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &scratch, scratch.count, 0)
        guard n > 0 else { return false }
        buffer += scratch[..<n]
        return true
    }
}

/// One `GET path` on a fresh connection; returns the status and the seconds from connect to the last byte.
func timedGet(port: Int, path: String = "/healthz") throws -> (status: Int, seconds: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let client = try RawClient(port: port, receiveTimeout: 5)
    client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    let status = client.readResponse()?.status ?? 0
    return (status, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}

/// The q-quantile (0…1) of `values`, nearest rank.
func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Open file descriptors of a process (from /proc), to catch leaked sockets.
func openDescriptorCount(pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// Resident and peak resident memory of a process in MB (VmRSS, VmHWM from /proc).
func residentMegabytes(pid: Int32) -> (current: Int, peak: Int) {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    func field(_ name: String) -> Int {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return -1 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1) / 1024
    }
    return (field("VmRSS"), field("VmHWM"))
}

/// `POST /resize?<query>` with a raw PNG body on a fresh connection. nil when the server is unreachable
/// or the connection dies before an answer (a killed server).
func postImage(port: Int, query: String, png: [UInt8], timeout: Double = 30,
               headers: [String] = []) -> (status: Int, headers: [String: String], body: [UInt8])? {
    guard let client = try? RawClient(port: port, receiveTimeout: timeout) else { return nil }
    let extra = headers.map { $0 + "\r\n" }.joined()
    let head = "POST /resize?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\(extra)"
        + "Content-Length: \(png.count)\r\nConnection: close\r\n\r\n"
    guard client.send(Array(head.utf8) + png) else { return nil }
    return client.readResponse()
}

/// `GET path` (or another method) on a fresh connection; nil when unreachable.
func request(port: Int, _ path: String, method: String = "GET", headers: [String] = [],
             timeout: Double = 30) -> (status: Int, headers: [String: String], body: [UInt8])? {
    guard let client = try? RawClient(port: port, receiveTimeout: timeout) else { return nil }
    let extra = headers.map { $0 + "\r\n" }.joined()
    guard client.send("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)Connection: close\r\n\r\n") else { return nil }
    return client.readResponse(isHEAD: method == "HEAD")
}

func jsonObject(_ bytes: [UInt8]) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
}
