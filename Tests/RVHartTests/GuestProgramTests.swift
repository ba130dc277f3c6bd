import Foundation
import RRRoles
import RVMachine
import XCTest

/// Runs the project's self-checking bare-metal ISA programs (Tests/GuestPrograms, built with the Debian
/// cross compiler) on the in-process machine: the cluster's own sequencer, hart side and device models,
/// in one process. The end-to-end tests run the same programs through rrctl.
final class GuestProgramTests: XCTestCase {
    static let programs: [(name: String, mmu: String)] = [
        ("rv64i", "sv39"), ("rv64m", "sv39"), ("rv64a", "sv39"), ("rv64c", "sv39"), ("rv64f", "sv39"),
        ("rv64d", "sv39"), ("zicsr", "sv39"), ("traps", "sv39"), ("misaligned", "sv39"), ("sv39", "sv39"),
        ("sv48", "sv48"), ("pmp", "sv39"), ("irq-sweep", "sv39"),
    ]

    /// The programs, built once; a failed build is a failure that shows the build's output.
    static let built: Result<URL, BuildFailure> = {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("GuestPrograms")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("rvhart-guests-\(getpid())")
        let log = output.appendingPathExtension("log")
        do {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [sources.appendingPathComponent("build.sh").path, output.path] + programs.map(\.name)
            process.standardOutput = try FileHandle(forWritingTo: log)
            process.standardError = process.standardOutput
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                return .failure(BuildFailure(description: "Tests/GuestPrograms/build.sh failed "
                                             + "(status \(process.terminationStatus)):\n\(text)"))
            }
            return .success(output)
        } catch {
            return .failure(BuildFailure(description: "cannot run Tests/GuestPrograms/build.sh: \(error)"))
        }
    }()

    struct BuildFailure: Error, CustomStringConvertible {
        var description: String
    }

    func testProgramsPass() throws {
        let directory = try Self.built.get()
        for (name, mmu) in Self.programs {
            let kernel = try BootImage.read(path: directory.appendingPathComponent("\(name).elf").path)
            let (config, boot) = try InProcessMachine.plan(
                machine: MachineDescription(ramSize: 64 << 20, mmuType: "riscv,\(mmu)"), firmware: nil, kernel: kernel,
                initrd: nil)
            let machine = try InProcessMachine(config: config, boot: boot)
            let outcome = machine.run(gLimit: 2_000_000_000)
            let console = String(decoding: machine.console, as: UTF8.self)
            XCTAssertEqual(outcome.exitCode, 0, "\(name): \(outcome.reason); console: \(console)")
            XCTAssertTrue(console.contains("PASS \(name)"), "\(name): \(console)")
        }
    }
}
