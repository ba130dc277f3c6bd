import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import RRBus
import RRProto
import RRTestSupport
import XCTest

/// The harts' turn board of a split cluster: the sequencer's side and a hart's, each on its own mapping of the file.
final class TurnBoardTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = try makeScratchDirectory("rrvm-turns")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Four harts in round-robin: the hart the sequencer names next keeps the CPU once the running one has ended its
    /// slice, the others rest; a hart whose Run has been sent keeps it too, whatever the board says of the next.
    func testOnlyTheHartWhoseRunIsComingKeepsTheCPU() throws {
        let sequencer = try TurnBoard.create(path: directory + "/turns", harts: 4)
        let hart = try TurnBoard.open(path: directory + "/turns", harts: 4)
        XCTAssertFalse((0..<4).contains { hart.shouldRest($0) }, "before the first slice nobody is named")
        sequencer.sliceStarts(hart: 0, next: 1)
        XCTAssertEqual(hart.expectedHart, 1)
        XCTAssertTrue(hart.runIsDue(0, runsReceived: 0), "hart 0's Run is on its way")
        XCTAssertFalse(hart.runIsDue(0, runsReceived: 1), "taken")
        XCTAssertFalse(hart.runIsDue(1, runsReceived: 0), "hart 0 is still running")
        hart.sliceEnded()
        XCTAssertTrue(hart.runIsDue(1, runsReceived: 0), "hart 0 has yielded: hart 1 is next")
        XCTAssertFalse(hart.runIsDue(2, runsReceived: 0) || hart.runIsDue(0, runsReceived: 1))
        XCTAssertEqual((0..<4).filter { hart.shouldRest($0) }, [0, 2, 3])
        sequencer.sliceStarts(hart: 1, next: 2)
        XCTAssertTrue(hart.runIsDue(1, runsReceived: 0))
        XCTAssertFalse(hart.runIsDue(2, runsReceived: 0), "hart 1 has not yielded yet")
        XCTAssertEqual((0..<4).filter { hart.shouldRest($0) }, [0, 1, 3], "hart 1 asks runIsDue first")
        sequencer.sliceStarts(hart: 1, next: nil)
        XCTAssertNil(hart.expectedHart)
        XCTAssertFalse((0..<4).contains { hart.shouldRest($0) }, "a hart alone names nobody")
    }

    /// A hart's slice that ends wakes the hart named next if it rests, and only then.
    func testAWakeRingsARestingHartOnly() throws {
        let loop = EventLoop()
        let sequencer = try TurnBoard.create(path: directory + "/turns", harts: 2)
        let board = try TurnBoard.open(path: directory + "/turns", harts: 2)
        withExtendedLifetime(sequencer) {
            board.wake(1)
            XCTAssertFalse(board.doorbell(1).hasRung, "hart 1 does not rest: no ring")
            board.beginRest(1, on: loop)
            XCTAssertEqual(loop.restingDoorbell?.word, board.doorbell(1).word, "its loop's sleeps end on a ring")
            board.wake(1)
            XCTAssertTrue(board.doorbell(1).hasRung)
            board.beginRest(1, on: loop)
            board.endRest(1, on: loop)
            XCTAssertNil(loop.restingDoorbell)
            board.wake(1)
            XCTAssertFalse(board.doorbell(1).hasRung, "awake again: no ring")
        }
    }

    /// The board is a regular file of the sequencer's making: a symlink, a file of another size or of another kind
    /// is refused, as is a hart index off the board; the sequencer's file goes with it.
    func testAForeignBoardIsRefused() throws {
        XCTAssertThrowsError(try TurnBoard.open(path: directory + "/missing", harts: 4))
        var board: TurnBoard? = try TurnBoard.create(path: directory + "/turns", harts: 4)
        XCTAssertThrowsError(try TurnBoard.create(path: directory + "/turns", harts: 4), "an existing file is not reused")
        try FileManager.default.createSymbolicLink(atPath: directory + "/linked", withDestinationPath: directory + "/turns")
        XCTAssertThrowsError(try TurnBoard.open(path: directory + "/linked", harts: 4), "a symlink is not followed")
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/short", contents: Data(count: 100)))
        XCTAssertThrowsError(try TurnBoard.open(path: directory + "/short", harts: 4)) { error in
            XCTAssertTrue("\(error)".contains("is not a version 1 turn board"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/foreign", contents: Data(repeating: 0x41, count: 4096)))
        XCTAssertThrowsError(try TurnBoard.open(path: directory + "/foreign", harts: 4)) { error in
            XCTAssertTrue("\(error)".contains("is not a version"), "\(error)")
        }
        XCTAssertThrowsError(try TurnBoard.open(path: directory + "/turns", harts: TurnBoard.capacity + 1))
        XCTAssertNoThrow(try TurnBoard.open(path: directory + "/turns", harts: 4))
        XCTAssertEqual(board?.path, directory + "/turns")
        board = nil
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/turns"), "removed with the sequencer's board")
    }
}

/// A loop with a shared lane, resting on the board, sleeps until its hart is woken (the real hub: an rrvm-sequencer).
final class RestingLoopTests: XCTestCase {
    func testARestingLoopWakesWhenTheHartBeforeItEndsItsSlice() throws {
        let hub = try HubFixture()
        defer { hub.stop() }
        let loop = EventLoop()
        var lane: Connection?
        join(loop: loop, address: hub.directory.busAddress, role: .hart, index: 0, credentials: try hub.directory.credentials(),
             name: "hart", sharedLane: true) { result in lane = try? result.get().0 }
        loop.run(seconds: 10) { lane != nil }
        let connection = try XCTUnwrap(lane)
        connection.onEnvelope { _ in }
        XCTAssertNotNil(connection.sharedLanePath, "the loop sleeps on its lane's doorbell")
        let path = hub.directory.path + "/test-turns"
        let sequencer = try TurnBoard.create(path: path, harts: 2)
        let resting = try TurnBoard.open(path: path, harts: 2)
        let waker = try TurnBoard.open(path: path, harts: 2)
        loop.run(seconds: 0.2) { false }  // the join's loose ends
        // A timer ends the sleep anyway after 5 s: a wake-up that is not heard shows as the time the sleep took.
        let fallback = LoopTimer(loop: loop)
        fallback.start(milliseconds: 5_000) {}
        resting.beginRest(1, on: loop)
        let rang = Flag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) {
            waker.wake(1)
            rang.set()
        }
        let start = Date()
        while !rang.isSet && Date().timeIntervalSince(start) < 10 { loop.runOnce() }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "woken by the ring, not the timer")
        resting.endRest(1, on: loop)
        withExtendedLifetime((sequencer, fallback)) {}
    }
}

