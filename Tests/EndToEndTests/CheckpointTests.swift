import Foundation
import XCTest

/// Issue 12, items 1 and 2, with real processes: checkpoints of the whole cluster taken and restored over
/// the bus during a replay of the default 4-hart Linux guest (auto power-off), and their bad input.
final class CheckpointTests: XCTestCase {
    private func guest() throws -> [String] {
        try Harness.linuxGuest() + ["--append", "console=ttyS0 earlycon rrvm_poweroff=1"]
    }

    /// A recording of the 4-hart Linux guest from power-on to its automatic power-off (about 1 s), shared.
    private static var recording: (log: String, console: String)?

    private func linuxLog() throws -> (log: String, console: String) {
        if let recording = Self.recording { return recording }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-checkpoints-\(getpid()).log").path
        let run = try RRCtlRun(["up", "--record", log, "--force"] + (try guest()))
        XCTAssertEqual(run.wait(seconds: 240), 0, run.errors)
        Self.recording = (log, run.output)
        return (log, run.output)
    }

    override class func tearDown() {
        if let log = recording?.log { try? FileManager.default.removeItem(atPath: log) }
    }

    /// 20 seeded points: checkpoint at G1, run to G2, restore, run to G2 again; every state hash (harts,
    /// devices, the sequencer with its log position), RAM and the console output produced identical. The
    /// console the user sees is the recording's, each byte once, though the replay went back 20 times.
    func testTwentyRoundTripsOfAFourHartLinuxReplayAreIdentical() throws {
        let (log, console) = try linuxLog()
        let replay = try RRCtlRun(["replay", log, "--verify-checkpoints", "20", "--seed", "12"])
        XCTAssertEqual(replay.wait(seconds: 120), 0, replay.errors)
        let rounds = replay.errors.split(separator: "\n").filter { $0.hasPrefix("rrvm-sequencer: round trip") }
        XCTAssertEqual(rounds.count, 20, replay.errors)
        XCTAssertTrue(rounds.allSatisfy { $0.contains("again: identical") }, replay.errors)
        XCTAssertTrue(replay.errors.contains("20 checkpoint round trips identical"), replay.errors)
        XCTAssertTrue(rounds.contains { $0.contains("console bytes") && !$0.contains(" 0 console bytes") },
                      "some rounds are past console output:\n\(replay.errors)")
        // After the rounds the replay goes on to the end: the console shown is the recording's, each byte once, and
        // the replay says it matched.
        XCTAssertEqual(replay.output, console, "console after going back 20 times")
        XCTAssertTrue(replay.errors.contains("20 checkpoint round trips identical, and it matched the recording"), replay.errors)
        XCTAssertTrue(replay.leftoversOnceGone().isEmpty)
    }

    /// Guests that break the fence rules, recorded and replayed with checkpoint round trips: stale-tlb reads
    /// and writes through a translation whose PTE it changed without SFENCE.VMA; in stale-code hart 1 rewrites
    /// code hart 0 ran, and hart 0 runs it again without FENCE.I. Each round is identical after its restore
    /// (the harts' TLB entries and decoded code are part of the checkpoint; emptied, the replay would see the
    /// new translation and code where the recording saw the old).
    func testGuestsBreakingTheFenceRulesReplayIdenticallyThroughCheckpointRoundTrips() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-fence-rules-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, harts, stale) in [("stale-tlb", 1, "stale-tlb: 200000 loads through the old translation, 0 through the new"),
                                     ("stale-code", 2, "stale-code: 200000 calls ran the old code, 0 the new")] {
            let log = directory.appendingPathComponent("\(name).log").path
            let record = try RRCtlRun(["up", "--smp", String(harts), "--bios", "none", "--kernel", try Harness.guest(name),
                                       "--record", log])
            XCTAssertEqual(record.wait(seconds: 120), 0, record.errors)
            XCTAssertTrue(record.output.contains(stale) && record.output.contains("PASS \(name)"), record.output)
            let replay = try RRCtlRun(["replay", log, "--verify-checkpoints", "10", "--seed", "3"])
            XCTAssertEqual(replay.wait(seconds: 120), 0, "\(name): \(replay.errors)")
            XCTAssertTrue(replay.errors.contains("10 checkpoint round trips identical"), "\(name): \(replay.errors)")
            XCTAssertTrue(replay.leftoversOnceGone().isEmpty)
        }
    }

    /// Automatic checkpoints within a budget: the replay still matches the recording, console included.
    func testAutomaticCheckpointsLeaveTheReplayAsRecorded() throws {
        let (log, console) = try linuxLog()
        let replay = try RRCtlRun(["replay", log, "--checkpoint-budget", "64M", "--checkpoint-interval", "10000000"],
                                  environment: ["RRVM_STATS": "1"])
        XCTAssertEqual(replay.wait(seconds: 120), 0, replay.errors)
        XCTAssertEqual(replay.output, console)
        XCTAssertTrue(replay.errors.contains("automatic checkpoints"), replay.errors)
    }

    /// A hart process killed while the replay goes back and forth: one line naming it, nothing left behind.
    func testAHartKilledDuringRoundTripsEndsTheReplayInOneLine() throws {
        let (log, _) = try linuxLog()
        let replay = try RRCtlRun(["replay", log, "--verify-checkpoints", "20"])
        let deadline = Date().addingTimeInterval(60)
        while !replay.errors.contains("round trip 2/") && replay.process.isRunning && Date() < deadline { usleep(20_000) }
        guard let hart = Processes.find(["rrvm-hart", "--parent-pid\u{0}\(replay.pid)\u{0}", "--hart\u{0}1\u{0}"]) else {
            return XCTFail("no hart 1 process: \(replay.errors)")
        }
        kill(hart, SIGKILL)
        XCTAssertNotEqual(replay.wait(seconds: 60), 0)
        // Leaving out the progress lines (the last line may name the round trip the hart died in).
        let lines = replay.errors.split(separator: "\n").filter { !$0.hasPrefix("rrvm-sequencer: round trip") }
        XCTAssertEqual(lines.count, 1, replay.errors)
        XCTAssertTrue(lines.first?.contains("hart 1") ?? false, replay.errors)
        XCTAssertTrue(replay.leftoversOnceGone().isEmpty)
    }

    func testABudgetTooSmallForOneCheckpointIsOneClearLine() throws {
        let (log, _) = try linuxLog()
        let replay = try RRCtlRun(["replay", log, "--checkpoint-budget", "1M"])
        XCTAssertNotEqual(replay.wait(seconds: 60), 0)
        let lines = replay.errors.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, replay.errors)
        XCTAssertTrue(replay.errors.contains("cannot hold one checkpoint"), replay.errors)
        XCTAssertTrue(replay.leftoversOnceGone().isEmpty)

        let bad = try RRCtlRun(["replay", log, "--checkpoint-budget", "lots"])
        XCTAssertNotEqual(bad.wait(seconds: 30), 0)
        XCTAssertTrue(bad.errors.contains("not a size"), bad.errors)
    }
}
