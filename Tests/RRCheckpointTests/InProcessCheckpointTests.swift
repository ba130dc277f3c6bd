import Foundation
import RRCheckpoint
import RRProto
import RRRoles
import RVMachine
import RVPlatform
import XCTest

/// The whole in-process machine (the cluster's own sequencer, hart side and device models) checkpointed at
/// a checkpoint point near G1 through the message bytes, run to the end, restored into the same machine
/// and into a fresh one, and run to the end again: the same G, every state hash, the console output after
/// the checkpoint and RAM.
final class InProcessCheckpointTests: XCTestCase {
    func plan(_ name: String, harts: Int, disk: Bool) throws -> (Rrvm_MachineConfig, BootPlan) {
        let directory = try MachineCheckpointTests.programs.get()
        var diskPath: String?
        if disk {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("rrcheckpoint-disk-\(UUID().uuidString)")
            try Data(count: 1 << 20).write(to: url)
            addTeardownBlock { try? FileManager.default.removeItem(at: url) }
            diskPath = url.path
        }
        return try InProcessMachine.plan(
            machine: MachineDescription(harts: harts, ramSize: 64 << 20,
                                        devices: MachineDescription.standardDevices.union([.virtioEntropy]),
                                        startWallTimeNs: 1_700_000_000_000_000_000),
            firmware: nil, kernel: try BootImage.read(path: directory.appendingPathComponent("\(name).elf").path),
            initrd: nil, disk: diskPath, quantum: 10_000)
    }

    struct Ending: Equatable {
        var g: UInt64
        var exitCode: Int32
        var hashes: [UInt64]
        var console: [UInt8]
        var ram: Data
    }

    func ending(_ machine: InProcessMachine, consoleFrom start: Int, exitCode: Int32) -> Ending {
        let harts = Int(machine.config.harts), devices = machine.config.devices.count
        return Ending(g: machine.g, exitCode: exitCode,
                      hashes: (0..<harts).map { machine.hart($0).hart.stateHash() }
                          + (0..<devices).map { machine.device($0).stateHash() },
                      console: Array(machine.console[start...]),
                      ram: Data(bytes: machine.guestRAM, count: Int(machine.config.ramSize)))
    }

    func checkRestoresExactly(_ name: String, harts: Int = 1, disk: Bool = false, at fractions: [Double],
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let (config, boot) = try plan(name, harts: harts, disk: disk)
        let reference = try InProcessMachine(config: config, boot: boot)
        let outcome = reference.run(gLimit: 2_000_000_000)
        XCTAssertEqual(outcome.exitCode, 0, "\(name): \(outcome.reason)", file: file, line: line)
        for fraction in fractions {
            let machine = try InProcessMachine(config: config, boot: boot)
            XCTAssertTrue(machine.run(untilCheckpointAt: UInt64(Double(reference.g) * fraction)), file: file, line: line)
            let what = "\(name) on \(harts) hart(s), checkpointed at G \(machine.g) of \(reference.g)"
            let bytes = try machine.checkpoint().serializedData()
            let consoleAtCheckpoint = machine.console.count
            let expected = ending(machine, consoleFrom: consoleAtCheckpoint,
                                  exitCode: machine.run(gLimit: 2_000_000_000).exitCode)
            XCTAssertEqual(expected.g, reference.g, what, file: file, line: line)

            let fresh = try InProcessMachine(config: config, boot: boot)
            for (restored, how) in [(machine, "the same machine"), (fresh, "a fresh machine")] {
                try restored.restore(try Rrvm_Checkpoint(serializedBytes: bytes))
                let start = restored.console.count
                let exitCode = restored.run(gLimit: 2_000_000_000).exitCode
                let again = ending(restored, consoleFrom: start, exitCode: exitCode)
                XCTAssertEqual(again.g, expected.g, "\(what): G, in \(how)", file: file, line: line)
                XCTAssertEqual(again.hashes, expected.hashes, "\(what): state hashes, in \(how)", file: file, line: line)
                XCTAssertEqual(again.console, expected.console, "\(what): console, in \(how)", file: file, line: line)
                XCTAssertTrue(again.ram == expected.ram, "\(what): RAM, in \(how)", file: file, line: line)
                XCTAssertEqual(again.exitCode, expected.exitCode, what, file: file, line: line)
            }
        }
    }

    func testDeviceProgramsRestoreExactly() throws {
        try checkRestoresExactly("plic-uart", at: [0.5])
        try checkRestoresExactly("rtc", at: [0.5])
        try checkRestoresExactly("virtio-blk", disk: true, at: [0.5])
        try checkRestoresExactly("virtio-rng", at: [0.5])
    }

    func testFourHartProgramsRestoreExactly() throws {
        try checkRestoresExactly("ipi", harts: 4, at: [0.3, 0.7])
        try checkRestoresExactly("smp-contend", harts: 4, at: [0.3, 0.7])
    }

    func testRefusesACheckpointOfAnotherMachine() throws {
        let (one, boot) = try plan("rtc", harts: 1, disk: false)
        let machine = try InProcessMachine(config: one, boot: boot)
        XCTAssertTrue(machine.run(untilCheckpointAt: 1_000), "\(String(describing: machine.outcome)) at G \(machine.g)")
        let checkpoint = try machine.checkpoint()
        let (four, fourBoot) = try plan("rtc", harts: 4, disk: false)
        XCTAssertThrowsError(try InProcessMachine(config: four, boot: fourBoot).restore(checkpoint)) {
            XCTAssertTrue("\($0)".contains("not one of this machine"), "\($0)")
        }
    }
}
