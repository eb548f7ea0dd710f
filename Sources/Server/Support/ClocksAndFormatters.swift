// The service's clocks and the formatters of the numbers it shows (logs, problem details, Server-Timing,
// the CLI): one place, so every layer reads time and writes units the same way.
import Glibc

// MARK: clocks

/// Seconds on a clock that never jumps (intervals, deadlines).
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Unix seconds (what the job store records).
public func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

// MARK: formatters

/// `seconds` in milliseconds with `decimals` decimals: "12.3" (Server-Timing, the access log), "12" (the CLI).
public func formatMilliseconds(_ seconds: Double, decimals: Int = 1) -> String {
    formatDecimal(seconds * 1000, decimals: decimals)
}

/// Seconds as configuration and problem details write them: "60", "0.5"; with `decimals`, rounded to them
/// ("10.139", for logs).
public func formatSeconds(_ seconds: Double, decimals: Int? = nil) -> String {
    if let decimals { return formatDecimal(seconds, decimals: decimals) }
    return seconds.rounded() == seconds && abs(seconds) < 1e15 ? String(Int(seconds)) : String(seconds)
}

/// "2.9 GB", "350 MB", "67.1 MB", "12 kB": decimal units, as the problem details and logs show sizes.
public func formatBytes(_ bytes: Int) -> String {
    let value = Double(bytes)
    if value >= 1e9 { return String((value / 1e8).rounded() / 10) + " GB" }
    // One decimal below 100 MB: "67.1 MB" for a 64 MiB budget, not "67 MB".
    if value >= 1e8 { return String(Int((value / 1e6).rounded())) + " MB" }
    if value >= 1e6 { return String((value / 1e5).rounded() / 10) + " MB" }
    return String(Int((value / 1e3).rounded(.up))) + " kB"
}

/// "1,440,000 bytes": exact, with thousands grouped, where a rounded size could hide a difference.
public func groupedBytes(_ bytes: Int) -> String { grouped(bytes) + " bytes" }

/// "1,440,000": thousands grouped.
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var text = n < 0 ? "-" : ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { text.append(",") }
        text.append(c)
    }
    return text
}

/// A size over its limit, both as "40.1 MP" and "40 MP"; with the exact pixel counts when the rounding makes
/// them look the same ("40 MP (40,005,625 pixels)" and "40 MP (40,000,000 pixels)").
public func megapixels(_ pixels: Int, over limit: Int) -> (size: String, limit: String) {
    let (a, b) = (megapixels(pixels), megapixels(limit))
    guard a == b else { return (a + " MP", b + " MP") }
    return ("\(a) MP (\(grouped(pixels)) pixels)", "\(b) MP (\(grouped(limit)) pixels)")
}

/// "40", "0.3": megapixels to one decimal, without a trailing ".0".
public func megapixels(_ pixels: Int) -> String {
    let mp = Double(pixels) / 1_000_000
    let tenths = (mp * 10).rounded() / 10
    return tenths.rounded() == tenths ? String(Int(tenths)) : String(tenths)
}

/// 4.2e11, 4e9: large counts in problem details (as they are below 100 000).
public func scientific(_ value: Int) -> String {
    guard value >= 100_000 else { return String(value) }
    var mantissa = Double(value)
    var exponent = 0
    while mantissa >= 10 { mantissa /= 10; exponent += 1 }
    let rounded = (mantissa * 10).rounded() / 10
    return (rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)) + "e" + String(exponent)
}

/// `value` rounded to `decimals` decimals; no decimal point when `decimals` is 0.
private func formatDecimal(_ value: Double, decimals: Int) -> String {
    guard decimals > 0 else { return String(Int(value.rounded())) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    return String((value * scale).rounded() / scale)
}
