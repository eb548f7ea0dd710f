import Foundation
import Glibc

/// The bytes that running jobs may hold together (`job_memory_budget_bytes`). A worker reserves the
/// estimated peak of the oldest queued job (`ResizePipeline.estimatedJobBytes`) *before* it claims that
/// job, and releases it when the run ends however it ends, so jobs whose estimates do not fit next to each
/// other wait in the queue (status `queued`) instead of running the process out of memory. A job larger
/// than the whole budget would never fit: `/resize` refuses it with 422 (`refusal(for:)`).
final class MemoryBudget: @unchecked Sendable {  // unchecked: `reserved`, `peak`, `interruptions` only change with `condition` locked
    /// Bytes in all.
    let total: Int
    private let condition = NSCondition()
    private var reserved = 0
    private var peak = 0
    private var interruptions = 0

    init(total: Int) { self.total = max(1, total) }

    /// No limit (tools and tests that do not care).
    static var unlimited: MemoryBudget { MemoryBudget(total: Int.max / 4) }

    /// Reserves `bytes` when they fit next to the current reservations; otherwise waits for a release
    /// until `timeout` seconds have passed or `interrupt()` is called, and answers false. Never waits for
    /// more than the budget holds (false at once).
    func reserve(_ bytes: Int, timeout: Double) -> Bool {
        let bytes = max(0, bytes)
        guard bytes <= total else { return false }
        let deadline = Date(timeIntervalSinceNow: max(0, timeout))
        condition.lock()
        defer { condition.unlock() }
        let generation = interruptions
        while reserved + bytes > total {
            let signalled = condition.wait(until: deadline)
            if interruptions != generation { return false }
            if !signalled && reserved + bytes > total { return false }
        }
        reserved += bytes
        peak = max(peak, reserved)
        return true
    }

    /// Gives back what `reserve` took; wakes the waiters.
    func release(_ bytes: Int) {
        condition.lock()
        reserved = max(0, reserved - max(0, bytes))
        condition.broadcast()
        condition.unlock()
    }

    /// Wakes every `reserve` that waits (shutdown): they answer false.
    func interrupt() {
        condition.lock()
        interruptions += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Bytes reserved now.
    var reservedBytes: Int { condition.lock(); defer { condition.unlock() }; return reserved }
    /// The most bytes ever reserved at once.
    var peakReservedBytes: Int { condition.lock(); defer { condition.unlock() }; return peak }

    /// The refusal of a job whose estimate exceeds the whole budget; nil when it fits.
    func refusal(for bytes: Int) -> ResizeRefusal? {
        guard bytes > total else { return nil }
        return .outsideLimits("this resize needs about \(formatBytes(bytes)); the server's job memory budget is \(formatBytes(total)) (job_memory_budget_bytes): ask for a smaller output or a smaller input")
    }
}

extension MemoryBudget {
    /// Share of the memory limit the default budget takes; the rest is headroom for the estimates' error
    /// (they are within about 15 % of the measured peaks), the inline `scale` path, request bodies and
    /// allocator slack.
    static let automaticShare = 0.75
    /// The default budget never goes below this (room for `seam` jobs on a tiny container).
    static let automaticMinimum = 64 << 20

    /// The default: `automaticShare` of `limit` (the cgroup's or the machine's memory) less what the process
    /// holds at rest (`resident`, measured after the weights are loaded).
    static func automaticTotal(limit: Int, resident: Int) -> Int {
        max(automaticMinimum, Int(Double(limit) * automaticShare) - max(0, resident))
    }

    /// The budget for `config`: `job_memory_budget_bytes`, or when that is 0 the automatic one from the
    /// detected limit; `explanation` says where the number came from, for the start-up log.
    static func configured(_ config: ServiceConfig, resident: Int,
                           limit: MemoryLimit = MemoryLimit.detect()) -> (budget: MemoryBudget, explanation: String) {
        if config.jobMemoryBudgetBytes > 0 {
            return (MemoryBudget(total: config.jobMemoryBudgetBytes), "job_memory_budget_bytes")
        }
        let total = automaticTotal(limit: limit.bytes, resident: resident)
        return (MemoryBudget(total: total),
                "\(Int(automaticShare * 100)) % of \(formatBytes(limit.bytes)) (\(limit.source)) less \(formatBytes(resident)) resident at start")
    }
}

/// How much memory this process may use: the tightest cgroup limit on its path (v2 `memory.max`, v1
/// `memory.limit_in_bytes`), else the machine's physical memory.
struct MemoryLimit: Sendable, Equatable {
    var bytes: Int
    /// Where it came from: a file path or "physical memory".
    var source: String

    /// cgroup v2 `memory.max`: a byte count, or "max" (no limit: nil). Anything else is nil too.
    static func parseCgroupV2(_ text: String) -> Int? {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard value != "max", let bytes = Int(value), bytes > 0 else { return nil }
        return bytes
    }

    /// cgroup v1 `memory.limit_in_bytes`: a byte count; "no limit" is a huge number (PAGE_COUNTER_MAX
    /// pages, 9223372036854771712 on x86-64), so anything from 2^60 on counts as none (nil).
    static func parseCgroupV1(_ text: String) -> Int? {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Int(value), bytes > 0, bytes < 1 << 60 else { return nil }
        return bytes
    }

    /// The limit files that apply to a process, from the text of `/proc/self/cgroup`: for cgroup v2
    /// (`0::/path`) `memory.max` of its cgroup and every ancestor under `root`; for v1
    /// (`N:…memory…:/path`) `memory/…/memory.limit_in_bytes` likewise. Inside a container the path is
    /// usually `/`, which gives the namespace's own root.
    static func candidateFiles(procSelfCgroup: String, root: String = "/sys/fs/cgroup") -> [(path: String, version: Int)] {
        var files: [(String, Int)] = []
        func ancestors(_ path: String) -> [String] {
            var parts = path.split(separator: "/").map(String.init)
            var result: [String] = []
            while true {
                result.append(parts.isEmpty ? "" : "/" + parts.joined(separator: "/"))
                if parts.isEmpty { break }
                parts.removeLast()
            }
            return result
        }
        for line in procSelfCgroup.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                for dir in ancestors(path) { files.append((root + dir + "/memory.max", 2)) }
            } else if fields[1].split(separator: ",").contains("memory") {
                for dir in ancestors(path) { files.append((root + "/memory" + dir + "/memory.limit_in_bytes", 1)) }
            }
        }
        return files
    }

    /// The tightest limit among `candidateFiles` that exist, capped by `physical`.
    static func detect(procSelfCgroup: String? = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
                       root: String = "/sys/fs/cgroup", physical: Int = physicalMemory()) -> MemoryLimit {
        var best = MemoryLimit(bytes: physical, source: "physical memory")
        let files = candidateFiles(procSelfCgroup: procSelfCgroup ?? "0::/", root: root)
        for (path, version) in files {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            guard let bytes = version == 2 ? parseCgroupV2(text) : parseCgroupV1(text) else { continue }
            if bytes < best.bytes { best = MemoryLimit(bytes: bytes, source: path) }
        }
        return best
    }

    static func physicalMemory() -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? pages * size : 1 << 32
    }
}
