import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Every hart a thread of one GDB session (`rrctl replay LOG --gdb PORT`, DESIGN §9), as a user drives it
/// with gdb-multiarch in batch mode: threads, watchpoints, stepping, `monitor when` and `monitor seek`, and
/// the bad inputs (an unmapped watchpoint, too many, a seek beyond the log, a debugger that goes away).
final class ClusterDebuggerTests: XCTestCase {
    /// A 4-hart recording of smp-turns (the harts take turns writing `shared`), made once per test run.
    private static var recording: Result<(log: String, program: String), Error>?
    private static let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-cluster-gdb-\(getpid())")

    override class func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    func turnsRecording() throws -> (log: String, program: String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb-multiarch") else {
            throw XCTSkip("gdb-multiarch is not installed (cluster/install-deps.sh installs it)")
        }
        if let recording = Self.recording { return try recording.get() }
        let result = Result { () throws -> (log: String, program: String) in
            let program = try Harness.guest("smp-turns")
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            let log = Self.directory.appendingPathComponent("turns.log").path
            let run = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", program, "--record", log])
            guard run.wait(seconds: 120) == 0, run.output.contains("PASS smp-turns") else {
                throw DebugSessionError(description: "recording smp-turns failed:\n\(run.output)\n\(run.errors)")
            }
            return (log, program)
        }
        Self.recording = result
        return try result.get()
    }

    func testThreadsWatchpointsAndSteppingOnEveryHart() throws {
        let (log, program) = try turnsRecording()
        let session = try DebugSession(replaying: log)
        let transcript = try session.gdb(program: program, commands: [
            "info threads",
            "watch shared",
            "continue",
            "print $_thread",
            "print/x $pc",
            "stepi",
            "print/x $pc",
            "delete",
            "break turns_done",
            "continue",
            "print shared",
            "monitor when",
            "rwatch shared",
            "continue",
            "delete",
            "continue",
        ])
        for hart in 0..<4 { XCTAssertTrue(transcript.contains("Thread \(hart + 1) \"hart \(hart)\""), transcript) }
        // Hart 0 writes 0 over 0 (no change, so gdb goes on); hart 1's write is the first that changes it.
        XCTAssertTrue(transcript.contains("Thread 2 \"hart 1\" hit Hardware watchpoint 1: shared"), transcript)
        XCTAssertTrue(transcript.contains("Old value = 0\nNew value = 1"), transcript)
        XCTAssertTrue(transcript.contains("$1 = 2"), "the stop is on hart 1's thread: \(transcript)")
        let pcs = transcript.components(separatedBy: "\n").filter { $0.hasPrefix("$2 = 0x") || $0.hasPrefix("$3 = 0x") }
        XCTAssertEqual(pcs.count, 2, transcript)
        XCTAssertNotEqual(pcs.first?.dropFirst(5), pcs.last?.dropFirst(5), "stepi moved the pc: \(transcript)")
        XCTAssertTrue(transcript.contains("Thread 1 \"hart 0\" hit Breakpoint 2, turns_done"), transcript)
        XCTAssertTrue(transcript.contains("hit Hardware read watchpoint 3: shared"), "hart 0 checks the last value: \(transcript)")
        XCTAssertTrue(transcript.contains("= 4867"), "hart 3 wrote last, round 19 (0x1303): \(transcript)")
        XCTAssertTrue(transcript.range(of: #"G=\d+\nhart 0: \d+ instructions retired\nhart 1: \d+"#, options: .regularExpression) != nil,
                      transcript)
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        session.assertTheReplayEndsMatchingItsRecording()
    }

    func testSeekAndBadInputGetClearAnswers() throws {
        let (log, program) = try turnsRecording()
        let session = try DebugSession(replaying: log)
        var commands = [
            "monitor seek 5000",
            "monitor when",
            "monitor seek 999999999999",
            "monitor seek soon",
            "watch *(long *)0x10",
            "continue",
            "delete",
        ]
        // One more watchpoint than the debugger takes: gdb inserts them when the machine resumes.
        for byte in 0..<9 { commands.append("watch *((char *)&shared + \(byte))") }
        commands += ["continue", "delete", "continue"]
        let transcript = try session.gdb(program: program, commands: commands)
        XCTAssertTrue(transcript.contains("rrvm: at G=5000"), transcript)
        XCTAssertTrue(transcript.contains("G=5000\nhart 0: 5000 instructions retired"), transcript)
        XCTAssertTrue(transcript.contains("rrvm: G=999999999999 is beyond the end of the log"), transcript)
        XCTAssertTrue(transcript.contains("rrvm: seek wants a G"), transcript)
        XCTAssertTrue(transcript.contains("Could not insert hardware watchpoint 1"), transcript)
        XCTAssertTrue(transcript.contains("Could not insert hardware watchpoint 10"), transcript)
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        session.assertTheReplayEndsMatchingItsRecording()
        XCTAssertTrue(session.replay.errors.contains("cannot watch: hart 0 sees no RAM at 0x10"), session.replay.errors)
        XCTAssertTrue(session.replay.errors.contains("at most 8 watchpoints at once"), session.replay.errors)
    }

    /// Ctrl-C (a lone 0x03) stops a machine whose harts all wait for input; the stop is SIGINT on a hart's
    /// thread; detaching lets the guest go on, and it ends normally with the input typed afterwards.
    func testCtrlCStopsAnIdleMachineAndDetachingLetsItGoOn() throws {
        let program = try Harness.guest("uart-echo")
        let session = try DebugSession(arguments: ["up", "--smp", "2", "--bios", "none", "--kernel", program], keepInputOpen: true)
        let connection = try session.connect()
        XCTAssertTrue(connection.exchange("$?#3f").hasPrefix("+$T05thread:1;"))
        XCTAssertEqual(connection.exchange("$c#63", waitingFor: "+"), "+")
        XCTAssertTrue(session.replay.waitForOutput("uart-echo: type characters"), session.replay.output)
        XCTAssertTrue(connection.exchange("\u{03}", waitingFor: "#").hasPrefix("$T02thread:"), "Ctrl-C stops the machine")
        XCTAssertEqual(connection.exchange("$D#44", waitingFor: "#9a"), "+$OK#9a")
        session.replay.send("hello,rrvm!q")
        XCTAssertEqual(session.replay.wait(seconds: 60, explaining: { session.diagnosis() }), 0, session.replay.errors)
        XCTAssertTrue(session.replay.output.contains("PASS uart-echo"), session.replay.output)
        XCTAssertTrue(session.replay.leftoversOnceGone().isEmpty)
    }

    /// A run that ends while the debugger holds the machine stopped (rrctl told to stop) tells it nothing out of turn:
    /// in gdb's protocol an exit packet then would be taken for the answer to its next request (it read "W" as a hex
    /// digit). The connection closes as the cluster goes; no process is left.
    func testARunEndingWhileStoppedSendsTheDebuggerNothingOutOfTurn() throws {
        let program = try Harness.guest("uart-echo")
        let session = try DebugSession(arguments: ["up", "--smp", "2", "--bios", "none", "--kernel", program])
        let connection = try session.connect()
        XCTAssertTrue(connection.exchange("$?#3f").hasPrefix("+$T05thread:1;"))
        kill(session.replay.pid, SIGTERM)
        let rest = connection.exchange("", waitingFor: "never sent")  // until the server closes the connection
        XCTAssertFalse(rest.contains("$W"), rest)
        XCTAssertNotEqual(session.replay.wait(seconds: 60, explaining: { session.diagnosis() }), 0)
        XCTAssertTrue(session.replay.leftoversOnceGone().isEmpty)
    }

    /// A device's DMA into a watched buffer (virtio-blk reading sector 7 into data_in) stops the machine, on the
    /// thread of the hart whose access started the device operation.
    func testAWatchpointSeesTheDevicesDMA() throws {
        _ = try turnsRecording()  // gdb-multiarch present
        let program = try Harness.guest("virtio-blk")
        let disk = Self.directory.appendingPathComponent("dma-disk.img")
        try Data(count: 1 << 20).write(to: disk)
        let session = try DebugSession(arguments: ["up", "--smp", "1", "--bios", "none", "--kernel", program, "--disk", disk.path])
        let transcript = try session.gdb(program: program, commands: ["watch data_in[100]", "continue", "print data_in[100]",
                                                                      "print data_out[100]", "delete", "continue"])
        XCTAssertTrue(transcript.contains("Hardware watchpoint 1: data_in[100]\n\nOld value = 0 '\\000'"), transcript)
        let values = transcript.components(separatedBy: "\n").filter { $0.hasPrefix("$1 = ") || $0.hasPrefix("$2 = ") }
            .map { $0.dropFirst(5) }
        XCTAssertEqual(values.count, 2, transcript)
        XCTAssertEqual(values.first, values.last, "the device wrote what was written to the disk: \(transcript)")
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        XCTAssertEqual(session.replay.wait(seconds: 60, explaining: { session.diagnosis() }), 0, session.replay.errors)
        XCTAssertTrue(session.replay.output.contains("PASS virtio-blk"), session.replay.output)
    }

    func testADebuggerThatGoesAwayInTheMiddleOfAReverseContinueLeavesTheReplayConsistent() throws {
        let (log, program) = try turnsRecording()
        let session = try DebugSession(replaying: log)
        // From the end, back towards a breakpoint never reached: gdb is killed while the machine goes back.
        let output = session.directory.appendingPathComponent("killed.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let gdb = try session.startGDB(program: program, commands: ["break turns_done", "continue", "delete",
                                                                    "break *0x12345678", "reverse-continue"],
                                       output: try FileHandle(forWritingTo: output))
        let deadline = Date().addingTimeInterval(30)
        while !((try? String(contentsOf: output, encoding: .utf8))?.contains("hit Breakpoint 1") ?? false) && Date() < deadline {
            usleep(10_000)
        }
        usleep(50_000)
        kill(gdb.processIdentifier, SIGKILL)
        gdb.waitUntilExit()
        session.assertTheReplayEndsMatchingItsRecording()
    }
}

