import Foundation
import XCTest

/// Issue 6 as a user sees it: `rrctl up` boots the default 4-hart Linux guest to its prompt, takes
/// commands, powers off with status 0, and a recorded session replays byte for byte.
final class LinuxGuestTests: XCTestCase {
    /// The default guest's images (cluster/build-guest.sh output), or a skip when they are not built.
    private func guest() throws -> [String] { try Harness.linuxGuest() }

    /// Types each command once the prompt count says the previous one finished.
    private func session(_ run: RRCtlRun, commands: [String]) {
        for (index, command) in commands.enumerated() {
            XCTAssertTrue(run.waitForOutputCount("rrvm# ", index + 1, seconds: 240), "prompt \(index + 1):\n\(run.output)")
            run.send(command + "\n")
        }
    }

    func testPlainUpBootsTheDefaultGuestOnFourHartsRunsCommandsAndPowersOff() throws {
        _ = try guest()
        let run = try RRCtlRun(["up"], keepInputOpen: true)
        session(run, commands: ["echo hello from the test", "cat /mnt/hello.txt", "nosuchcommand", "poweroff"])
        XCTAssertEqual(run.wait(seconds: 240), 0, run.errors)
        let output = run.output
        for expected in ["Platform HART Count       : 4", "cpus online:    4", "threads:        4 pinned, each ran on its own cpu",
                         "/mnt/hello.txt: Hello from the rrvm guest disk", "hello from the test",
                         "reboot: Power down"] {
            XCTAssertTrue(output.contains(expected), "\(expected) missing in:\n\(output)")
        }
        XCTAssertTrue(run.leftovers().isEmpty)
    }

    func testRecordedLinuxSessionReplaysByteForByte() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-linux-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let recording = try RRCtlRun(["up", "--record", log] + (try guest()), keepInputOpen: true)
        session(recording, commands: ["rand 32", "date", "uptime", "poweroff"])
        XCTAssertEqual(recording.wait(seconds: 240), 0, recording.errors)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 240), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output, "console output (dmesg timestamps, random bytes, clocks)")
    }

    /// The default 4-hart guest from power-on to power-off, recorded: its harts wait for few device answers (each a
    /// round trip through the sequencer and the device process), since Linux's writes to the PLIC's priority,
    /// enable and threshold registers and to the CLINT are posted and its reads of the UART's LSR and MSR are
    /// answered by the harts (about 880 waits before the PLIC's priorities and thresholds and the UART's MSR were
    /// declared, about 340 since: claims, the UART's IIR and IER, virtio); and the replay matches the recording.
    func testFourHartBootWaitsForFewDeviceAnswersAndReplaysExactly() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-boot-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let recording = try RRCtlRun(["up", "--record", log] + (try guest())
                                     + ["--append", "console=ttyS0 earlycon rrvm_poweroff=1"], environment: ["RRVM_STATS": "1"])
        XCTAssertEqual(recording.wait(seconds: 240), 0, recording.errors)
        XCTAssertTrue(recording.output.contains("reboot: Power down"), recording.output)
        let waits = recording.errors.split(separator: "\n").filter { $0.contains("rrvm-hart: hart ") }.compactMap { line in
            line.split(separator: ",").first { $0.hasSuffix(" MMIO waits") }.flatMap { Int($0.split(separator: " ")[0]) }
        }
        XCTAssertEqual(waits.count, 4, recording.errors)
        XCTAssertLessThan(waits.reduce(0, +), 500, recording.errors)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 240), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output)
    }

    /// The translating tier is invisible to the guest: a 4-hart boot recorded with every block translated at its
    /// first entry (`RRVM_TRANSLATE=eager`) replays to a match, check by check, with the interpreter alone
    /// (`RRVM_TRANSLATE=0`), and the other way round.
    func testARecordingMadeTranslatedReplaysInterpretedAndBack() throws {
        for (recordWith, replayWith) in [("eager", "0"), ("0", "1")] {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-tier-\(UUID().uuidString).log").path
            defer { try? FileManager.default.removeItem(atPath: log) }
            let recording = try RRCtlRun(["up", "--record", log] + (try guest())
                                         + ["--append", "console=ttyS0 earlycon rrvm_poweroff=1"],
                                         environment: ["RRVM_TRANSLATE": recordWith])
            XCTAssertEqual(recording.wait(seconds: 240), 0, recording.errors)
            XCTAssertTrue(recording.output.contains("reboot: Power down"), recording.output)
            let replay = try RRCtlRun(["replay", log], environment: ["RRVM_TRANSLATE": replayWith])
            XCTAssertEqual(replay.wait(seconds: 240), 0, "recorded with \(recordWith), replayed with \(replayWith): \(replay.errors)")
            XCTAssertEqual(replay.output, recording.output)
        }
    }

    func testBootsWithOneAndEightHarts() throws {
        for harts in [1, 8] {
            let run = try RRCtlRun(["up", "--smp", String(harts), "--memory", "512M"] + (try guest()), keepInputOpen: true)
            session(run, commands: ["poweroff"])
            XCTAssertEqual(run.wait(seconds: 300), 0, run.errors)
            XCTAssertTrue(run.output.contains("cpus online:    \(harts)"), run.output)
        }
    }

    /// Eight harts, threads started, joined and started again (glibc reuses and frees their stacks, so Linux fences
    /// the TLBs of the harts that ran them), recorded and replayed. With satp's ASID bit 0 dropped, Linux's fences for
    /// odd ASIDs missed and a new thread read its TLS through a stale translation: init segfaulted, the kernel panicked.
    func testEightHartsStartThreadsAgainAndAgainAndReplayIdentically() throws {
        let run = try RRCtlRun(["rr", "--smp", "8", "--eval", "cpus; cpus; cpus"] + (try guest()))
        XCTAssertEqual(run.wait(seconds: 300), 0, run.errors)
        let rounds = run.output.components(separatedBy: "threads:        8 pinned, each ran on its own cpu").count - 1
        XCTAssertEqual(rounds, 4, "the boot's round and three more:\n\(run.output)")
        XCTAssertFalse(run.output.contains("unhandled signal"), run.output)
        XCTAssertTrue(run.output.contains("rrctl rr: identical: "), run.output)
        XCTAssertTrue(run.leftovers().isEmpty)
    }

    func testKernelPanicIsReportedWithTheGuestsLastWords() throws {
        // No init at that path: the kernel panics ("No working init found").
        let run = try RRCtlRun(["up", "--smp", "2", "--append", "console=ttyS0 rdinit=/nonexistent"] + (try guest()))
        XCTAssertNotEqual(run.wait(seconds: 240), 0)
        XCTAssertTrue(run.errors.contains("Kernel panic"), run.errors)
        XCTAssertTrue(run.leftovers().isEmpty)
    }
}
