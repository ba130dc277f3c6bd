import CLibUV
import Foundation
@testable import RRBus
import RRTestSupport
import XCTest

/// The shared-memory lane's rings, both sides mapped in this process as the sequencer and a peer would.
final class SharedLaneTests: XCTestCase {
    private var directory: String!
    /// The sequencer's doorbell, beside the lanes.
    private var bell: SequencerBell!

    override func setUpWithError() throws {
        directory = try makeScratchDirectory("rrvm-lane")
        bell = try SequencerBell.create(path: directory + "/bell")
    }

    override func tearDown() {
        bell = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testFramesCrossTheRingInOrderAcrossItsWrapPoint() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
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
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
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
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
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

    /// The sequencer sleeps for all its lanes and is woken through one: awake again, it withdraws its request on the
    /// others, whose producers then write without ringing; before it sleeps again it asks anew, and is rung.
    func testAConsumerAwakeAgainIsNotRungUntilItAsksAgain() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        let peer = try SharedLane.open(path: directory + "/lane")
        XCTAssertTrue(sequencer.incoming.consumerWillSleep())
        sequencer.incoming.consumerIsAwake()
        XCTAssertEqual(try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try peer.outgoing.write($0) }, 10)
        XCTAssertFalse(peer.outgoing.consumerNeedsWaking(), "an awake consumer needs no doorbell")
        var decoder = FrameDecoder()
        XCTAssertEqual(try sequencer.incoming.drain(into: &decoder), 10)
        XCTAssertTrue(sequencer.incoming.consumerWillSleep())
        XCTAssertEqual(try [UInt8](repeating: 2, count: 10).withUnsafeBytes { try peer.outgoing.write($0) }, 10)
        XCTAssertTrue(peer.outgoing.consumerNeedsWaking(), "asked again before sleeping: rung")
    }

    func testCorruptCountersAreAnErrorNotAWildCopy() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
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

    /// A broken consumer that claims to have read more than was written is an error for the producer too, when it next
    /// looks at that count (the ring seems full).
    func testAConsumerCountPastTheWrittenIsAnErrorForTheProducer() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        let peer = try SharedLane.open(path: directory + "/lane")
        let frame = [UInt8](repeating: 7, count: 3000)
        XCTAssertEqual(try frame.withUnsafeBytes { try peer.outgoing.write($0) }, 3000)
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: directory + "/lane"))
        try file.seek(toOffset: UInt64(SharedLane.headerSize + 128))  // ring 0's read count
        file.write(Data([0xff, 0xff, 0, 0, 0, 0, 0, 0]))
        try file.close()
        XCTAssertThrowsError(try frame.withUnsafeBytes { try peer.outgoing.write($0) }) { error in
            XCTAssertEqual(error as? BusError, .malformedMessage("shared lane counters are inconsistent"))
        }
        withExtendedLifetime(sequencer) {}
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
        let existing = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        try withExtendedLifetime(existing) {
            XCTAssertThrowsError(try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell),
                                 "an existing file is never reused")
        }
    }

    func testTheSequencersFilesAreRemovedWithItsLaneAndItsDoorbell() throws {
        var lane: SharedLane? = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/lane"))
        _ = lane
        lane = nil
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/lane"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/bell"), "the doorbell serves the sequencer's other lanes")
        bell = nil
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/bell"))
    }

    /// A side's ring raises the other side's doorbell only; every peer rings the sequencer's one doorbell.
    func testADoorbellWakesTheOtherSideOnly() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        let peer = try SharedLane.open(path: directory + "/lane")
        let secondSequencer = try SharedLane.create(path: directory + "/lane-2", capacity: 4096, bell: bell)
        let secondPeer = try SharedLane.open(path: directory + "/lane-2")
        XCTAssertFalse(sequencer.bell.hasRung || peer.bell.hasRung || secondPeer.bell.hasRung)
        sequencer.ringPeer()
        XCTAssertTrue(peer.bell.hasRung)
        XCTAssertFalse(sequencer.bell.hasRung || secondPeer.bell.hasRung, "a side never hears its own doorbell")
        peer.bell.lower()
        secondPeer.ringPeer()
        XCTAssertTrue(sequencer.bell.hasRung && secondSequencer.bell.hasRung, "one doorbell for all the sequencer's lanes")
        XCTAssertFalse(peer.bell.hasRung)
        withExtendedLifetime(secondSequencer) {}
    }

    /// A process asleep on its doorbell (FUTEX_WAIT in another thread here) wakes when the other side rings.
    func testARingWakesASleeperOnTheOtherMapping() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        let peer = try SharedLane.open(path: directory + "/lane")
        let woken = expectation(description: "the peer wakes")
        peer.bell.lower()
        let word = UInt(bitPattern: peer.bell.word)
        Thread.detachNewThread {
            let result = rrvm_futex_wait(UnsafeMutablePointer<UInt32>(bitPattern: word), Doorbell.quiet, 10_000)
            if result == 0 || errno == EAGAIN { woken.fulfill() }
        }
        usleep(20_000)
        sequencer.ringPeer()
        wait(for: [woken], timeout: 5)
        XCTAssertTrue(peer.bell.hasRung)
    }

    /// The sequencer's doorbell must be a regular file beside the lane, with its header: a name that leaves
    /// the directory, a symlink or a foreign file in its place is refused.
    func testADoorbellThatIsNotTheSequencersIsRefused() throws {
        let sequencer = try SharedLane.create(path: directory + "/lane", capacity: 4096, bell: bell)
        try withExtendedLifetime(sequencer) {
            let file = try FileHandle(forUpdating: URL(fileURLWithPath: directory + "/lane"))
            defer { try? file.close() }
            func name(_ text: String) throws {
                try file.seek(toOffset: UInt64(SharedLane.sequencerBellNameOffset))
                var length = UInt64(text.utf8.count).littleEndian
                file.write(Data(bytes: &length, count: 8) + Data(text.utf8))
            }
            for escaping in ["../bell", "..", "/etc/passwd", ""] {
                try name(escaping)
                XCTAssertThrowsError(try SharedLane.open(path: directory + "/lane")) { error in
                    XCTAssertTrue("\(error)".contains("names no valid doorbell"), "\(escaping): \(error)")
                }
            }
            try FileManager.default.createSymbolicLink(atPath: directory + "/linked", withDestinationPath: directory + "/bell")
            try name("linked")
            XCTAssertThrowsError(try SharedLane.open(path: directory + "/lane"), "a symlink is not followed")
            XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/foreign", contents: Data(repeating: 0x41, count: 4096)))
            try name("foreign")
            XCTAssertThrowsError(try SharedLane.open(path: directory + "/lane")) { error in
                XCTAssertTrue("\(error)".contains("is not the sequencer's doorbell"), "\(error)")
            }
            try name("bell")
            XCTAssertNoThrow(try SharedLane.open(path: directory + "/lane"))
        }
    }
}
