import Foundation
import RRProto
import RRSequencer
import XCTest

/// Issue 13 as an attacker and an unlucky user meet rrctl: planted run directories, consoles nobody
/// reads or that close, logs that lie about their machine, failing guests, clobbered recordings,
/// killed supervisors, debuggers and messages. Each test runs with its own run directory base.
final class ReliabilityTests: XCTestCase {
    private var scratch: String!
    private var base: String { scratch + "/run" }
    private var environment: [String: String] { ["RRVM_RUN_BASE": base] }

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "rrvm-reliability-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: scratch) }

    private func up(_ program: String, smp: Int = 1, _ extra: [String] = [], keepInputOpen: Bool = false,
                    standardOutput: FileHandle? = nil) throws -> RRCtlRun {
        try RRCtlRun(["up", "--smp", String(smp), "--bios", "none", "--kernel", try Harness.guest(program)] + extra,
                     keepInputOpen: keepInputOpen, environment: environment, standardOutput: standardOutput)
    }

    /// Entries of the run directory base (nil when it does not exist).
    private func runDirectories() -> [String]? { try? FileManager.default.contentsOfDirectory(atPath: base) }

    private func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

    // MARK: 1. The run directory base

    func testPlantedSymlinkedRunBaseIsRefusedByEveryCommandAndNothingIsDeleted() throws {
        let victim = scratch + "/victim"
        try FileManager.default.createDirectory(atPath: victim + "/999999-dead", withIntermediateDirectories: true)
        try "999999\n".write(toFile: victim + "/999999-dead/rrctl.pid", atomically: true, encoding: .utf8)
        try "precious".write(toFile: victim + "/precious.txt", atomically: true, encoding: .utf8)
        chmod(victim, 0o700)
        XCTAssertEqual(symlink(victim, base), 0)

        let ps = try RRCtlRun(["ps"], environment: environment)
        XCTAssertNotEqual(ps.wait(seconds: 30), 0)
        XCTAssertTrue(ps.errors.contains("not a directory"), ps.errors)
        XCTAssertFalse(ps.output.contains("no cluster is running"), ps.output)
        let up = try up("uart-hello")
        XCTAssertNotEqual(up.wait(seconds: 30), 0)
        XCTAssertTrue(up.errors.contains("not a directory"), up.errors)
        XCTAssertEqual(lines(up.errors).count, 1, up.errors)
        XCTAssertTrue(FileManager.default.fileExists(atPath: victim + "/precious.txt"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: victim + "/999999-dead/rrctl.pid"))
    }

    // MARK: 2 and 3. Standard output nobody reads, or that closes

