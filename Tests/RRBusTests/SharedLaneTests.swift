import Foundation
@testable import RRBus
import XCTest

/// The shared-memory lane's rings, both sides mapped in this process as the sequencer and a peer would.
final class SharedLaneTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "rrvm-lane-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testFramesCrossTheRingInOrderAcrossItsWrapPoint() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        let peer = try SharedLane.open(path: directory + "/lane")
        var decoder = FrameDecoder()
        var received: [[UInt8]] = []
        // 40 frames of 1,000 bytes through a 4 KiB ring: it wraps about ten times.
        for index in 0..<40 {
            let frame = FrameCodec.encode([UInt8](repeating: UInt8(index), count: 1000))
            XCTAssertEqual(try frame.withUnsafeBytes { try peer.outgoing.write($0) }, frame.count)
            XCTAssertEqual(try sequencer.incoming.drain(into: &decoder), frame.count)
            while let payload = try decoder.next() { received.append(payload) }
        }
        XCTAssertEqual(received, (0..<40).map { [UInt8](repeating: UInt8($0), count: 1000) })
        XCTAssertEqual(try sequencer.incoming.drain(into: &decoder), 0, "nothing is delivered twice")
    }

    func testAFullRingTakesWhatFitsAndTheWaitingProducerIsWokenOnce() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        let peer = try SharedLane.open(path: directory + "/lane")
        let bytes = [UInt8](repeating: 7, count: 6000)
        XCTAssertEqual(try bytes.withUnsafeBytes { try sequencer.outgoing.write($0) }, 4096)
        XCTAssertEqual(try bytes.withUnsafeBytes { try sequencer.outgoing.write($0) }, 0)
        XCTAssertTrue(sequencer.outgoing.producerWillWait(), "full: the producer waits for a doorbell")

        var decoder = FrameDecoder()
        XCTAssertEqual(try peer.incoming.drain(into: &decoder), 4096)
        XCTAssertTrue(peer.incoming.producerNeedsWaking())
        XCTAssertFalse(peer.incoming.producerNeedsWaking(), "one doorbell per wait")
        XCTAssertFalse(sequencer.outgoing.producerWillWait(), "space again: write instead of waiting")
    }

    func testAConsumerAboutToSleepIsRungExactlyOnceAndNeverMissesBytes() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        let peer = try SharedLane.open(path: directory + "/lane")
        // A new lane's first frames for the peer come with a doorbell: it has not looked yet.
        XCTAssertTrue(sequencer.outgoing.consumerNeedsWaking())
        XCTAssertFalse(sequencer.outgoing.consumerNeedsWaking())

        XCTAssertTrue(sequencer.incoming.consumerWillSleep())
        XCTAssertEqual(try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try peer.outgoing.write($0) }, 10)
        XCTAssertTrue(peer.outgoing.consumerNeedsWaking())
        XCTAssertFalse(peer.outgoing.consumerNeedsWaking())
        // Bytes that are there already: the consumer must not sleep.
        XCTAssertFalse(sequencer.incoming.consumerWillSleep())
        XCTAssertFalse(peer.outgoing.consumerNeedsWaking(), "a consumer that stayed awake needs no doorbell")
    }

    func testCorruptCountersAreAnErrorNotAWildCopy() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        // A broken peer claims to have written more than the ring holds.
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: directory + "/lane"))
        try file.seek(toOffset: UInt64(SharedLane.headerSize))
        file.write(Data([0, 0, 1, 0, 0, 0, 0, 0]))
        try file.close()
        var decoder = FrameDecoder()
        XCTAssertThrowsError(try sequencer.incoming.drain(into: &decoder)) { error in
            XCTAssertEqual(error as? BusError, .malformedMessage("shared lane counters are inconsistent"))
        }
    }

    func testForeignAndMissingFilesAreRefusedClearly() throws {
        let foreign = directory + "/foreign"
        XCTAssertTrue(FileManager.default.createFile(atPath: foreign, contents: Data(repeating: 0x41, count: 8192)))
        XCTAssertThrowsError(try SharedLane.open(path: foreign)) { error in
            XCTAssertEqual(error as? BusError, .malformedMessage("\(foreign) is not a version \(SharedLane.formatVersion) shared lane"))
        }
        XCTAssertThrowsError(try SharedLane.open(path: directory + "/missing")) { error in
            XCTAssertTrue("\(error)".contains("No such file"), "\(error)")
        }
        let existing = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        try withExtendedLifetime(existing) {
            XCTAssertThrowsError(try SharedLane.create(path: directory + "/lane", capacity: 4096),
                                 "an existing file is never reused")
        }
    }

    func testTheSequencersFilesAreRemovedWithItsLane() throws {
        var lane: SharedLane? = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        for name in ["/lane", "/lane.bell-sequencer", "/lane.bell-peer"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory + name), name)
        }
        _ = lane
        lane = nil
        for name in ["/lane", "/lane.bell-sequencer", "/lane.bell-peer"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: directory + name), name)
        }
    }

    /// Each side's doorbell rings the other side's pipe only; taking the rings empties it.
    func testADoorbellWakesTheOtherSideOnly() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        let peer = try SharedLane.open(path: directory + "/lane")
        func rung(_ lane: SharedLane) -> Bool {
            var watched = pollfd(fd: lane.bell, events: Int16(POLLIN), revents: 0)
            return poll(&watched, 1, 0) == 1
        }
        XCTAssertFalse(rung(sequencer) || rung(peer))
        for _ in 0..<3 { sequencer.ringPeer() }
        XCTAssertTrue(rung(peer))
        XCTAssertFalse(rung(sequencer), "a side never hears its own doorbell")
        peer.takeRings()
        XCTAssertFalse(rung(peer), "all rings are taken at once")
        peer.ringPeer()
        XCTAssertTrue(rung(sequencer))
    }

    /// The doorbells must be the pipes the sequencer made: a symlink or a file in their place is refused.
    func testADoorbellThatIsNotAPipeIsRefused() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096)
        try withExtendedLifetime(sequencer) {
            unlink(directory + "/lane.bell-peer")
            try FileManager.default.createSymbolicLink(atPath: directory + "/lane.bell-peer", withDestinationPath: directory + "/lane.bell-sequencer")
            XCTAssertThrowsError(try SharedLane.open(path: directory + "/lane")) { error in
                XCTAssertTrue("\(error)".contains("cannot open the doorbells"), "\(error)")
            }
            unlink(directory + "/lane.bell-peer")
            XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/lane.bell-peer", contents: Data()))
            XCTAssertThrowsError(try SharedLane.open(path: directory + "/lane"))
        }
    }
}
