import Foundation
import XCTest

/// Issue 15 as a user sees it: `rrctl up --eval` runs commands in the default guest and carries their
/// status out through the test finisher; `rrctl rr` records, replays and compares the two consoles.
final class EvalTests: XCTestCase {
    private var scratch = ""

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-eval-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// The guest's tty writes "\r\n"; Swift's String sees that as one character, not as "\n".
    private func unixLines(_ text: String) -> String { text.replacingOccurrences(of: "\r\n", with: "\n") }

    /// The default guest's directory, or a skip when it is not built.
    private func guestDirectory() throws -> String {
        let directory = ProcessInfo.processInfo.environment["RRVM_GUEST_DIR"] ?? Harness.projectRoot + "/cluster/out"
        for file in ["fw_jump.bin", "Image", "initramfs.cpio", "disk.ext2", "manifest.txt"]
        where !FileManager.default.fileExists(atPath: directory + "/" + file) {
            throw XCTSkip("the default guest is not built (\(directory)/\(file) is missing; cluster/test.sh builds it)")
        }
        return directory
    }

    func testRRRecordsReplaysAndSaysIdenticalOnFourHarts() throws {
        let guest = try guestDirectory()
        // A copy of the initrd, to change it after the recording.
        let initrd = scratch + "/initramfs.cpio"
        try FileManager.default.copyItem(atPath: guest + "/initramfs.cpio", toPath: initrd)
        let log = scratch + "/rr.log"
        let run = try RRCtlRun(["rr", "--smp", "4", "--initrd", initrd, "--record", log, "--eval", "rand 16; dmesg"])
        XCTAssertEqual(run.wait(seconds: 400), 0, run.output + run.errors)
        let output = unixLines(run.output)
        XCTAssertTrue(output.contains("rrctl rr: identical: "), output)
        // The recorded console holds the commands' output: the random bytes and the timestamped kernel log.
        let afterRand = try XCTUnwrap(output.range(of: "rrvm# rand 16\n"), output)
        let randomLine = output[afterRand.upperBound...].prefix { $0 != "\n" }
        XCTAssertNotNil(randomLine.range(of: #"^  random: +[0-9a-f]{32}$"#, options: .regularExpression), String(randomLine))
        let afterDmesg = try XCTUnwrap(output.range(of: "rrvm# dmesg\n"), output)
        XCTAssertNotNil(output[afterDmesg.upperBound...].range(of: #"\[ +0\.000000\] Linux version 6\.1"#, options: .regularExpression),
                        output)
        XCTAssertTrue(output.contains("rrvm: powering off with status 0"), output)
        XCTAssertNotNil(output.range(of: #"rrctl rr: [0-9]+ instructions, G=[0-9]+; record [0-9.]+ s, replay [0-9.]+ s; log [0-9]+ bytes in "#,
                                     options: .regularExpression), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: log))
        XCTAssertTrue(run.leftovers().isEmpty)

        // An image changed after the recording is refused, naming it.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: initrd))
        handle.seekToEndOfFile()
        handle.write(Data([0]))
        handle.closeFile()
        let replay = try RRCtlRun(["replay", log])
        XCTAssertNotEqual(replay.wait(seconds: 60), 0)
        XCTAssertTrue(replay.errors.contains("initrd image \(initrd) has changed since the recording"), replay.errors)
    }

    func testEvalStatusIsTheFirstFailingCommandsAndReplaysTheSame() throws {
        _ = try guestDirectory()
        let log = scratch + "/status.log"
        // Quotes, '%' and a tab must reach the guest as typed; every command runs, the first failure decides.
        let run = try RRCtlRun(["up", "--smp", "2", "--record", log,
                                "--eval", "echo \"q%20\" 100%\tx; false; nosuchcommand; echo after the failures"])
        XCTAssertEqual(run.wait(seconds: 300), 1, run.output + run.errors)
        let output = unixLines(run.output)
        XCTAssertTrue(output.contains("rrvm# echo \"q%20\" 100%\tx\n\"q%20\" 100% x\n"), output)
        XCTAssertTrue(output.contains("rrvm: unknown command 'nosuchcommand'"), output)
        XCTAssertTrue(output.contains("after the failures"), output)
        XCTAssertTrue(output.contains("rrvm: powering off with status 1"), output)
        XCTAssertTrue(run.errors.contains("the guest powered off with status 1"), run.errors)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 300), 1, replay.errors)

        let exit = try RRCtlRun(["up", "--smp", "1", "--eval", "true; exit 42; echo not reached"])
        XCTAssertEqual(exit.wait(seconds: 300), 42, exit.output + exit.errors)
        XCTAssertFalse(exit.output.contains("not reached"), exit.output)
    }