/// A flag another thread sets.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// A hart's choices while it waits for its next Run (`TurnTaker`), each hart on its own loop and mapping of the board.
final class TurnTakerTests: XCTestCase {
    private var directory: String!
    private var sequencer: TurnBoard!
    private var loops: [EventLoop] = []
    private var takers: [TurnTaker] = []

    override func setUpWithError() throws {
        directory = try makeScratchDirectory("rrvm-taker")
        sequencer = try TurnBoard.create(path: directory + "/turns", harts: 3)
        loops = (0..<3).map { _ in EventLoop() }
        takers = try (0..<3).map { TurnTaker(board: try TurnBoard.open(path: directory + "/turns", harts: 3), hart: $0, loop: loops[$0]) }
    }

    override func tearDown() {
        takers = []
        loops = []
        sequencer = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Hart 0 runs and yields; hart 1 is named next. Hart 0 looks once more (its yield of the CPU comes after that
    /// look), then rests; hart 2 rests at once; hart 1 keeps the CPU (polls without yielding it) as its Run is due.
    func testOnlyTheNamedHartKeepsTheCPUTheOthersRest() {
        sequencer.sliceStarts(hart: 0, next: 1)
        takers[0].runArrived(loop: loops[0])
        takers[0].sliceEnded(loop: loops[0])
        XCTAssertEqual(takers[0].nextStep(now: 0, waitedLong: false, loop: loops[0]), .poll, "its first look after its Yield")
        XCTAssertTrue(loops[0].yieldsWhilePolling)
        loops[0].yieldCPU()
        XCTAssertEqual(takers[0].nextStep(now: 0, waitedLong: false, loop: loops[0]), .rest)
        XCTAssertNotNil(loops[0].restingDoorbell)
        XCTAssertEqual(takers[2].nextStep(now: 0, waitedLong: false, loop: loops[2]), .poll, "its first look: it has not let the CPU go")
        loops[2].yieldCPU()
        XCTAssertEqual(takers[2].nextStep(now: 0, waitedLong: false, loop: loops[2]), .rest)
        XCTAssertEqual(takers[1].nextStep(now: 0, waitedLong: false, loop: loops[1]), .poll)
        XCTAssertFalse(loops[1].yieldsWhilePolling, "hart 1's Run is due: it keeps the CPU")
        XCTAssertTrue(takers[0].wakeUp(loop: loops[0]))
        XCTAssertNil(loops[0].restingDoorbell)
        XCTAssertFalse(takers[0].wakeUp(loop: loops[0]), "awake already")
    }

    /// A due Run is polled for without yielding only for a while; then, the sequencer held (a debugger), the hart
    /// waits as any other: it polls, yielding the CPU, and rests once it has waited long.
    func testADueRunKeepsTheCPUOnlyForAWhile() {
        sequencer.sliceStarts(hart: 0, next: 1)
        takers[0].sliceEnded(loop: loops[0])
        let spin = TurnTaker.dueSpinNanoseconds
        XCTAssertEqual(takers[1].nextStep(now: 1_000, waitedLong: false, loop: loops[1]), .poll)
        XCTAssertFalse(loops[1].yieldsWhilePolling)
        XCTAssertEqual(takers[1].nextStep(now: 1_000 + spin, waitedLong: false, loop: loops[1]), .poll)
        XCTAssertFalse(loops[1].yieldsWhilePolling)
        XCTAssertEqual(takers[1].nextStep(now: 2_000 + spin, waitedLong: false, loop: loops[1]), .poll)
        XCTAssertTrue(loops[1].yieldsWhilePolling, "past the spin it lets the CPU go")
        XCTAssertEqual(takers[1].nextStep(now: 3_000 + spin, waitedLong: true, loop: loops[1]), .rest)
        // Its Run sent, it is due again, whatever the board names next.
        XCTAssertTrue(takers[1].wakeUp(loop: loops[1]))
        sequencer.sliceStarts(hart: 1, next: 2)
        XCTAssertEqual(takers[1].nextStep(now: 4_000 + spin, waitedLong: true, loop: loops[1]), .poll)
        XCTAssertFalse(loops[1].yieldsWhilePolling)
    }

    /// The hart whose slice ends wakes the hart named after it, if that one rests, as it lets the CPU go.
    func testTheHartWhoseSliceEndsWakesTheNextAsItYieldsTheCPU() throws {
        let watcher = try TurnBoard.open(path: directory + "/turns", harts: 3)
        // Hart 1's slice, then hart 0's, which names hart 1 next; hart 1 has waited long and rests.
        sequencer.sliceStarts(hart: 1, next: 0)
        takers[1].runArrived(loop: loops[1])
        takers[1].sliceEnded(loop: loops[1])
        loops[1].yieldCPU()
        sequencer.sliceStarts(hart: 0, next: 1)
        takers[0].runArrived(loop: loops[0])
        XCTAssertEqual(takers[1].nextStep(now: 0, waitedLong: true, loop: loops[1]), .rest)
        takers[0].sliceEnded(loop: loops[0])
        XCTAssertFalse(watcher.doorbell(1).hasRung, "not before hart 0 lets the CPU go")
        loops[0].yieldCPU()
        XCTAssertTrue(watcher.doorbell(1).hasRung)
        watcher.doorbell(1).lower()
        loops[0].yieldCPU()
        XCTAssertFalse(watcher.doorbell(1).hasRung, "once")
    }
}
