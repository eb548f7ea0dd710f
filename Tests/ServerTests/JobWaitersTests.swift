import Synchronization
import Testing
@testable import Server

/// A submission still being checked when a shutdown released the waiters (the result cache's hash of a large
/// upload widened that window, and FaultInjectionTests' SIGTERM test caught it: the request got no answer
/// until the grace period closed its connection) is answered at once, with its 202.
@Suite struct JobWaitersTests {
    @Test func aWaiterAfterReleaseAllIsAnsweredAtOnce() {
        let waiters = JobWaiters()
        let answers = Mutex<[Bool]>([])
        waiters.wait(for: "a", timeout: 60) { finished in answers.withLock { $0.append(finished) } }
        waiters.releaseAll()
        #expect(answers.withLock { $0 } == [false])
        waiters.wait(for: "b", timeout: 60) { finished in answers.withLock { $0.append(finished) } }
        #expect(answers.withLock { $0 } == [false, false])
        #expect(waiters.count == 0)
    }
}