/// Reverse execution in a replay (`bs`, `bc`, DESIGN §9): from the end of smp-turns back to the last write of
/// `shared`, stepping back and forth, back to the start of the log, and forward again to a matching end.
extension ClusterDebuggerTests {
    /// A replay of smp-turns under gdb, stopped at turns_done (hart 0, after every write), then `commands`.
    private func fromTurnsDone(_ commands: [String]) throws -> (DebugSession, String) {
        let (log, program) = try turnsRecording()
        let session = try DebugSession(replaying: log)
        return (session, try session.gdb(program: program, commands: ["break turns_done", "continue", "delete"] + commands))
    }

    func testReverseContinueToAWatchpointStopsOnTheLastWriterBeforeItsWrite() throws {
        let (session, transcript) = try fromTurnsDone([
            "watch shared",
            "reverse-continue",
            "print $_thread",
            "print shared",
            "print/x $pc",
            "info symbol $pc",
            "delete",
            "continue",
        ])
        XCTAssertTrue(transcript.contains("Thread 4 \"hart 3\" hit Hardware watchpoint 2: shared"), transcript)
        XCTAssertTrue(transcript.contains("Old value = 4867\nNew value = 4866"), "going back over hart 3's last write: \(transcript)")
        XCTAssertTrue(transcript.contains("$1 = 4"), "on hart 3's thread: \(transcript)")
        XCTAssertTrue(transcript.contains("$2 = 4866"), "before the write, shared holds hart 2's last value: \(transcript)")
        XCTAssertTrue(transcript.contains("take_turn"), "in take_turn, at the store: \(transcript)")
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        session.assertTheReplayEndsMatchingItsRecording()
    }

