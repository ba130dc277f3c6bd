import Foundation
import RRSequencer
import XCTest

/// GDB on one hart (`--gdb-hart N`, DESIGN §9), as a user drives it: gdb-multiarch attached to hart 2 of a
/// 4-hart replay, breakpoints, single steps, registers and memory, and the replay still matching its
/// recording; and the packet layer's answers to malformed input (ClusterDebuggerTests: every hart a thread).
final class DebuggerTests: XCTestCase {
    func testGDBOnOneHartOfAReplayChangesNothingTheGuestDoes() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb-multiarch") else {
            throw XCTSkip("gdb-multiarch is not installed (cluster/install-deps.sh installs it)")
        }
        let program = try Harness.guest("smp-contend")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-gdb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("contend.log").path
        let recording = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", program, "--record", log])
        XCTAssertEqual(recording.wait(seconds: 300), 0, recording.errors)

        let replay = try RRCtlRun(["replay", log, "--gdb", "0", "--gdb-hart", "2"])
        let port = try replay.gdbPort()
        XCTAssertTrue(replay.errors.contains("hart 2 waits for a debugger"), replay.errors)

        let gdb = Process()
        gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb-multiarch")
        gdb.arguments = ["-batch", "-nx", "-ex", "target remote :\(port)", "-ex", "break secondary_main", "-ex", "continue",
                         "-ex", "info threads", "-ex", "print/x $pc", "-ex", "stepi", "-ex", "stepi", "-ex", "print/x $pc",
                         "-ex", "x/2xw secondary_main", "-ex", "print/x $sp", "-ex", "delete", "-ex", "continue", program]
        let output = Pipe()
        gdb.standardOutput = output
        gdb.standardError = output
        try gdb.run()
        let transcript = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        gdb.waitUntilExit()

        XCTAssertEqual(replay.wait(seconds: 300), 0, replay.errors)
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors)
        XCTAssertTrue(transcript.contains("Breakpoint 1"), "gdb said:\n" + transcript)
        XCTAssertTrue(transcript.contains("secondary_main"), transcript)
        XCTAssertTrue(transcript.contains("Thread 1 \"hart 2\""), "the one thread is named after its hart: \(transcript)")
        let symbol = try Self.symbolAddress("secondary_main", in: program)
        XCTAssertTrue(transcript.contains("$1 = 0x\(String(symbol, radix: 16))"), "stopped at the breakpoint: \(transcript)")
        XCTAssertFalse(transcript.contains("$2 = 0x\(String(symbol, radix: 16))\n"), "two steps moved the pc: \(transcript)")
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        XCTAssertTrue(replay.leftovers().isEmpty)
    }

    /// A hart served by its own debugger (`--gdb-hart`) shows the console output it holds when it stops, as the
    /// cluster's debugger does: uart-hello stopped at the byte store of its output loop, the 30th time, holds the
    /// 29 bytes before it, batched (its driver polls LSR before each byte).
    func testOneHartsDebuggerShowsTheConsoleOutputItHoldsAtAStop() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb-multiarch") else { throw XCTSkip("no gdb-multiarch") }
        let program = try Harness.guest("uart-hello")
        let store = String(try Self.firstInstruction("sb", of: "put_locked", in: program), radix: 16)
        let run = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", program, "--gdb", "0", "--gdb-hart", "0"])
        let connection = try GDBConnection(port: try run.gdbPort())
        XCTAssertEqual(connection.exchange(GDBConnection.packet("Z0,\(store),4")), "+$OK#9a")
        for _ in 0..<30 { XCTAssertTrue(connection.exchange(GDBConnection.packet("c")).contains("T05")) }
        let before = "Hello from rrvm guest uart-he"
        XCTAssertTrue(run.waitForOutput(before, seconds: 10), "shown while stopped: \(run.output)")
        XCTAssertFalse(run.output.contains(before + "l"), run.output)
        XCTAssertEqual(connection.exchange(GDBConnection.packet("z0,\(store),4")), "+$OK#9a")
        XCTAssertEqual(connection.exchange(GDBConnection.packet("D"), waitingFor: "#9a"), "+$OK#9a")
        XCTAssertEqual(run.wait(seconds: 60), 0, run.errors)
        XCTAssertEqual(run.output.components(separatedBy: "Hello from").count, 2, "shown once: \(run.output)")
        XCTAssertTrue(run.output.contains("Hello from rrvm guest uart-hello: 0123456789 abcdefghijklmnopqrstuvwxyz"), run.output)
    }

    func testMalformedPacketsAreRefusedAndTheRunStaysDebuggable() throws {
        let run = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-hello"),
                                "--gdb", "0"])
        let port = try run.gdbPort()

        guard let socket = connectToLoopback(port: UInt16(port)) else { return XCTFail("cannot connect to the GDB port \(port)") }
        defer { close(socket) }
        func exchange(_ text: String, expecting count: Int) -> String {
            _ = text.withCString { write(socket, $0, strlen($0)) }
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            while reply.count < count {
                let got = read(socket, &buffer, buffer.count)
                if got <= 0 { break }
                reply += buffer[0..<got]
            }
            return String(decoding: reply, as: UTF8.self)
        }
        XCTAssertEqual(exchange("$?#00", expecting: 1), "-", "a bad checksum asks for the packet again")
        XCTAssertEqual(exchange("$?#3f", expecting: 17), "+$T05thread:1;#d7", "a stopped machine says so, and on which hart")
        XCTAssertEqual(exchange("$m80000000,zz#15", expecting: 8), "+$E01#a6", "a malformed request is an error reply")
        XCTAssertEqual(exchange("$D#44", expecting: 7), "+$OK#9a", "detaching lets the guest run")
        XCTAssertEqual(run.wait(), 0, run.errors)
        XCTAssertTrue(run.output.contains("PASS uart-hello"), run.output)
    }

    /// The address of the first `mnemonic` instruction of `function` in `program` (riscv64-unknown-elf-objdump).
    static func firstInstruction(_ mnemonic: String, of function: String, in program: String) throws -> UInt64 {
        let objdump = Process()
        objdump.executableURL = URL(fileURLWithPath: "/usr/bin/riscv64-unknown-elf-objdump")
        objdump.arguments = ["-d", "--no-show-raw-insn", program]
        let pipe = Pipe()
        objdump.standardOutput = pipe
        try objdump.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        objdump.waitUntilExit()
        let lines = text.split(separator: "\n")
        guard let start = lines.firstIndex(where: { $0.hasSuffix("<\(function)>:") }) else { throw XCTSkip("no \(function) in \(program)") }
        for line in lines[(start + 1)...] {
            if line.isEmpty || line.hasSuffix(">:") { break }
            let fields = line.split(separator: "\t")
            if fields.count >= 2, fields[1].trimmingCharacters(in: .whitespaces) == mnemonic,
               let address = UInt64(fields[0].trimmingCharacters(in: .whitespaces).dropLast(), radix: 16) {
                return address
            }
        }
        throw XCTSkip("no \(mnemonic) in \(function) of \(program)")
    }

    static func symbolAddress(_ name: String, in program: String) throws -> UInt64 {
        let nm = Process()
        nm.executableURL = URL(fileURLWithPath: "/usr/bin/riscv64-unknown-elf-nm")
        nm.arguments = [program]
        let pipe = Pipe()
        nm.standardOutput = pipe
        try nm.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        nm.waitUntilExit()
        for line in text.split(separator: "\n") where line.hasSuffix(" \(name)") {
            if let address = UInt64(line.split(separator: " ")[0], radix: 16) { return address }
        }
        throw XCTSkip("no symbol \(name) in \(program)")
    }
}
