import Foundation
import RRCheckpoint
import RVMachine
import XCTest

/// Checkpoint at G1, run to the end, restore, run to the end again: every state hash, the console output
/// after G1 and RAM must come out identical, restored into the same machine and into a fresh one built
/// alike (so the checkpoint bytes alone carry the state). Runs the bare-metal guest programs that use
/// each device model (Tests/GuestPrograms), on one and on four harts.
final class MachineCheckpointTests: XCTestCase {
    static let programs: Result<URL, Error> = Result {
        if let prebuilt = ProcessInfo.processInfo.environment["RRVM_GUEST_PROGRAMS"] {
            return URL(fileURLWithPath: prebuilt)
        }
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("GuestPrograms")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("rrcheckpoint-guests-\(getpid())")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [sources.appendingPathComponent("build.sh").path, output.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("Tests/GuestPrograms/build.sh failed (no cross compiler?)") }
        return output
    }

    struct Program {
        var name: String
        var harts = 1
        var disk = false
        var input: String?
    }

    func elf(_ name: String) throws -> [UInt8] {
        let directory = try MachineCheckpointTests.programs.get()
        let url = directory.appendingPathComponent("\(name).elf")
        guard let data = FileManager.default.contents(atPath: url.path) else { throw XCTSkip("no \(url.path)") }
        return [UInt8](data)
    }

    func makeMachine(_ program: Program) throws -> SerialMachine {
        var disk: String?
        if program.disk {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("rrcheckpoint-disk-\(UUID().uuidString)")
            try Data(count: 1 << 20).write(to: url)
            addTeardownBlock { try? FileManager.default.removeItem(at: url) }
            disk = url.path
        }
        let machine = try SerialMachine(elf: try elf(program.name), harts: program.harts, disk: disk)
        if let input = program.input { machine.type(input) }
        return machine
    }

    func checkRestoresExactly(_ program: Program, at fractions: [Double] = [0.25, 0.6],
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try makeMachine(program)
        let end = reference.runToEnd()
        XCTAssertEqual(reference.exit, .powerOff(code: 0), "\(program.name): \(String(decoding: reference.console, as: UTF8.self))",
                       file: file, line: line)
        XCTAssertTrue(String(decoding: reference.console, as: UTF8.self).contains("PASS \(program.name)"),
                      file: file, line: line)
        for fraction in fractions {
            let g1 = UInt64(Double(end) * fraction)
            let what = "\(program.name) checkpointed at G \(g1) of \(end)"
            let machine = try makeMachine(program)
            machine.run(until: g1)
            XCTAssertEqual(machine.g, g1, what, file: file, line: line)
            let atG1 = machine.stateHashes()
            let bytes = try machine.checkpoint()
            let consoleAtG1 = machine.console.count
            machine.runToEnd()
            let expected = (hashes: machine.stateHashes(), console: Array(machine.console[consoleAtG1...]),
                            ram: machine.ramContents(), exit: machine.exit)
            XCTAssertEqual(expected.hashes[0], end, what, file: file, line: line)

            let fresh = try makeMachine(program)
            for (restored, how) in [(machine, "the same machine"), (fresh, "a fresh machine")] {
                try restored.restore(bytes)
                XCTAssertEqual(restored.stateHashes(), atG1, "\(what), restored into \(how)", file: file, line: line)
                let consoleBefore = restored.console.count
                restored.runToEnd()
                XCTAssertEqual(restored.stateHashes(), expected.hashes, "\(what), run again in \(how)", file: file, line: line)
                XCTAssertEqual(Array(restored.console[consoleBefore...]), expected.console, "\(what): console in \(how)",
                               file: file, line: line)
                XCTAssertTrue(restored.ramContents() == expected.ram, "\(what): RAM in \(how)", file: file, line: line)
                XCTAssertEqual(restored.exit, expected.exit, what, file: file, line: line)
            }
        }
    }

    func testFloatingPointAndPagingProgramsRestoreExactly() throws {
        for name in ["rv64d", "sv39", "traps", "pmp"] { try checkRestoresExactly(Program(name: name), at: [0.4]) }
    }

    func testTimerInterruptAndConsoleProgramsRestoreExactly() throws {
        try checkRestoresExactly(Program(name: "clint-timer"), at: [0.5])
        try checkRestoresExactly(Program(name: "rtc"), at: [0.5])
        try checkRestoresExactly(Program(name: "plic-uart"), at: [0.5])
        try checkRestoresExactly(Program(name: "uart-echo", input: "hello,rrvm!q"), at: [0.5])
    }

    func testVirtioProgramsRestoreExactly() throws {
        try checkRestoresExactly(Program(name: "virtio-blk", disk: true))
        try checkRestoresExactly(Program(name: "virtio-rng"))
    }

    func testFourHartProgramsRestoreExactly() throws {
        try checkRestoresExactly(Program(name: "ipi", harts: 4))
        try checkRestoresExactly(Program(name: "smp-contend", harts: 4))
    }
}
