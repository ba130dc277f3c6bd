import Foundation
import XCTest

/// Reverse execution while recording (`rrctl up --record LOG --gdb PORT`, DESIGN §9): going back replays the
/// log written so far, continuing past the present records again, and the log stays one valid log that
/// replays to the same console output.
final class RecordingDebuggerTests: XCTestCase {
    private let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-recording-gdb-\(UUID().uuidString)")

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb-multiarch") else {
            throw XCTSkip("gdb-multiarch is not installed (cluster/install-deps.sh installs it)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// `rrctl replay LOG` of what the session recorded: it matches, with the console output of the live run.
    private func assertTheLogReplaysAsRecorded(_ log: String, liveOutput: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 60), 0, replay.errors, file: file, line: line)
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors, file: file, line: line)
        XCTAssertEqual(replay.output, liveOutput, "the replay shows what the live run showed", file: file, line: line)
        XCTAssertTrue(replay.leftoversOnceGone().isEmpty, file: file, line: line)
    }

    /// smp-turns (4 harts take turns writing `shared`) recorded under gdb: from turns_done, seven steps back and
    /// seven forward give the same registers; a watchpoint and reverse-continue stop on hart 3, the last writer,
    /// before its write; a seek beyond the present goes to the present; continue runs live to the end.
    func testGoingBackWhileRecordingReplaysThePastAndRecordsOnFromThePresent() throws {
        let program = try Harness.guest("smp-turns")
        let log = directory.appendingPathComponent("turns.log").path
        let session = try DebugSession(arguments: ["up", "--smp", "4", "--bios", "none", "--kernel", program, "--record", log])
        let transcript = try session.gdb(program: program, commands: [
            "break turns_done", "continue", "delete",
            "echo ==before==\\n", "info registers",
            "reverse-stepi 7",
            "echo ==back==\\n", "info registers pc",
            "stepi 7",
            "echo ==after==\\n", "info registers", "echo ==end==\\n",
            "watch shared", "reverse-continue", "print $_thread", "print shared", "delete",
            "monitor seek 999999999999", "monitor when",
            "continue",
        ])
        func section(_ name: String, _ next: String) -> String {
            guard let start = transcript.range(of: "==\(name)==\n"),
                  let end = transcript.range(of: "==\(next)==", range: start.upperBound..<transcript.endIndex) else { return "" }
            return transcript[start.upperBound..<end.lowerBound].components(separatedBy: "\n")
                .filter { $0.range(of: #"^[a-z0-9]+ +0x"#, options: .regularExpression) != nil }.joined(separator: "\n")
        }
        let before = section("before", "back"), after = section("after", "end")
        XCTAssertTrue(before.contains("ra ") && before.contains("t6 "), transcript)
        XCTAssertEqual(before, after, "seven steps back and seven forward: \(transcript)")
        XCTAssertNotEqual(before.components(separatedBy: "\n").first { $0.hasPrefix("pc ") },
                          section("back", "after").components(separatedBy: "\n").first { $0.hasPrefix("pc ") },
                          "the steps back moved the pc: \(transcript)")
        XCTAssertTrue(transcript.contains("Thread 4 \"hart 3\" hit Hardware watchpoint 2: shared"), transcript)
        XCTAssertTrue(transcript.contains("Old value = 4867\nNew value = 4866"), transcript)
        XCTAssertTrue(transcript.contains("$1 = 4") && transcript.contains("$2 = 4866"), "on hart 3, before its write: \(transcript)")
        XCTAssertTrue(transcript.contains("is beyond the present of the recording"), transcript)
        XCTAssertTrue(transcript.range(of: #"rrvm: at G=(\d+)\nG=\1\n"#, options: .regularExpression) != nil, transcript)
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        XCTAssertEqual(session.replay.wait(seconds: 60), 0, session.replay.errors)
        XCTAssertTrue(session.replay.output.contains("PASS smp-turns"), session.replay.output)
        XCTAssertTrue(session.replay.errors.contains("back in the recording's past"), session.replay.errors)
        XCTAssertTrue(session.replay.errors.contains("recording again"), session.replay.errors)
        XCTAssertTrue(session.replay.leftoversOnceGone().isEmpty)
        try assertTheLogReplaysAsRecorded(log, liveOutput: session.replay.output)
    }

    /// Stops while the hart holds console output it has not sent yet (uart-hello prints its text polling LSR before
    /// each byte, about 800 instructions from G=1424, which the hart batches): a seek into the middle, then single
    /// steps, each a stop. The stops send nothing, so a recording made with them replays to a match, and so does a
    /// replay stopped there. (A stop used to send the held output at once: a message the run without the stop does
    /// not send, so a recording or replay of a Linux guest stopped at a breakpoint mid-boot ended diverged.)
    func testStopsWhileConsoleOutputIsHeldChangeNothingTheLogHolds() throws {
        let program = try Harness.guest("uart-hello")
        let log = directory.appendingPathComponent("hello.log").path
        let commands = ["monitor seek 1800", "maintenance flush register-cache", "stepi 3", "monitor when", "continue"]
        let recording = try DebugSession(arguments: ["up", "--bios", "none", "--kernel", program, "--record", log])
        let transcript = try recording.gdb(program: program, commands: commands)
        XCTAssertTrue(transcript.contains("G=1803\n"), transcript)
        XCTAssertEqual(recording.replay.wait(seconds: 60), 0, recording.replay.errors)
        XCTAssertTrue(recording.replay.output.contains("Hello from rrvm guest uart-hello"), recording.replay.output)
        try assertTheLogReplaysAsRecorded(log, liveOutput: recording.replay.output)

        let replay = try DebugSession(replaying: log)
        let again = try replay.gdb(program: program, commands: commands)
        XCTAssertTrue(again.contains("G=1803\n"), again)
        replay.assertTheReplayEndsMatchingItsRecording()
    }

    /// The console output a stopped hart holds unsent is shown at the stop (uart-hello stopped in the middle of its
    /// text: the text up to there), and once only: the rest follows when the machine goes on, and the recording
    /// replays with the same output.
    func testAStopShowsTheConsoleOutputTheHartHoldsOnce() throws {
        let program = try Harness.guest("uart-hello")
        let log = directory.appendingPathComponent("hello.log").path
        let session = try DebugSession(arguments: ["up", "--bios", "none", "--kernel", program, "--record", log])
        let connection = try session.connect()
        let seek = "seek 1800".utf8.map { String(format: "%02x", $0) }.joined()
        XCTAssertTrue(connection.exchange(GDBConnection.packet("qRcmd,\(seek)"), waitingFor: "$OK#9a").contains("$OK#9a"))
        let upToTheStop = "Hello from rrvm guest uart-hello: 0123456789 abcdefghi"
        XCTAssertTrue(session.replay.waitForOutput(upToTheStop, seconds: 10), "shown while stopped: \(session.replay.output)")
        XCTAssertFalse(session.replay.output.contains(upToTheStop + "j"), session.replay.output)
        XCTAssertEqual(connection.exchange(GDBConnection.packet("D"), waitingFor: "#9a"), "+$OK#9a")
        XCTAssertEqual(session.replay.wait(seconds: 60), 0, session.replay.errors)
        let line = "Hello from rrvm guest uart-hello: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ ~!@#$%^&*()_+\n"
        XCTAssertEqual(session.replay.output.components(separatedBy: "Hello from").count, 2, session.replay.output)
        XCTAssertTrue(session.replay.output.contains(line), session.replay.output)
        try assertTheLogReplaysAsRecorded(log, liveOutput: session.replay.output)
    }

    /// Console input typed while the machine is in the past is held, and stamped (recorded) once the machine is
    /// live again: uart-echo receives it and passes; the log replays it.
    func testInputTypedInThePastArrivesOnceLive() throws {
        let program = try Harness.guest("uart-echo")
        let log = directory.appendingPathComponent("echo.log").path
        let session = try DebugSession(arguments: ["up", "--smp", "1", "--bios", "none", "--kernel", program, "--record", log],
                                       keepInputOpen: true)
        let connection = try session.connect()
        let testMain = String(try DebuggerTests.symbolAddress("test_main", in: program), radix: 16)
        func packet(_ payload: String) -> String {
            "$" + payload + "#" + String(format: "%02x", payload.utf8.reduce(UInt8(0)) { $0 &+ $1 })
        }
        XCTAssertTrue(connection.exchange(packet("?")).contains("T05"))
        XCTAssertEqual(connection.exchange(packet("Z0,\(testMain),2")), "+$OK#9a")
        XCTAssertTrue(connection.exchange(packet("c")).contains("T05thread:1;"), "stopped at test_main")
        XCTAssertEqual(connection.exchange(packet("z0,\(testMain),2")), "+$OK#9a")
        XCTAssertTrue(connection.exchange(packet("bs")).contains("T05thread:1;"), "one instruction back, in the past")
        session.replay.send("hello,rrvm!q")
        let deadline = Date().addingTimeInterval(5)
        while !session.replay.errors.contains("back in the recording's past") && Date() < deadline { usleep(20_000) }
        usleep(300_000)  // the input reaches the sequencer while the machine is in the past
        XCTAssertFalse(session.replay.output.contains("hello"), "nothing echoed while in the past")
        XCTAssertTrue(connection.exchange(packet("c"), waitingFor: "$W").contains("$W00"), session.replay.errors)
        XCTAssertEqual(session.replay.wait(seconds: 60), 0, session.replay.errors)
        XCTAssertTrue(session.replay.output.contains("hello,rrvm!q"), session.replay.output)
        XCTAssertTrue(session.replay.output.contains("PASS uart-echo"), session.replay.output)
        XCTAssertTrue(session.replay.leftoversOnceGone().isEmpty)
        // Stamped past the present, where the recording went on.
        guard let present = session.replay.errors.range(of: #"at the present \(G=(\d+)\)"#, options: .regularExpression),
              let presentG = UInt64(session.replay.errors[present].filter(\.isNumber)) else {
            return XCTFail(session.replay.errors)
        }
        let inputs = try RRCtlRun(["log", "show", log, "--kind", "input", "--json"])
        XCTAssertEqual(inputs.wait(seconds: 30), 0, inputs.errors)
        let gs = inputs.output.components(separatedBy: "\n").compactMap { line -> UInt64? in
            guard line.contains("\"input\""), let range = line.range(of: #""g":\d+"#, options: .regularExpression) else { return nil }
            return UInt64(line[range].dropFirst(4))
        }
        XCTAssertFalse(gs.isEmpty, inputs.output)
        XCTAssertTrue(gs.allSatisfy { $0 >= presentG }, "inputs at \(gs), the present at G=\(presentG)")
        try assertTheLogReplaysAsRecorded(log, liveOutput: session.replay.output)
    }

    /// virtio-net's DHCP exchange recorded under gdb, then the whole machine back to G=0 and on to the end: in the
    /// past the DISCOVER is not sent to the network backend again (or its second OFFER would be recorded once
    /// live), the slice that the OFFER's arrival cut ends there in the past too, and the log replays to a match.
    func testThePastSendsNoFrameTwice() throws {
        let program = try Harness.guest("virtio-net")
        let log = directory.appendingPathComponent("net.log").path
        let session = try DebugSession(arguments: ["up", "--smp", "4", "--bios", "none", "--kernel", program, "--net", "user",
                                                   "--record", log])
        let transcript = try session.gdb(program: program, commands: [
            "break finish", "continue", "delete", "monitor seek 0", "shell sleep 0.5", "continue",
        ])
        XCTAssertTrue(transcript.contains("rrvm: at G=0"), transcript)
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        XCTAssertEqual(session.replay.wait(seconds: 60), 0, session.replay.errors)
        XCTAssertTrue(session.replay.output.contains("DHCP offer of 10.0.2.15 from 10.0.2.2"), session.replay.output)
        XCTAssertTrue(session.replay.leftoversOnceGone().isEmpty)
        let inputs = try RRCtlRun(["log", "show", log, "--kind", "input"])
        XCTAssertEqual(inputs.wait(seconds: 30), 0, inputs.errors)
        XCTAssertEqual(inputs.output.components(separatedBy: " input frame of ").count - 1, 1, "one OFFER: \(inputs.output)")
        try assertTheLogReplaysAsRecorded(log, liveOutput: session.replay.output)
    }

    /// Back, on past the present into new recording, and back again past both presents: each watchpoint stop
    /// shows the values the harts wrote, and the log (appended to at each return) replays to a match.
    func testGoingBackFromASecondPresentAcrossTheFirst() throws {
        let program = try Harness.guest("smp-turns")
        let log = directory.appendingPathComponent("twice.log").path
        let session = try DebugSession(arguments: ["up", "--smp", "4", "--bios", "none", "--kernel", program, "--record", log,
                                                   "--checkpoint-interval", "300000"])
        let transcript = try session.gdb(program: program, commands: [
            "watch shared", "continue", "continue", "reverse-stepi 5", "continue", "continue",
            "reverse-continue", "print shared", "reverse-continue", "print shared", "delete", "continue",
        ])
        XCTAssertTrue(transcript.contains("Old value = 3\nNew value = 256"), "live again past the first present: \(transcript)")
        XCTAssertTrue(transcript.contains("Old value = 256\nNew value = 3") && transcript.contains("$1 = 3"), transcript)
        XCTAssertTrue(transcript.contains("Old value = 3\nNew value = 2") && transcript.contains("$2 = 2"), transcript)
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        XCTAssertEqual(session.replay.wait(seconds: 60), 0, session.replay.errors)
        XCTAssertEqual(session.replay.errors.components(separatedBy: "recording again").count - 1, 2, session.replay.errors)
        XCTAssertTrue(session.replay.leftoversOnceGone().isEmpty)
        try assertTheLogReplaysAsRecorded(log, liveOutput: session.replay.output)
    }
}