    func testReverseStepsThenForwardStepsGiveBackTheSameRegisters() throws {
        let (session, transcript) = try fromTurnsDone([
            "echo ==before==\\n",
            "info registers",
            "reverse-stepi 7",
            "echo ==back==\\n",
            "info registers pc",
            "stepi 7",
            "echo ==after==\\n",
            "info registers",
            "echo ==end==\\n",
            "continue",
        ])
        /// The register lines ("name  0x...") between two markers (gdb also prints source lines after steps).
        func section(_ name: String, _ next: String) -> String {
            guard let start = transcript.range(of: "==\(name)==\n"), let end = transcript.range(of: "==\(next)==", range: start.upperBound..<transcript.endIndex)
            else { return "" }
            return transcript[start.upperBound..<end.lowerBound].components(separatedBy: "\n")
                .filter { $0.range(of: #"^[a-z0-9]+ +0x"#, options: .regularExpression) != nil }.joined(separator: "\n")
        }
        let before = section("before", "back"), after = section("after", "end")
        let pcBefore = before.components(separatedBy: "\n").first { $0.hasPrefix("pc ") }
        let pcBack = section("back", "after").components(separatedBy: "\n").first { $0.hasPrefix("pc ") }
        XCTAssertTrue(before.contains("ra ") && before.contains("t6 "), transcript)
        XCTAssertEqual(before, after, "seven steps back and seven forward: \(transcript)")
        XCTAssertNotNil(pcBack, transcript)
        XCTAssertNotEqual(pcBefore, pcBack, "the steps back moved the pc: \(transcript)")
        session.assertTheReplayEndsMatchingItsRecording()
    }

    func testReverseContinueWithNothingSetStopsAtTheStartOfTheLog() throws {
        let (session, transcript) = try fromTurnsDone([
            "reverse-continue",
            "monitor when",
            "monitor seek 100000",
            "monitor when",
            "continue",
        ])
        XCTAssertTrue(transcript.contains("No more reverse-execution history."), transcript)
        XCTAssertTrue(transcript.contains("G=0\nhart 0: 0 instructions retired"), transcript)
        XCTAssertTrue(transcript.contains("rrvm: at G=100000"), transcript)
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        session.assertTheReplayEndsMatchingItsRecording()
    }

    /// The default 4-hart Linux guest (auto power-off) replayed under gdb with its vmlinux: a few instructions
    /// after machine_power_off's entry, reverse-finish goes back out of the function the pc is in, to its caller.
    func testReverseFinishOutOfAKernelFunction() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb-multiarch") else { throw XCTSkip("no gdb-multiarch") }
        let directory = ProcessInfo.processInfo.environment["RRVM_GUEST_DIR"] ?? Harness.projectRoot + "/cluster/out"
        let files = ["fw_jump.bin", "Image", "initramfs.cpio", "disk.ext2"].map { directory + "/" + $0 }
        guard let vmlinux = [directory + "/vmlinux", directory + "/work/kernel-build/vmlinux"].first(where: {
            FileManager.default.fileExists(atPath: $0)
        }), files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else {
            throw XCTSkip("the default guest and its vmlinux are not built (cluster/build-guest.sh)")
        }
        try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
        let log = Self.directory.appendingPathComponent("linux.log").path
        let recording = try RRCtlRun(["up", "--bios", files[0], "--kernel", files[1], "--initrd", files[2], "--disk", files[3],
                                      "--append", "console=ttyS0 earlycon rrvm_poweroff=1", "--record", log, "--force"])
        XCTAssertEqual(recording.wait(seconds: 240), 0, recording.errors)

        let session = try DebugSession(replaying: log)
        // First a stop mid-boot (kernel_init): the replay must still match at its end. (Once, setting and removing a
        // breakpoint broke the decoded register saves of unrelated functions, and the stop sent the console output the
        // hart held: the replay ended diverged.)
        let transcript = try session.gdb(program: vmlinux, commands: [
            "break kernel_init", "continue", "delete",
            // At its address: with the kernel's code readable now, gdb would place `break machine_power_off` past the
            // prologue.
            "break *machine_power_off", "continue", "delete", "stepi 4", "info symbol $pc", "reverse-finish",
            "info symbol $pc", "continue",
        ], seconds: 120)
        XCTAssertTrue(transcript.range(of: #"Breakpoint 1, 0x[0-9a-f]+ in kernel_init"#, options: .regularExpression) != nil,
                      transcript)
        XCTAssertTrue(transcript.range(of: #"Breakpoint 2, 0x[0-9a-f]+ in machine_power_off"#, options: .regularExpression) != nil,
                      transcript)
        // Four steps from machine_power_off's entry are inside the function it calls (machine_halt); reverse-finish
        // goes back out of that one, into its caller.
        let functions = transcript.components(separatedBy: "\n").filter { $0.contains(" in section .text") }
            .map { $0.components(separatedBy: " ").first ?? "" }
        XCTAssertEqual(functions.count, 2, transcript)
        XCTAssertEqual(functions.first, "machine_halt", transcript)
        XCTAssertEqual(functions.last, "machine_power_off", "back in the caller, at its call: \(transcript)")
        session.assertTheReplayEndsMatchingItsRecording()
    }

    /// Ctrl-C during a reverse-continue that finds nothing: the machine stops at the end of the interval being
    /// replayed (here the present) with SIGINT, not at the start of the log; the replay stays consistent.
    func testCtrlCInterruptsAReverseContinue() throws {
        let (log, program) = try turnsRecording()
        let session = try DebugSession(replaying: log)
        let connection = try session.connect()
        let turnsDone = String(try DebuggerTests.symbolAddress("turns_done", in: program), radix: 16)
        let packet = GDBConnection.packet
        XCTAssertEqual(connection.exchange(packet("Z0,\(turnsDone),2")), "+$OK#9a")
        XCTAssertTrue(connection.exchange(packet("c")).contains("T05thread:1;"), "stopped at turns_done")
        XCTAssertEqual(connection.exchange(packet("z0,\(turnsDone),2")), "+$OK#9a")
        XCTAssertEqual(connection.exchange(packet("Z0,12345678,2")), "+$OK#9a")
        let stop = connection.exchange(packet("bc") + "\u{03}")
        XCTAssertTrue(stop.contains("$T02thread:"), "Ctrl-C, not the start of the log: \(stop)")
        XCTAssertEqual(connection.exchange(packet("D"), waitingFor: "#9a"), "+$OK#9a")
        session.assertTheReplayEndsMatchingItsRecording()
    }

    /// A replay of smp-turns under gdb whose hart 3 joins a second late (as a loaded host may make any hart join
    /// late), with a debugger connected at once: `body` drives it, then the replay ends matching its recording.
    private func withHart3Late(seconds: Double = 1, _ body: (GDBConnection, _ program: String) throws -> Void) throws {
        let (log, program) = try turnsRecording()
        let binaries = try Self.binaries(delayingHart: 3, seconds: seconds)
        defer { try? FileManager.default.removeItem(atPath: binaries) }
        let session = try DebugSession(replaying: log, executable: binaries + "/rrctl")
        try body(try session.connect(), program)
        session.assertTheReplayEndsMatchingItsRecording()
    }

    /// The debugger's first packet, a breakpoint, comes before every hart has joined: the server holds it until the
    /// machine is whole and stopped, then answers, and every hart has the breakpoint (a request to a hart not there
    /// yet used to go nowhere: the breakpoint's answer, gathered from every hart, never came).
    func testABreakpointSetBeforeEveryHartHasJoinedIsAnsweredAndEveryHartHasIt() throws {
        try withHart3Late { connection, program in
            let takeTurn = String(try DebuggerTests.symbolAddress("take_turn", in: program), radix: 16)
            XCTAssertEqual(connection.exchange(GDBConnection.packet("Z0,\(takeTurn),2")), "+$OK#9a")
            // Hart 3 resumed alone: only its breakpoints stop the machine, so the stop says it has this one.
            XCTAssertTrue(connection.exchange(GDBConnection.packet("vCont;c:4")).contains("T05thread:4;"), "hart 3 stops at take_turn")
            XCTAssertEqual(connection.exchange(GDBConnection.packet("D"), waitingFor: "#9a"), "+$OK#9a")
        }
    }

    /// A continue and a Ctrl-C sent before the machine is ready wait together, in order: the continue runs, then
    /// the Ctrl-C stops it (it is not lost for coming while the machine was still stopped).
    func testACtrlCAfterAContinueBeforeTheMachineIsReadyStopsIt() throws {
        try withHart3Late { connection, _ in
            let stop = connection.exchange(GDBConnection.packet("c") + "\u{03}")
            XCTAssertTrue(stop.contains("$T02thread:"), "Ctrl-C, not the end of the replay: \(stop)")
            XCTAssertEqual(connection.exchange(GDBConnection.packet("D"), waitingFor: "#9a"), "+$OK#9a")
        }
    }

    /// gdb's connect (what the server supports, which thread to use) is answered before every hart has joined: gdb
    /// waits 2 s for each packet, and a slow start-up used to fail its connect. The first question about the machine
    /// (`?`) waits for it.
    func testGDBsConnectIsAnsweredBeforeEveryHartHasJoined() throws {
        try withHart3Late(seconds: 4) { connection, _ in
            let asked = Date()
            XCTAssertTrue(connection.exchange(GDBConnection.packet("qSupported:multiprocess+")).contains("PacketSize="))
            XCTAssertEqual(connection.exchange(GDBConnection.packet("Hg1")), "+$OK#9a")
            XCTAssertLessThan(Date().timeIntervalSince(asked), 2, "answered while hart 3 has not joined")
            XCTAssertTrue(connection.exchange(GDBConnection.packet("?")).contains("$T05thread:"), "stopped once whole")
            XCTAssertEqual(connection.exchange(GDBConnection.packet("D"), waitingFor: "#9a"), "+$OK#9a")
        }
    }

    /// A debugger that asks where the machine is and leaves before every hart has joined: once whole, the machine
    /// runs freely to its end (the letting go used to reach only the harts there, and the replay waited for ever).
    func testADebuggerThatLeavesBeforeEveryHartHasJoinedLetsTheRunGoOn() throws {
        try withHart3Late { connection, _ in
            connection.send(GDBConnection.packet("?"))
            connection.close()
        }
    }

    /// A directory with this build's rrctl, sequencer and device, and an rrvm-hart that starts hart `delayed`
    /// `seconds` late (rrctl starts the executables beside itself).
    static func binaries(delayingHart delayed: Int, seconds: Double) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-slow-hart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["rrctl", "rrvm-sequencer", "rrvm-device"] {
            let source = Harness.binDirectory + "/" + name
            // A hard link where it can be (the executables are large), else a copy.
            do { try FileManager.default.linkItem(atPath: source, toPath: directory + "/" + name) } catch {
                try FileManager.default.copyItem(atPath: source, toPath: directory + "/" + name)
            }
        }
        let script = "#!/bin/sh\ncase \" $* \" in *\" --hart \(delayed) \"*) sleep \(seconds) ;; esac\n"
            + "exec '\(Harness.binDirectory)/rrvm-hart' \"$@\"\n"
        try script.write(toFile: directory + "/rrvm-hart", atomically: true, encoding: .utf8)
        chmod(directory + "/rrvm-hart", 0o755)
        return directory
    }

    func testALiveRunRefusesReverseExecutionWithAMessage() throws {
        let (_, program) = try turnsRecording()
        let session = try DebugSession(arguments: ["up", "--smp", "4", "--bios", "none", "--kernel", program])
        let transcript = try session.gdb(program: program, commands: ["break turns_done", "continue", "reverse-stepi",
                                                                      "reverse-continue", "delete", "continue"])
        XCTAssertTrue(transcript.contains("going back needs a log: run rrctl up --record LOG --gdb PORT"), transcript)
        XCTAssertTrue(transcript.contains("exited normally"), "the run goes on: \(transcript)")
        XCTAssertEqual(session.replay.wait(seconds: 60, explaining: { session.diagnosis() }), 0, session.replay.errors)
        XCTAssertTrue(session.replay.output.contains("PASS smp-turns"), session.replay.output)
    }
}

struct DebugSessionError: Error, CustomStringConvertible {
    var description: String
}

/// `rrctl replay LOG --gdb 0` waiting for gdb, and gdb-multiarch runs against it.
final class DebugSession {
    let replay: RRCtlRun
    let port: Int
    /// gdb's output.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-gdb-\(UUID().uuidString)")

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    convenience init(replaying log: String, extraArguments: [String] = [], executable: String = Harness.rrctl) throws {
        try self.init(arguments: ["replay", log] + extraArguments, executable: executable)
    }

    /// The GDB server's packet trace (RRVM_GDB_TRACE), shown when the session hangs.
    private var traceFile: URL { directory.appendingPathComponent("gdb-trace.txt") }

    /// `rrctl ARGUMENTS --gdb 0` (`executable`: another rrctl).
    init(arguments: [String], keepInputOpen: Bool = false, executable: String = Harness.rrctl) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        replay = try RRCtlRun(arguments + ["--gdb", "0"], keepInputOpen: keepInputOpen, executable: executable,
                              environment: ["RRVM_GDB_TRACE": directory.appendingPathComponent("gdb-trace.txt").path])
        port = try replay.gdbPort()
    }

    /// Starts gdb in batch mode on `program` with `commands` (each an -ex: one that fails does not end the rest).
    func startGDB(program: String, commands: [String], output: FileHandle? = nil) throws -> Process {
        let gdb = Process()
        gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb-multiarch")
        gdb.arguments = ["-batch", "-nx"] + (["set pagination off", "set confirm off", "target remote :\(port)"] + commands)
            .flatMap { ["-ex", $0] } + [program]
        gdb.standardInput = FileHandle.nullDevice
        gdb.standardOutput = output ?? FileHandle.nullDevice
        gdb.standardError = output ?? FileHandle.nullDevice
        try gdb.run()
        return gdb
    }

    /// A raw connection to the session's GDB server, which explains itself when an answer does not come.
    func connect() throws -> GDBConnection {
        try GDBConnection(port: port, explaining: { [unowned self] in self.diagnosis() })
    }

    /// The replay runs to its end and matches its recording, whatever the debugger did (going back and forth
    /// included), and leaves no process behind.
    func assertTheReplayEndsMatchingItsRecording(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(replay.wait(seconds: 60, explaining: { self.diagnosis() }, file: file, line: line), 0, replay.errors, file: file, line: line)
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors, file: file, line: line)
        XCTAssertTrue(replay.leftoversOnceGone().isEmpty, file: file, line: line)
    }

