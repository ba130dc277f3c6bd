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
                         "-ex", "print/x $pc", "-ex", "stepi", "-ex", "stepi", "-ex", "print/x $pc",
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
        let symbol = try Self.symbolAddress("secondary_main", in: program)
        XCTAssertTrue(transcript.contains("$1 = 0x\(String(symbol, radix: 16))"), "stopped at the breakpoint: \(transcript)")
        XCTAssertFalse(transcript.contains("$2 = 0x\(String(symbol, radix: 16))\n"), "two steps moved the pc: \(transcript)")
        XCTAssertTrue(transcript.contains("exited normally"), transcript)
        XCTAssertTrue(replay.leftovers().isEmpty)
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
