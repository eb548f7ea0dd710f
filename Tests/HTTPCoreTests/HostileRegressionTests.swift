import Dispatch
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import HTTPCore

/// Found by Tests/ServerTests/HostileClientTests: connections ran on the same libdispatch pool threads as
/// CPU-bound work elsewhere in the process (the service's inline resizing), so two long resizes on a
/// 2-core machine stopped every connection, /healthz included, for seconds. Connections now run on serial
/// overcommit "lanes" that get threads of their own.
@Suite struct IOStarvationTests {
    private final class Stop: Sendable { let flag = Atomic<Bool>(false) }

    @Test func busyDispatchPoolDoesNotStopTheServer() throws {
        try withServer { _, port in
            let stop = Stop()
            let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            // Occupy every thread the default pool will give (it adds threads for blocked work, not busy work).
            for _ in 0..<(2 * cores) {
                DispatchQueue.global().async { while !stop.flag.load(ordering: .relaxed) {} }
            }
            defer { stop.flag.store(true, ordering: .relaxed) }
            usleep(100_000)
            var slowest = 0.0
            for _ in 0..<10 {
                let started = monotonicSeconds()
                let client = try RawClient(port: port, receiveTimeout: 3)
                try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try client.readResponse().status == 200)
                slowest = max(slowest, monotonicSeconds() - started)
            }
            #expect(slowest < 0.5, "a request took \(slowest) s while the default pool was busy")
        }
    }
}
