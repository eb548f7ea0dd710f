import Engine
import Testing

/// Issue 16, item 10: the CLI's ETA comes from the measured steps, not from the time since the start (which
/// holds the set-up before the first step and made the first estimates about 4× too long).
@Suite struct StepPaceTests {
    @Test func theFirstReportOnlyStartsTheClock() {
        var pace = StepPace()
        // 8 s of set-up before the first step was reported, then 0.5 s a step.
        #expect(pace.remaining(StepProgress(step: 1, total: 20), at: 8.0) == nil)
        #expect(pace.remaining(StepProgress(step: 1, total: 20), at: 8.2) == nil)  // no step measured yet
        let eta = pace.remaining(StepProgress(step: 3, total: 20), at: 9.0)
        #expect(eta.map { abs($0 - 8.5) < 1e-9 } == true, "\(String(describing: eta))")
        // What the old estimate (elapsed × (1 − f) / f) would have said: 51 s, six times as long.
        let fraction = 3.0 / 20
        let sinceStart: Double = 9.0 * (1 - fraction) / fraction
        #expect(sinceStart >= 6 * 8.5)
        #expect(pace.remaining(StepProgress(step: 20, total: 20), at: 17.5) == nil)  // done
    }
}
