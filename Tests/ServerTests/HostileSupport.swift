import Foundation
import Glibc
import TestSupport

/// One `GET path` on a fresh connection; returns the status and the seconds from connect to the last byte.
func timedGet(port: Int, path: String = "/healthz") throws -> (status: Int, seconds: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let client = try RawClient(port: port, receiveTimeout: 5)
    try? client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    let status = (try? client.readResponse())?.status ?? 0
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
               headers: [String] = []) -> RawResponse? {
    guard let client = try? RawClient(port: port, receiveTimeout: timeout) else { return nil }
    let extra = headers.map { $0 + "\r\n" }.joined()
    let head = "POST /resize?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\(extra)"
        + "Content-Length: \(png.count)\r\nConnection: close\r\n\r\n"
    guard (try? client.send(Array(head.utf8) + png)) != nil else { return nil }
    return try? client.readResponse()
}

/// `GET path` (or another method) on a fresh connection; nil when unreachable.
func request(port: Int, _ path: String, method: String = "GET", headers: [String] = [],
             timeout: Double = 30) -> RawResponse? {
    guard let client = try? RawClient(port: port, receiveTimeout: timeout) else { return nil }
    let extra = headers.map { $0 + "\r\n" }.joined()
    guard (try? client.send("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)Connection: close\r\n\r\n")) != nil else { return nil }
    return try? client.readResponse(isHEAD: method == "HEAD")
}

func jsonObject(_ bytes: [UInt8]) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
}