    func testEvalThatCannotBeCarriedIsRefusedWithOneLine() throws {
        let long = String(repeating: "echo 0123456789; ", count: 64)
        // A kernel that does not exist: the --eval checks come first, so no guest is needed.
        let kernel = ["--kernel", "/nonexistent"]
        for (arguments, expected) in [
            // The limit named is Linux's: 1023 bytes of command line on RISC-V.
            (["up", "--eval", long] + kernel, "--eval is too long: the kernel command line would be 1377 bytes"),
            (["up", "--eval", long] + kernel, "Linux on RISC-V keeps at most 1023"),
            (["rr", "--eval", long] + kernel, "--eval is too long"),
            (["up", "--eval", " ; ;"] + kernel, "--eval needs at least one command"),
            // An --append Linux would cut short, with --eval or without.
            (["up", "--append", String(repeating: "a", count: 1100), "--eval", "true"] + kernel,
             "--append is too long: 1100 bytes of kernel command line; Linux on RISC-V keeps at most 1023"),
            (["up", "--append", String(repeating: "a", count: 1024)] + kernel, "--append is too long: 1024 bytes"),
            (["up", "--append", "console=ttyS0 rrvm.eval=true", "--eval", "true"] + kernel, "--append already holds rrvm.eval="),
            (["rr", "--smp", "2"], "rr needs --eval"),
            (["up", "--eval", "true", "--timeout", "0"] + kernel, "--timeout must be a number of seconds above 0"),
        ] {
            let run = try RRCtlRun(arguments)
            XCTAssertNotEqual(run.wait(seconds: 60), 0, arguments.joined(separator: " "))
            XCTAssertEqual(run.errors.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1, run.errors)
            XCTAssertTrue(run.errors.contains(expected), "\(expected) missing in: \(run.errors)")
            XCTAssertTrue(run.output.isEmpty, run.output)
        }
    }

    /// With 64 MiB, QEMU's place for the initrd is where fw_jump copies the device tree (init crashed, in QEMU too);
    /// with less than that copy needs, fw_jump wrote outside RAM and the machine hung without a word.
    func testTheDefaultGuestBootsIn64MiBAndTooLittleRAMIsRefusedAtOnce() throws {
        _ = try guestDirectory()
        let run = try RRCtlRun(["up", "--smp", "2", "--memory", "64M", "--eval", "cat /proc/meminfo"])
        XCTAssertEqual(run.wait(seconds: 300), 0, run.output + run.errors)
        XCTAssertNotNil(run.output.range(of: #"MemTotal: +[0-9]+ kB"#, options: .regularExpression), run.output)
        XCTAssertTrue(run.leftovers().isEmpty)

        let small = try RRCtlRun(["up", "--memory", "32M"])
        XCTAssertEqual(small.wait(seconds: 60), 1, small.errors)
        XCTAssertTrue(small.errors.contains("fw_jump.bin copies the device tree to 0x82200000, outside 32 MiB of RAM: "
            + "give the machine more RAM"), small.errors)
        XCTAssertTrue(small.output.isEmpty, small.output)
        XCTAssertTrue(small.leftovers().isEmpty)
    }

    func testRRRefusesAnExistingRecordFile() throws {
        let existing = scratch + "/existing.log"
        _ = FileManager.default.createFile(atPath: existing, contents: Data("keep me".utf8))
        let run = try RRCtlRun(["rr", "--record", existing, "--eval", "true"])
        XCTAssertNotEqual(run.wait(seconds: 60), 0)
        XCTAssertTrue(run.errors.contains("the file exists; give --force to overwrite it"), run.errors)
        XCTAssertEqual(FileManager.default.contents(atPath: existing), Data("keep me".utf8))
    }

    func testEvalToAProgramThatIgnoresItEndsAtTheTimeout() throws {
        // uart-echo waits for console input forever; --eval means no input is forwarded.
        let program = try Harness.guest("uart-echo")
        let run = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", program, "--eval", "poweroff", "--timeout", "2"])
        XCTAssertEqual(run.wait(seconds: 60), 124, run.errors)
        XCTAssertTrue(run.errors.contains("the guest did not power off within 2.0 s of host time (--timeout)"), run.errors)
        XCTAssertTrue(run.leftovers().isEmpty)
    }
}
