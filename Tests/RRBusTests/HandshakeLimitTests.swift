import Foundation
import RRBus
import RRProto
import XCTest

/// Peers that connect to a real sequencer (rrvm-sequencer) but do not introduce themselves: they must
/// cost it little memory, few connections and only a few seconds, and never stop the run.
final class HandshakeLimitTests: XCTestCase {
    private var hub: HubFixture!
    private let loop = EventLoop()

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN) // writing on to a stranger's connection the hub has dropped
        hub = try HubFixture()
    }
    override func tearDown() { hub?.stop() }

    /// A raw connection to the hub; `closed` is set when the hub drops it.
    private func stranger() -> (connection: Connection?, closed: () -> Bool) {
        var connection: Connection?
        var closed = false
        connect(loop: loop, to: hub.directory.busAddress, name: "stranger") { result in
            connection = try? result.get()
            connection?.onFrame = { _ in }
            connection?.onClose = { _ in closed = true }
        }
        loop.run(seconds: 5) { connection != nil }
        return (connection, { closed })
    }

    private func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    func testPartialFrameBeforeHelloIsCutOffAtItsLength() throws {
        let before = residentKiB(hub.pid)
        var peers: [(Connection?, () -> Bool)] = []
        for _ in 0..<8 {
            let peer = stranger()
            // Announces a 16 MiB frame (allowed between members) and starts sending it.
            peer.connection?.sendUnframed([0x00, 0x00, 0x00, 0x01] + [UInt8](repeating: 0x5A, count: 2 << 20))
            peers.append(peer)
        }
        loop.run(seconds: 5) { peers.allSatisfy { $0.1() } }
        XCTAssertTrue(peers.allSatisfy { $0.1() }, "each stranger is dropped as soon as its length arrives")
        XCTAssertLessThan(residentKiB(hub.pid) - before, 8 << 10, "the hub did not buffer the strangers' 16 MiB")
        XCTAssertTrue(hub.isRunning)
    }

    func testSilentPeerIsDroppedAtTheHandshakeDeadline() throws {
        let start = Date()
        let peer = stranger()
        XCTAssertNotNil(peer.connection)
        loop.run(seconds: 10) { peer.closed() }
        XCTAssertTrue(peer.closed(), "a peer that never says Hello is dropped")
        let waited = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(waited, 3)
        XCTAssertLessThan(waited, 8)
        let errors = hub.errorOutput  // (read once: a second read waits for more output)
        XCTAssertTrue(errors.contains("no Hello within"), errors)
        XCTAssertTrue(hub.isRunning)
    }

    func testConnectionsWaitingForTheirHandshakeAreLimited() throws {
        var peers: [(connection: Connection?, closed: () -> Bool)] = []
        for _ in 0..<48 { peers.append(stranger()) }
        loop.run(seconds: 2) { peers.filter { $0.closed() }.count >= 16 }
        let dropped = peers.filter { $0.closed() }.count
        XCTAssertGreaterThanOrEqual(dropped, 16, "at most 32 strangers may wait at once")
        XCTAssertLessThanOrEqual(dropped, 16, "the first 32 may wait for their deadline")
        XCTAssertTrue(hub.isRunning)
        // Once they are gone, members join as usual.
        for peer in peers { peer.connection?.close() }
        loop.run(seconds: 0.3) { false }
        let credentials = try hub.directory.credentials()
        var welcomed = false
        join(loop: loop, address: hub.directory.busAddress, role: .hart, index: 0, credentials: credentials, name: "hart") {
            welcomed = (try? $0.get()) != nil
        }
        loop.run(seconds: 5) { welcomed }
        XCTAssertTrue(welcomed)
    }

    func testRefusalDoesNotTellTheRealClusterID() throws {
        var credentials = try hub.directory.credentials()
        let real = credentials.clusterID
        credentials.clusterID = "guess"
        var refusal: BusError?
        join(loop: loop, address: hub.directory.busAddress, role: .hart, index: 0, credentials: credentials, name: "hart") {
            if case .failure(let error) = $0 { refusal = error }
        }
        loop.run(seconds: 5) { refusal != nil }
        guard case .refused(let reason)? = refusal else { return XCTFail("not refused: \(String(describing: refusal))") }
        XCTAssertTrue(reason.contains("guess"), reason)
        XCTAssertFalse(reason.contains(real), reason)
    }
}