    /// Runs gdb to its end (at most `seconds`) and returns what it printed.
    func gdb(program: String, commands: [String], seconds: Double = 60) throws -> String {
        let outputURL = directory.appendingPathComponent("\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let gdb = try startGDB(program: program, commands: commands, output: try FileHandle(forWritingTo: outputURL))
        let deadline = Date().addingTimeInterval(seconds)
        while gdb.isRunning && Date() < deadline { usleep(20_000) }
        if gdb.isRunning {
            let transcript = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
            XCTFail("gdb did not finish within \(seconds) s; what it printed:\n\(transcript)\n\(diagnosis())")
            gdb.terminate()
        }
        gdb.waitUntilExit()
        return (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
    }

    private var diagnosed = false

    /// What the cluster is doing, for a session that hangs (the processes still there): the state of each of its
    /// processes, the sequencer's state dump (its debugger's and timeline's state, which it prints on SIGUSR1),
    /// the end of the GDB server's packet trace, and what rrctl and the sequencer printed.
    func diagnosis() -> String {
        var text = "--- the cluster's processes (pid, state, kernel wait channel, CPU seconds, name):\n"
        var sequencer: Int32?
        for member in replay.leftovers() {
            guard let (pid, line) = Processes.describe(member) else { continue }
            text += line + "\n"
            if line.contains("rrvm-sequencer") { sequencer = pid }
        }
        if let sequencer, !Processes.catches(SIGUSR1, sequencer) {
            text += "(the sequencer takes no SIGUSR1, an older build: no state dump)\n"
        } else if let sequencer {
            let marker = "state dump (SIGUSR1)"
            let dumps = replay.errors.components(separatedBy: marker).count
            kill(sequencer, SIGUSR1)
            let deadline = Date().addingTimeInterval(3)
            while replay.errors.components(separatedBy: marker).count == dumps && Date() < deadline { usleep(20_000) }
            if replay.errors.components(separatedBy: marker).count == dumps {
                text += "(the sequencer printed no state dump within 3 s of SIGUSR1: its event loop does not run)\n"
            }
        }
        let trace = ((try? String(contentsOf: traceFile, encoding: .utf8)) ?? "").components(separatedBy: "\n")
        text += "--- the GDB server's packet trace (its last 40 lines of \(trace.count)):\n" + trace.suffix(40).joined(separator: "\n") + "\n"
        if diagnosed { return text + "--- (rrctl's output: see the first diagnosis)\n" + replay.errors.suffix(3000) }
        diagnosed = true
        return text + "--- rrctl's standard error (the sequencer's state dump at its end):\n" + replay.errors
            + "\n--- the end of the console output:\n" + replay.output.suffix(2000)
    }
}

/// A raw connection to a GDB server, for what gdb in batch mode cannot send (Ctrl-C).
final class GDBConnection {
    private var socket: Int32
    /// What the server's side of a hang looks like (see `DebugSession.diagnosis`).
    private let explaining: (() -> String)?

    init(port: Int, explaining: (() -> String)? = nil) throws {
        guard let connected = connectToLoopback(port: UInt16(port)) else {
            throw DebugSessionError(description: "cannot connect to the GDB port \(port)")
        }
        socket = connected
        self.explaining = explaining
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    func close() {
        if socket >= 0 { Glibc.close(socket) }
        socket = -1
    }

    /// `$payload#checksum`.
    static func packet(_ payload: String) -> String {
        "$" + payload + "#" + String(format: "%02x", payload.utf8.reduce(UInt8(0)) { $0 &+ $1 })
    }

    /// Sends `text` without waiting for an answer.
    func send(_ text: String) {
        // Not write(2): a server that has gone would end the test process with SIGPIPE.
        _ = text.withCString { Glibc.send(socket, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Sends `text`, then reads until the reply holds a packet's checksum (or `waitingFor`), at most 10 s (then the
    /// test fails, saying what the server is doing).
    func exchange(_ text: String, waitingFor end: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> String {
        send(text)
        var reply = ""
        var buffer = [UInt8](repeating: 0, count: 256)
        func complete() -> Bool {
            if let end { return reply.contains(end) }
            return reply.range(of: #"#[0-9a-f]{2}"#, options: .regularExpression) != nil
        }
        while !complete() {
            let got = read(socket, &buffer, buffer.count)
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), let explaining {
                XCTFail("no answer to \(text.debugDescription) within 10 s (got \(reply.debugDescription))\n\(explaining())",
                        file: file, line: line)
            }
            if got <= 0 { break }
            reply += String(decoding: buffer[0..<got], as: UTF8.self)
        }
        return reply
    }
}