    func testConsoleNobodyReadsNeverBlocksRRCtlAndSignalsStillWork() throws {
        let unread = Pipe()  // its 64 KiB fill up at once; nobody ever reads it
        let run = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-flood")],
                               environment: environment.merging(["RRVM_CONSOLE_BACKLOG": "16384"]) { $1 },
                               standardOutput: unread.fileHandleForWriting)
        let deadline = Date().addingTimeInterval(120)
        while !run.errors.contains("not being read") && run.process.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(run.errors.contains("console output is being dropped"), run.errors)
        let resident = residentKiB(run.pid)
        XCTAssertLessThan(resident, 200 << 10, "rrctl's backlog is bounded (\(resident) KiB resident)")
        kill(run.pid, SIGTERM)
        XCTAssertEqual(run.wait(seconds: 10), 128 + SIGTERM, run.errors)
        XCTAssertTrue(run.errors.contains("bytes of console output were dropped"), run.errors)
        usleep(200_000)
        XCTAssertEqual(run.leftovers(), [])
        XCTAssertEqual(runDirectories() ?? [], [])
    }

    func testClosedStandardOutputStopsTheRunCleanlyWithACompleteLog() throws {
        let log = scratch + "/flood.log"
        let pipe = Pipe()
        let run = try up("uart-flood", ["--record", log], standardOutput: pipe.fileHandleForWriting)
        try pipe.fileHandleForWriting.close()  // rrctl holds the only writer
        var received = 0
        while received < 2000 {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            received += chunk.count
        }
        XCTAssertGreaterThanOrEqual(received, 2000)
        try pipe.fileHandleForReading.close()  // as `| head` does once it has its lines
        XCTAssertEqual(run.wait(seconds: 30), 128 + SIGPIPE, run.errors)
        XCTAssertTrue(run.exitedNormally, "rrctl exits; SIGPIPE does not kill it")
        XCTAssertEqual(lines(run.errors).count, 1, run.errors)
        XCTAssertTrue(run.errors.contains("standard output was closed"), run.errors)
        usleep(200_000)
        XCTAssertEqual(run.leftovers(), [])
        XCTAssertEqual(runDirectories() ?? [], [], "the run directory is gone")
        let stats = try RRCtlRun(["log", "stats", log])
        XCTAssertEqual(stats.wait(seconds: 30), 0, stats.errors)
        XCTAssertTrue(stats.output.contains("ended: status \(128 + SIGPIPE)"), stats.output)
    }

    func testAPasteWaitsOnTheHostInBoundedPiecesAndReplaysExactly() throws {
        // 80 KB typed at once into a guest that echoes: rrctl is told to stop reading while 64 KiB wait (the rest
        // stays in the pipe), the UART never holds more than its 16-byte FIFO, and nothing is lost. Before, the whole paste
        // went into the UART, whose every answer digested all of it.
        let log = scratch + "/paste.log"
        let paste = String((0..<80_000).map { Character(UnicodeScalar(UInt8(97 + $0 % 16))) }) + "q"
        let run = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-echo"), "--record", log],
                               input: paste, environment: environment)
        XCTAssertEqual(run.wait(seconds: 120), 0, run.errors)
        XCTAssertTrue(run.output.contains(paste), "every character echoed, in order")
        XCTAssertTrue(run.output.contains("uart-echo: 80001 characters"), run.output.suffix(300).description)
        let reader = try LogReader(path: log)
        var inputs: [Int] = []
        while let entry = try reader.next() {
            if case .input(let input)? = entry.record.body { inputs.append(input.console.count) }
        }
        XCTAssertEqual(inputs.reduce(0, +), paste.utf8.count)
        XCTAssertLessThanOrEqual(inputs.max() ?? 0, 16, "no input record holds more than the UART's window")
        let replay = try RRCtlRun(["replay", log], environment: environment)
        XCTAssertEqual(replay.wait(seconds: 120), 0, replay.errors)
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors)
        XCTAssertTrue(replay.output.contains(paste))
        usleep(200_000)
        XCTAssertEqual(run.leftovers() + replay.leftovers(), [])
    }

    func testInputFromARegularFileIsTyped() throws {
        // libuv cannot watch a regular file: such an input was once ignored, and the guest waited for ever.
        let input = scratch + "/typed.txt"
        try "hello-from-a-file!q".write(toFile: input, atomically: true, encoding: .utf8)
        let command = [Harness.rrctl, "up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-echo"), input]
        let run = try RRCtlRun(["-c", #"file=$1; shift; exec "$@" < "$file""#, "sh"] + [input] + command.dropLast(),
                               executable: "/bin/sh", environment: environment)
        XCTAssertEqual(run.wait(seconds: 60), 0, run.output + run.errors)
        XCTAssertTrue(run.output.contains("hello-from-a-file!q"), run.output)
        XCTAssertTrue(run.output.contains("PASS uart-echo"), run.output)
    }

    func testInputTheGuestDoesNotTakeStaysOnTheHost() throws {
        // A writer that never stops, into a guest that reads about 30 KB a second: once 64 KiB wait in the sequencer,
        // rrctl stops reading, and the rest stays in the writer (the pipe is full). Without that the sequencer would
        // take 4 MiB and then drop input.
        let run = try up("uart-echo", keepInputOpen: true)
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        let descriptor = try XCTUnwrap(run.inputDescriptor)
        XCTAssertNotEqual(fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK), -1)
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 65_536)
        var accepted = 0
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            let written = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
            if written > 0 { accepted += written } else { usleep(1_000) }
        }
        XCTAssertGreaterThan(accepted, 64 << 10)
        XCTAssertLessThan(accepted, 1 << 20, "rrctl stopped reading: \(accepted) bytes accepted in 3 s")
        XCTAssertTrue(run.process.isRunning, run.errors)
        kill(run.pid, SIGTERM)
        XCTAssertEqual(run.wait(seconds: 30), 128 + SIGTERM, run.errors)
        usleep(200_000)
        XCTAssertEqual(run.leftovers(), [])
    }

    func testStandardDescriptorsClosedFromTheStartAreAClearErrorOrHarmless() throws {
        // The shell closes them and execs rrctl (the same pid, which RRCtlRun waits for). A closed output once let
        // the cluster's own descriptors take number 1: the console went into them and device processes aborted.
        let command = [Harness.rrctl, "up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-hello")]
        let noOutput = try RRCtlRun(["-c", #"exec "$0" "$@" >&-"#] + command, executable: "/bin/sh", environment: environment)
        XCTAssertEqual(noOutput.wait(seconds: 30), 128 + SIGPIPE, noOutput.errors)
        XCTAssertEqual(noOutput.errors, "rrctl: standard output is closed: nowhere to write the console or results\n")
        XCTAssertEqual(noOutput.leftovers(), [])
        let noInputOrErrors = try RRCtlRun(["-c", #"exec "$0" "$@" <&- 2>&-"#] + command, executable: "/bin/sh",
                                           environment: environment)
        XCTAssertEqual(noInputOrErrors.wait(seconds: 60), 0, noInputOrErrors.output)
        XCTAssertTrue(noInputOrErrors.output.contains("PASS uart-hello"), noInputOrErrors.output)
        usleep(200_000)
        XCTAssertEqual(noInputOrErrors.leftovers(), [])
        XCTAssertEqual(runDirectories() ?? [], [])
    }

    // MARK: 4. A log's machine is checked like `rrctl up`'s

    func testLoggedMachineOutsideUpsLimitsIsRefusedInOneLine() throws {
        let log = scratch + "/hello.log"
        let recording = try up("uart-hello", ["--record", log])
        XCTAssertEqual(recording.wait(), 0, recording.errors)
        // What rrctl up would say, and (for harts) what the log reader may already say about the header.
        let cases: [(String, String?, (inout Rrvm_MachineConfig) -> Void)] = [
            ("harts must be 1 to 8, not 0", "describes no machine (0 harts", { $0.harts = 0 }),
            ("harts must be 1 to 8, not 16", "the machine has 16 harts", { $0.harts = 16 }),
            ("ram_size must be between 16M and 8G, not 1024G", nil, { $0.ramSize = 1 << 40 }),
            ("satp_mode must be sv39 or sv48", nil, { $0.satpMode = "" }),
            ("quantum must be at least 100 instructions, not 1", nil, { $0.quantum = 1 }),
        ]
        let reader = try LogReader(path: log)
        var records: [Rrvm_LogRecord] = []
        while let entry = try reader.next() { records.append(entry.record) }
        for (message, readerMessage, alter) in cases {
            var header = reader.header
            alter(&header.config)
            let altered = scratch + "/altered.log"
            try? FileManager.default.removeItem(atPath: altered)
            let writer = try LogWriter(path: altered, header: header)
            for record in records { try writer.append(record) }
            try writer.flush()
            func refused(_ errors: String) -> Bool {
                errors.contains(message) || readerMessage.map { errors.contains($0) } == true
            }
            let replay = try RRCtlRun(["replay", altered], environment: environment)
            XCTAssertNotEqual(replay.wait(seconds: 30), 0, message)
            XCTAssertTrue(replay.exitedNormally, "\(message): \(replay.errors)")
            XCTAssertTrue(refused(replay.errors), replay.errors)
            XCTAssertEqual(lines(replay.errors).count, 1, replay.errors)
            XCTAssertEqual(runDirectories() ?? [], [], "nothing was started")
            let device = try RRCtlRun(["--replay", altered, "--device", "2"], executable: Harness.binDirectory + "/rrvm-device")
            XCTAssertEqual(device.wait(seconds: 30), 1, message)
            XCTAssertTrue(refused(device.errors), device.errors)
        }
    }

    // MARK: 7. Exit statuses are 8 bits

    func testFailingGuestWhoseStatusEndsInAZeroByteExitsNonZero() throws {
        let run = try up("finisher-256")
        XCTAssertEqual(run.wait(), 255, run.errors)
        XCTAssertTrue(run.errors.contains("status 256"), run.errors)
    }

    // MARK: 8. --record

    func testRecordRefusesImagesExistingFilesAndFilesBeingRecorded() throws {
        let kernel = scratch + "/hello.elf"
        try FileManager.default.copyItem(atPath: try Harness.guest("uart-hello"), toPath: kernel)
        let image = try Data(contentsOf: URL(fileURLWithPath: kernel))
        for extra in [[], ["--force"]] {
            let clobber = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", kernel, "--record", kernel] + extra,
                                       environment: environment)
            XCTAssertEqual(clobber.wait(seconds: 30), 1, clobber.errors)
            XCTAssertTrue(clobber.errors.contains("one of this run's images"), clobber.errors)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: kernel)), image, "the kernel is untouched")
        }

        let log = scratch + "/run.log"
        try "an earlier log".write(toFile: log, atomically: true, encoding: .utf8)
        chmod(log, 0o644)
        let refused = try up("uart-hello", ["--record", log])
        XCTAssertEqual(refused.wait(seconds: 30), 1, refused.errors)
        XCTAssertTrue(refused.errors.contains("--force"), refused.errors)
        XCTAssertFalse(refused.errors.contains("Usage"), refused.errors)
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "an earlier log")

        let first = try up("uart-echo", ["--record", log, "--force"], keepInputOpen: true)
        XCTAssertTrue(first.waitForOutput("type characters", seconds: 60), first.output + first.errors)
        let permissions = try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int
        XCTAssertEqual(permissions, 0o600, "a log holds what was typed on the console")
        let second = try up("uart-hello", ["--record", log, "--force"])
        XCTAssertEqual(second.wait(seconds: 30), 1, second.errors)
        XCTAssertTrue(second.errors.contains("another cluster is recording"), second.errors)
        first.send("q")
        XCTAssertEqual(first.wait(), 0, first.errors)
        let replay = try RRCtlRun(["replay", log], environment: environment)
        XCTAssertEqual(replay.wait(), 0, replay.errors)

        // `rrctl rr --record` follows the same rules.
        let recorded = try Data(contentsOf: URL(fileURLWithPath: log))
        let link = scratch + "/link.log"
        XCTAssertEqual(symlink(scratch + "/nowhere.log", link), 0)
        for (path, extra, refusal) in [(log, [], "give --force"), (kernel, ["--force"], "one of this run's images"),
                                       (link, [], "not a regular file")] {
            let rr = try RRCtlRun(["rr", "--smp", "1", "--bios", "none", "--kernel", kernel, "--eval", "x", "--record", path] + extra,
                                  environment: environment)
            XCTAssertEqual(rr.wait(seconds: 30), 1, rr.errors)
            XCTAssertTrue(rr.errors.contains(refusal), rr.errors)
            XCTAssertEqual(lines(rr.errors).count, 1, rr.errors)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: log)), recorded)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: kernel)), image)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/nowhere.log"))
    }

    // MARK: 10. kill -9 of rrctl

    func testKilledSupervisorLeavesACompleteLogAndNoRunDirectory() throws {
        let log = scratch + "/killed.log"
        let run = try up("uart-echo", smp: 2, ["--record", log], keepInputOpen: true)
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        run.send("ab")
        XCTAssertTrue(run.waitForOutput("ab", seconds: 30), run.output)
        let directories = runDirectories() ?? []
        XCTAssertEqual(directories.count, 1)
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: base + "/" + (directories.first ?? ""))) ?? []
        XCTAssertFalse(contents.contains("ram"), "guest RAM is no file: \(contents)")
        kill(run.pid, SIGKILL)
        run.wait(seconds: 10)
        var remaining = (run.leftovers(), runDirectories() ?? [])
        for _ in 0..<50 where !remaining.0.isEmpty || !remaining.1.isEmpty {
            usleep(100_000)
            remaining = (run.leftovers(), runDirectories() ?? [])
        }
        XCTAssertEqual(remaining.0, [])
        XCTAssertEqual(remaining.1, [], "the run directory does not outlive the run")
        let stats = try RRCtlRun(["log", "stats", log])
        XCTAssertEqual(stats.wait(seconds: 30), 0, stats.errors)
        XCTAssertTrue(stats.output.contains("ended: status"), "the log has its end: \(stats.output)")
        let inputs = try RRCtlRun(["log", "show", log, "--kind", "host_input"])
        XCTAssertEqual(inputs.wait(seconds: 30), 0, inputs.errors)
        XCTAssertFalse(inputs.output.isEmpty, "the typed input made it into the log")
    }

    // MARK: 11. GDB

    /// A stop reply to `?`: `T05thread:...` from the all-harts server (`S05` from a one-hart one).
    private func isStopReply(_ reply: String) -> Bool { reply.contains("$T05") || reply.contains("$S05") }

    func testGDBOnPortZeroPrintsTheRealPortAndUnixSocketsAreThisUsersOnly() throws {
        let tcp = try up("uart-hello", ["--gdb", "0"])
        let port = try waitForGDB(tcp, prefix: "target remote :")
        XCTAssertNotEqual(port, "0", tcp.errors)
        let tcpSocket = try connectedSocket(port: UInt16(port) ?? 0)
        XCTAssertTrue(isStopReply(exchange(tcpSocket, "$?#3f")))
        close(tcpSocket)  // the debugger goes away: the guest runs on
        XCTAssertEqual(tcp.wait(), 0, tcp.errors)

        let path = scratch + "/gdb.sock"
        let unix = try up("uart-hello", ["--gdb", "unix:" + path])
        XCTAssertEqual(try waitForGDB(unix, prefix: "target remote "), path)
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "only this user can connect")
        let unixSocket = try connectedSocket(path: path)
        XCTAssertTrue(isStopReply(exchange(unixSocket, "$?#3f")))
        close(unixSocket)
        XCTAssertEqual(unix.wait(), 0, unix.errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the socket is removed at the end")

        let taken = try up("uart-hello", ["--gdb", "unix:" + scratch])
        XCTAssertNotEqual(taken.wait(seconds: 30), 0)
        XCTAssertTrue(taken.errors.contains("exists"), taken.errors)
    }

    /// What follows `prefix` on rrvm-hart's "waits for a debugger" line, up to the closing quote.
    private func waitForGDB(_ run: RRCtlRun, prefix: String) throws -> String {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && run.process.isRunning {
            if let range = run.errors.range(of: prefix), let end = run.errors[range.upperBound...].firstIndex(of: "'") {
                return String(run.errors[range.upperBound..<end])
            }
            usleep(20_000)
        }
        throw XCTSkip("no debugger line: \(run.errors)")
    }

    private func connectedSocket(port: UInt16) throws -> Int32 {
        guard let descriptor = connectToLoopback(port: port) else { throw XCTSkip("cannot connect to port \(port)") }
        return descriptor
    }

    private func connectedSocket(path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(status, 0, "connect to \(path): \(String(cString: strerror(errno)))")
        return descriptor
    }

    /// Sends one packet and returns what came back within 5 s.
    private func exchange(_ descriptor: Int32, _ packet: String) -> String {
        _ = packet.withCString { send(descriptor, $0, strlen($0), 0) }
        var answer = ""
        let deadline = Date().addingTimeInterval(5)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline && !answer.contains("#") {
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&request, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            answer += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        return answer
    }

    // MARK: 12. Messages

    func testMessagesAreOneClearLineWithoutUsageForNonUsageErrors() throws {
        let missing = try RRCtlRun(["up", "--bios", "none", "--kernel", "/nonexistent/kernel.elf"], environment: environment)
        XCTAssertEqual(missing.wait(seconds: 30), 1, missing.errors)
        XCTAssertFalse(missing.errors.contains("Usage"), missing.errors)
        XCTAssertEqual(lines(missing.errors).count, 1, missing.errors)

        let disk = try up("uart-hello", ["--disk", "/nonexistent/disk.img"])
        XCTAssertEqual(disk.wait(seconds: 30), 1, disk.errors)
        XCTAssertFalse(disk.errors.contains("Usage"), disk.errors)

        // Refused before anything starts, not by the device process once it is up.
        let characterDevice = try up("uart-hello", ["--disk", "/dev/zero"])
        XCTAssertEqual(characterDevice.wait(seconds: 30), 1, characterDevice.errors)
        XCTAssertEqual(lines(characterDevice.errors), ["Error: disk file /dev/zero is not a regular file or block device"])

        // A size that is a number but no machine's: the limits, not the syntax.
        for (size, shown) in [("0", "0"), ("99999G", "99999G")] {
            let memory = try up("uart-hello", ["--memory", size])
            XCTAssertEqual(memory.wait(seconds: 30), 64, memory.errors)
            XCTAssertTrue(memory.errors.contains("--memory must be between 16M and 8G, not \(shown)"), memory.errors)
        }

        let negative = try RRCtlRun(["up", "--smp", "-1"], environment: environment)
        XCTAssertNotEqual(negative.wait(seconds: 30), 0)
        XCTAssertTrue(negative.errors.contains("--smp must be 1 to 8, not -1"), negative.errors)

        // A bad value: one line naming the accepted values, not the usage block.
        let detail = try up("uart-hello", ["--log-detail", "bogus"])
        XCTAssertEqual(detail.wait(seconds: 30), 64, detail.errors)
        XCTAssertEqual(lines(detail.errors), ["Error: The value 'bogus' is invalid for '--log-detail <log-detail>'. "
                                              + "Please provide one of 'compact' and 'full'."])
        let mmu = try up("uart-hello", ["--mmu", "sv57"])
        XCTAssertEqual(mmu.wait(seconds: 30), 64, mmu.errors)
        XCTAssertEqual(lines(mmu.errors), ["Error: --mmu must be sv39 or sv48, not 'sv57'"])

        // A killed sequencer: a short account naming it and its signal.
        let run = try up("uart-echo", smp: 2, keepInputOpen: true)
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        guard let sequencer = Processes.find(["rrvm-sequencer", "--parent-pid\u{0}\(run.pid)\u{0}"]) else {
            return XCTFail("no sequencer among \(run.leftovers())")
        }
        kill(sequencer, SIGKILL)
        XCTAssertEqual(run.wait(seconds: 30), 1, run.errors)
        XCTAssertTrue(run.errors.contains("sequencer (pid \(sequencer)) was killed by signal 9 (SIGKILL)"), run.errors)
        XCTAssertLessThanOrEqual(lines(run.errors).count, 3, run.errors)
        usleep(200_000)
        XCTAssertEqual(run.leftovers(), [])
    }

    /// The role executables, which rrctl starts, say what they are and take on --help (a person starts one by hand
    /// under a debugger); a wrong option is one line naming the ones they take.
    func testRoleExecutablesExplainThemselvesOnHelpAndRefuseWrongOptionsInOneLine() throws {
        for role in ["rrvm-sequencer", "rrvm-hart", "rrvm-device"] {
            let help = try RRCtlRun(["--help"], executable: Harness.binDirectory + "/" + role)
            XCTAssertEqual(help.wait(seconds: 30), 0, help.errors)
            XCTAssertTrue(help.output.contains("started by rrctl") && help.output.contains("--run-dir"), help.output)
            let wrong = try RRCtlRun(["--bogus", "1"], executable: Harness.binDirectory + "/" + role)
            XCTAssertEqual(wrong.wait(seconds: 30), 1, wrong.errors)
            XCTAssertEqual(lines(wrong.errors).count, 1, wrong.errors)
            XCTAssertTrue(wrong.errors.contains("unknown option '--bogus'"), wrong.errors)
        }
        let device = try RRCtlRun(["--help"], executable: Harness.binDirectory + "/rrvm-device")
        XCTAssertEqual(device.wait(seconds: 30), 0)
        XCTAssertTrue(device.output.contains("--replay LOG --device N"), device.output)
    }

    /// Ctrl-C while rrctl builds the default guest ends the build too (it runs in a process group of its own).
    func testInterruptedGuestBuildDoesNotOutliveRRCtl() throws {
        let home = scratch + "/home"
        try FileManager.default.createDirectory(atPath: home + "/cluster", withIntermediateDirectories: true)
        let script = home + "/cluster/build-guest.sh"
        try "echo $$ > \"$RRVM_GUEST_DIR/build.pid.new\"; mv \"$RRVM_GUEST_DIR/build.pid.new\" \"$RRVM_GUEST_DIR/build.pid\"; sleep 59.75\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        let guest = scratch + "/guest"
        try FileManager.default.createDirectory(atPath: guest, withIntermediateDirectories: false)
        let run = try RRCtlRun(["up"], environment: environment.merging(["RRVM_HOME": home, "RRVM_GUEST_DIR": guest]) { $1 })
        var build: Int32 = 0
        let started = Date().addingTimeInterval(30)
        while build == 0 && Date() < started {
            usleep(20_000)
            build = Int32((try? String(contentsOfFile: guest + "/build.pid", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        }
        XCTAssertGreaterThan(build, 0, run.errors)
        usleep(100_000) // the script reaches its sleep
        kill(run.pid, SIGINT)
        XCTAssertEqual(run.wait(seconds: 30), 128 + SIGINT, run.errors)
        let deadline = Date().addingTimeInterval(5)
        while kill(build, 0) == 0 && Date() < deadline { usleep(20_000) }
        XCTAssertNotEqual(kill(build, 0), 0, "the build script (pid \(build)) outlived rrctl")
        XCTAssertNil(Processes.find(["sleep\u{0}59.75"]), "the build's own children outlived rrctl")
    }

    private func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
