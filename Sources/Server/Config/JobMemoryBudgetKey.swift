extension ServiceConfig {
    /// The smallest budget that may be set explicitly: a budget that cannot hold even a small seam job
    /// refuses everything.
    static let minimumJobMemoryBudget = 16 << 20

    /// `job_memory_budget_bytes`: an integer, 0 (the default, shown as "auto": `MemoryBudget.automaticTotal`
    /// of the detected limit) or 16 MiB … 1 PiB. A job waits in the queue until its estimate fits next to
    /// the running ones; one larger than the whole budget gets 422 at submission.
    static let jobMemoryBudgetKey = SettingKey(
        name: "job_memory_budget_bytes", kind: .int,
        help: "bytes the running jobs may reserve together by their estimated peaks (0 = auto: 75% of the memory limit less the resident size at start)",
        get: { $0.jobMemoryBudgetBytes == 0 ? "auto" : String($0.jobMemoryBudgetBytes) },
        set: { config, raw in
            let value: Int?
            switch raw {
            case .int(let i): value = i
            case .double(let d): value = d.rounded() == d && abs(d) < 1e18 ? Int(d) : nil
            case .string(let s): value = Int(s)
            case .bool: value = nil
            }
            guard let value else { throw ConfigurationError("job_memory_budget_bytes: '\(raw.text)' is not an integer number of bytes") }
            guard value == 0 || (minimumJobMemoryBudget...(1 << 50)).contains(value) else {
                throw ConfigurationError("job_memory_budget_bytes: \(value) is outside \(minimumJobMemoryBudget)…\(1 << 50) (or 0 for auto)")
            }
            config.jobMemoryBudgetBytes = value
        })
}
