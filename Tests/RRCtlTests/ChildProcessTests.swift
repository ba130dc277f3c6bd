import Foundation
import RRBus
@testable import RRNode
import XCTest

/// Children started on loops that a process runs one after the other, as `rrctl rr` does (the recording's
/// cluster, then the replay's).
final class ChildProcessTests: XCTestCase {
    /// Each loop's child is reaped, and a released loop takes its SIGCHLD watcher with it: a watcher left open
    /// stays in libuv's process-wide table, and the next child's exit was then written through the freed loop
    /// (rrctl rr aborted in libuv's signal handler, now and then, as the replay's cluster started).
    func testSuccessiveLoopsReapTheirChildrenAndLeaveNoSignalHandlerBehind() throws {
        for round in 0..<3 {
            var exit: ChildExit?
            do {
                let loop = EventLoop()
                let child = try ChildProcess(loop: loop, name: "true", path: "/bin/true", arguments: []) { exit = $0 }
                let deadline = Date() + 30
                while exit == nil && Date() < deadline { loop.runOnce() }
                XCTAssertFalse(child.isRunning)
            }
            XCTAssertEqual(exit, .status(0), "round \(round)")
            var action = sigaction()
            XCTAssertEqual(sigaction(SIGCHLD, nil, &action), 0)
            XCTAssertNil(action.__sigaction_handler.sa_handler, "round \(round): SIGCHLD's handler is the default again")
        }
    }
}
