import Foundation
import RRCheckpoint
import RRProto
import RRRoles
import RVMachine
import RVPlatform
import XCTest

/// The whole in-process machine (the cluster's own sequencer, hart side and device models, with the
/// timeline the sequencer process uses) stopped at exactly G1, inside a slice, checkpointed through the
/// message bytes, run to the end, restored into the same machine and into a fresh one, and run to the end
/// again: the same G, every state hash, the console output after the checkpoint and RAM. Runs the
/// bare-metal guest programs that use each device model (Tests/GuestPrograms), on one and on four harts.
final class InProcessCheckpointTests: XCTestCase {
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

    func plan(_ name: String, harts: Int, disk: Bool) throws -> (Rrvm_MachineConfig, BootPlan) {
        let directory = try InProcessCheckpointTests.programs.get()
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
            let g1 = UInt64(Double(reference.g) * fraction)
            XCTAssertTrue(machine.run(untilCheckpointAt: g1), file: file, line: line)
            let what = "\(name) on \(harts) hart(s), checkpointed at G \(machine.g) of \(reference.g)"
            // A stop lands on the exact G (inside a slice), or where an idle period that holds G1 ends.
            XCTAssertGreaterThanOrEqual(machine.g, g1, what, file: file, line: line)
            let atG1 = ending(machine, consoleFrom: machine.console.count, exitCode: 0).hashes
            let bytes = try machine.checkpoint().serializedData()
            let consoleAtCheckpoint = machine.console.count
            let expected = ending(machine, consoleFrom: consoleAtCheckpoint,
                                  exitCode: machine.run(gLimit: 2_000_000_000).exitCode)
            XCTAssertEqual(expected.g, reference.g, what, file: file, line: line)

            let fresh = try InProcessMachine(config: config, boot: boot)
            for (restored, how) in [(machine, "the same machine"), (fresh, "a fresh machine")] {
                try restored.restore(try Rrvm_Checkpoint(serializedBytes: bytes))
                XCTAssertEqual(ending(restored, consoleFrom: restored.console.count, exitCode: 0).hashes, atG1,
                               "\(what): restored into \(how)", file: file, line: line)
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

    func testFloatingPointAndPagingProgramsRestoreExactly() throws {
        for name in ["rv64d", "sv39", "traps", "pmp", "clint-timer"] { try checkRestoresExactly(name, at: [0.4]) }
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

    /// Guests that break the fence rules: stale-tlb reads and writes through a translation whose PTE it changed
    /// without SFENCE.VMA, stale-code's hart 0 runs code hart 1 rewrote without FENCE.I on hart 0 (checkpoints
    /// before the rewrite, while hart 0 does not run that code, and after it). A restore puts back the TLB and
    /// the decoded code, so each goes on as it did (with them emptied, the stale translation and code are gone).
    func testGuestsBreakingTheFenceRulesRestoreExactly() throws {
        try checkRestoresExactly("stale-tlb", at: [0.3, 0.8])
        try checkRestoresExactly("stale-code", harts: 2, at: [0.15, 0.3, 0.8])
    }

    /// Automatic checkpoints, then seeks back and forth: each arrival at a G gives the same machine (every
    /// process's state, RAM, console), and a seek beyond the end is refused, leaving the machine where it was.
    func testSeeksBackAndForthArriveAtTheSameMachine() throws {
        let (config, boot) = try plan("smp-contend", harts: 4, disk: false)
        let machine = try InProcessMachine(config: config, boot: boot)
        let timeline = machine.timeline!
        timeline.enableAutomaticCheckpoints(CheckpointPolicy(budget: 64 << 20, interval: 150_000))
        var seen: [UInt64: MachineFingerprint] = [:]
        for g in [400_000, 900_000, 1_300_000] as [UInt64] {
            try machine.wait { timeline.run(toG: g, then: $0) }
            XCTAssertEqual(timeline.g, g)
            seen[g] = try machine.wait { timeline.fingerprint(then: $0) }
        }
        XCTAssertGreaterThanOrEqual(timeline.automatic.count, 8, "\(timeline.automatic.map(\.g))")
        for g in [400_000, 1_300_000, 900_000, 400_000, 1_300_000] as [UInt64] {
            try machine.wait { timeline.seek(toG: g, then: $0) }
            let again = try machine.wait { timeline.fingerprint(then: $0) }
            XCTAssertEqual(again.differences(from: seen[g]!), [], "seek to G=\(g)")
        }
        timeline.endG = 1_350_000
        XCTAssertThrowsError(try machine.wait { timeline.seek(toG: 1_350_001, then: $0) }) {
            XCTAssertTrue("\($0)".contains("beyond the end"), "\($0)")
        }
        XCTAssertEqual(try machine.wait { timeline.fingerprint(then: $0) }, seen[1_300_000])
    }

    /// An interrupted run stops short of its target, at a checkpoint point, and goes on from there exactly.
    func testAnInterruptedRunStopsWhereItCanAndGoesOnExactly() throws {
        let (config, boot) = try plan("smp-contend", harts: 4, disk: false)
        let reference = try InProcessMachine(config: config, boot: boot)
        try reference.wait { reference.timeline.run(toG: 1_500_000, then: $0) }
        let expected = try reference.wait { reference.timeline.fingerprint(then: $0) }

        let machine = try InProcessMachine(config: config, boot: boot)
        var carried = 0
        try machine.wait({ machine.timeline.run(toG: 1_500_000, then: $0) }, meanwhile: {
            carried += 1
            if carried == 500 { machine.timeline.interrupt() }
        })
        XCTAssertGreaterThan(machine.g, 0)
        XCTAssertLessThan(machine.g, 1_500_000, "stopped short")
        XCTAssertTrue(machine.timeline.isStopped)
        _ = try machine.wait { machine.timeline.checkpoint(then: $0) }
        try machine.wait { machine.timeline.run(toG: 1_500_000, then: $0) }
        XCTAssertEqual(try machine.wait { machine.timeline.fingerprint(then: $0) }, expected)
    }

    /// A process that refuses its state (here each of two harts is given the other's) gets nothing half-done:
    /// the machine stays where it was, stopped, and runs on to the same end as a machine never restored.
    func testARefusedRestoreLeavesTheMachineWhereItWas() throws {
        let (config, boot) = try plan("ipi", harts: 4, disk: false)
        let reference = try InProcessMachine(config: config, boot: boot)
        let end = reference.run(gLimit: 2_000_000_000)
        let machine = try InProcessMachine(config: config, boot: boot)
        XCTAssertTrue(machine.run(untilCheckpointAt: reference.g / 3))
        var message = try machine.checkpoint()
        XCTAssertTrue(machine.run(untilCheckpointAt: reference.g / 2))
        let before = try machine.wait { machine.timeline.fingerprint(then: $0) }
        message.harts.swapAt(0, 1)
        XCTAssertThrowsError(try machine.restore(message)) { XCTAssertTrue("\($0)".contains("refused"), "\($0)") }
        XCTAssertEqual(try machine.wait { machine.timeline.fingerprint(then: $0) }, before)
        XCTAssertEqual(machine.run(gLimit: 2_000_000_000), end)
        XCTAssertEqual(machine.g, reference.g)
        XCTAssertEqual(machine.console, reference.console)
    }

    /// A checkpoint of format 2 (before the harts' caches were kept), 3 (before a hart's slice held where it sends its
    /// next check), 4 (before TLB entries could map a device's page) or 5 (before a hart's slice held its batch) is
    /// refused in one line naming both formats.
    func testRefusesACheckpointOfAnOlderFormat() throws {
        let (config, boot) = try plan("rtc", harts: 1, disk: false)
        let machine = try InProcessMachine(config: config, boot: boot)
        XCTAssertTrue(machine.run(untilCheckpointAt: 1_000))
        var checkpoint = try machine.checkpoint()
        XCTAssertEqual(checkpoint.formatVersion, checkpointFormatVersion)
        for older in [2, 3, 4, 5] as [UInt32] {
            checkpoint.formatVersion = older
            XCTAssertThrowsError(try InProcessMachine(config: config, boot: boot).restore(checkpoint)) {
                XCTAssertEqual("\($0)", "checkpoint format \(older) cannot be read: this rrvm reads format 6 only (its harts' "
                               + "caches, where each sends its next check and what it holds unsent are part of the state)")
            }
        }
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
