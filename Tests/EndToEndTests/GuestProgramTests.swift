import Foundation
import XCTest

/// Every program of Tests/GuestPrograms/programs.txt, run as a user would: `rrctl up --bios none
/// --kernel PROGRAM.elf` with its harts, devices and console input; it must end with the listed status
/// and, for status 0, print "PASS <name>". One test runs them all and names each failure.
final class GuestProgramTests: XCTestCase {
    struct Program {
        var name: String
        var harts: String
        var devices: [String]
        var input: String?
        var status: Int32
        var expectedOutput: String?
    }

    static func programs() throws -> [Program] {
        let text = try String(contentsOfFile: Harness.projectRoot + "/Tests/GuestPrograms/programs.txt", encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 5, let status = Int32(fields[4]) else { return nil }
            return Program(name: fields[0], harts: fields[1], devices: fields[2] == "-" ? [] : fields[2].split(separator: ",").map(String.init),
                           input: fields[3] == "-" ? nil : fields[3], status: status,
                           expectedOutput: fields.count > 5 ? fields[5] : nil)
        }
    }

    func testEveryGuestProgramPassesThroughRRCtl() throws {
        let programs = try Self.programs()
        XCTAssertGreaterThanOrEqual(programs.count, 20)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-disk-\(UUID().uuidString).img")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for program in programs {
            var arguments = ["up", "--smp", program.harts, "--bios", "none", "--kernel", try Harness.guest(program.name)]
            if program.name == "sv48" { arguments += ["--mmu", "sv48"] }
            if program.devices.contains("disk") {
                try Data(count: 1 << 20).write(to: scratch)
                arguments += ["--disk", scratch.path]
            }
            if program.devices.contains("net") { arguments += ["--net", "user"] }
            let run = try RRCtlRun(arguments, keepInputOpen: program.input != nil)
            if let input = program.input {
                XCTAssertTrue(run.waitForOutput("\(program.name):", seconds: 60), "\(program.name): no banner")
                run.send(input)
            }
            let status = run.wait(seconds: 120)
            XCTAssertEqual(status, program.status, "\(program.name): \(run.output.suffix(400)) \(run.errors)")
            if let expected = program.expectedOutput {
                XCTAssertTrue(run.output.contains(expected), "\(program.name): \(expected) missing")
            }
            if program.status == 0 {
                XCTAssertTrue(run.output.contains("PASS \(program.name)"), "\(program.name): \(run.output.suffix(400))")
            }
        }
    }

    /// Four programs that cannot know their right answers print hashes that QEMU, the reference, must print too:
    /// the sweep (Tests/GuestPrograms/isa/sweep.c) one per operation and rounding mode, of every F/D operation in
    /// every mode, every integer register-register operation and every AMO over awkward operands; random-code one
    /// per block of random code rich in what the interpreter fuses (pairs, runs, push/pop/return), written at run
    /// time across a page boundary, its data accessed physically, through swapped pages (Sv39, MPRV), then with a
    /// locked PMP entry denying part of it (every fault's epc, tval and cause hashed); pte-sweep one per group of
    /// loads, stores or fetches through every leaf PTE flag combination, high bits and superpages (fault, value, A/D);
    /// encodings one per group of every compressed encoding and every major opcode's funct3 x funct7 (registers
    /// changed, memory written, trap or where execution went on), on a QEMU CPU without the extensions rrvm lacks
    /// (H, Zba, Zbb, Zbc, Zbs), so that it decodes what rrvm decodes. A difference names the operation and mode,
    /// the block or the group.
    func testProgramsThatHashTheirResultsPrintWhatQEMUPrints() throws {
        let qemu = "/usr/bin/qemu-system-riscv64"
        guard FileManager.default.isExecutableFile(atPath: qemu) else { throw XCTSkip("\(qemu) is not installed") }
        let rrvmExtensionsOnly = ["-cpu", "rv64,h=false,zba=false,zbb=false,zbc=false,zbs=false"]
        let programs: [(name: String, prefix: String, count: Int, cpu: [String])] = [
            ("sweep", "sweep ", 267, []), ("random-code", "block ", 1200, []), ("pte-sweep", "pte ", 21, []),
            ("encodings", "enc ", 59, rrvmExtensionsOnly)]
        for (name, prefix, count, cpu) in programs {
            let program = try Harness.guest(name)
            let ours = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", program])
            XCTAssertEqual(ours.wait(seconds: 120), 0, ours.errors)
            let reference = try RRCtlRun(["-M", "virt", "-bios", "none", "-kernel", program, "-nographic", "-smp", "1",
                                          "-m", "128M"] + cpu, executable: qemu)
            XCTAssertEqual(reference.wait(seconds: 120), 0, reference.errors)
            func hashLines(_ output: String) -> [Substring] {
                output.split(whereSeparator: \.isNewline).filter { $0.hasPrefix(prefix) }
            }
            let lines = hashLines(ours.output), expected = hashLines(reference.output)
            XCTAssertEqual(expected.count, count, "\(name) on QEMU: \(reference.output.suffix(400))")
            XCTAssertEqual(lines.count, expected.count, "\(name): \(ours.output.suffix(400))")
            for (line, wanted) in zip(lines, expected) where line != wanted {
                XCTFail("\(name): rrvm printed \(line), QEMU \(wanted.split(separator: " ").last ?? "")")
            }
        }
    }
}
