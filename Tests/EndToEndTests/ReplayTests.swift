import Foundation
import RRProto
import RRSequencer
import XCTest

/// Issue 5 as a user checks it: the same run every time, and a recording that replays exactly.
final class ReplayTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func logPath(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The lines smp-contend prints that depend on the interleaving.
    private func interleaving(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter {
            $0.hasPrefix("smp-contend: ") && ($0.contains("hash") || $0.contains(": order "))
        }
    }

    func testFourHartContentionPrintsTheSameInterleavingEveryRunEvenUnderLoad() throws {
        let program = try Harness.guest("smp-contend")
        var results: [[String]] = []
        for run in 0..<3 {
            // The third run competes with a process that keeps both host CPUs busy.
            let hog = run == 2 ? try CPUHog() : nil
            let contend = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", program])
            XCTAssertEqual(contend.wait(seconds: 300), 0, contend.output + contend.errors)
            hog?.stop()
            let lines = interleaving(contend.output)
            XCTAssertEqual(lines.count, 3, contend.output)
            results.append(lines)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2], "under host load")
    }

    /// A hart alone that only computes, with no event scheduled, runs in one slice (checks far apart here):
    /// typed input cuts that slice where it arrives, and the replay ends the slice at the same instruction.
    func testInputTypedWhileALoneHartComputesReachesItAtOnceAndReplaysExactly() throws {
        let log = logPath("computing.log")
        let recording = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel",
                                      try Harness.guest("input-while-computing"), "--record", log,
                                      "--check-interval", "1000000000000"],
                                     keepInputOpen: true, environment: ["RRVM_STATS": "1"])
        XCTAssertTrue(recording.waitForOutput("computing;", seconds: 60), recording.output + recording.errors)
        recording.send("a")
        XCTAssertTrue(recording.waitForOutput("got a", seconds: 20), recording.output + recording.errors)
        recording.send("q")
        XCTAssertEqual(recording.wait(), 0, recording.errors)
        XCTAssertTrue(recording.errors.contains("2 cut)"), "the hart cut its slice twice: \(recording.errors)")

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output, "the same instructions retired when each input came")
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors)
    }

    func testRecordingWithTypedInputReplaysByteForByte() throws {
        let log = logPath("echo.log")
        let recording = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo"),
                                      "--record", log], keepInputOpen: true)
        XCTAssertTrue(recording.waitForOutput("type characters", seconds: 60), recording.output + recording.errors)
        // Two separate inputs: the second is typed once the guest has echoed the first.
        recording.send("hello,")
        XCTAssertTrue(recording.waitForOutput("hello,", seconds: 30), recording.output)
        recording.send("rrvm!")
        XCTAssertTrue(recording.waitForOutput("hello,rrvm!", seconds: 30), recording.output)
        recording.send("q")
        XCTAssertEqual(recording.wait(), 0, recording.errors)
        XCTAssertTrue(recording.output.contains("hello,rrvm!"), recording.output)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output, "console output byte for byte")
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors)

        let stats = try RRCtlRun(["log", "stats", log])
        XCTAssertEqual(stats.wait(), 0, stats.errors)
        for field in ["detail compact", "bytes:", "instructions retired:", "bytes per 1,000 instructions:", "input: 3",
                      "check:", "end: 1"] {
            XCTAssertTrue(stats.output.contains(field), "\(field) missing in:\n\(stats.output)")
        }
        let inputs = try RRCtlRun(["log", "show", log, "--kind", "input"])
        XCTAssertEqual(inputs.wait(), 0, inputs.errors)
        let typed = inputs.output.split(separator: "\n").filter { $0.contains(" input console ") }
        XCTAssertEqual(typed.count, 3, inputs.output)
        for (line, text) in zip(typed, ["hello,", "rrvm!", "q"]) {
            XCTAssertTrue(line.contains("input console \"\(text)\""), inputs.output)
        }

        // JSON lines, one object per record, readable without rrvm.
        let json = try RRCtlRun(["log", "show", log, "--json"])
        XCTAssertEqual(json.wait(), 0, json.errors)
        let objects = try json.output.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
        XCTAssertEqual(objects.first?["record"] as? String, "header")
        XCTAssertEqual(objects.first?["harts"] as? Int, 2)
        XCTAssertEqual(objects.compactMap { $0["record"] as? String == "input" ? $0["console"] as? String : nil }.joined(),
                       "hello,rrvm!q")
        let checks = objects.filter { $0["record"] as? String == "check" }
        XCTAssertFalse(checks.isEmpty)
        XCTAssertEqual((checks.first?["harts"] as? [String])?.count, 2)
        XCTAssertEqual(objects.last?["record"] as? String, "end")
        XCTAssertEqual(objects.last?["guest_ended"] as? Bool, true)
    }

    func testRecordingStoppedByCtrlCReplaysUpToWhereItEnds() throws {
        let log = logPath("interrupted.log")
        let recording = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo"),
                                      "--record", log], keepInputOpen: true)
        XCTAssertTrue(recording.waitForOutput("type characters", seconds: 60), recording.output + recording.errors)
        recording.send("abc")
        XCTAssertTrue(recording.waitForOutput("abc", seconds: 30), recording.output)
        kill(recording.pid, SIGINT)
        XCTAssertEqual(recording.wait(seconds: 30), 128 + SIGINT)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 60), ReplayExit.logEnded, replay.errors)
        XCTAssertTrue(replay.errors.contains("end of the log"), replay.errors)
        XCTAssertEqual(replay.output, recording.output, "everything up to the interruption replays")
    }

    /// A recorded run whose guest failed replays with the guest's status, and says that the replay matched.
    func testAFailingGuestsReplayEndsWithItsStatusAndSaysItMatched() throws {
        let log = logPath("failing.log")
        let recording = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("finisher-code"),
                                      "--record", log])
        XCTAssertEqual(recording.wait(seconds: 60), 42, recording.errors)
        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 60), 42, replay.errors)
        XCTAssertEqual(replay.errors, "rrctl: the guest powered off with status 42, as recorded: the replay matched the recording\n")
        XCTAssertEqual(replay.output, recording.output)
    }

    func testAlteredInputOrStateHashStopsReplayAtItsG() throws {
        let program = try Harness.guest("smp-contend")
        let log = logPath("contend.log")
        let recording = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", program, "--record", log,
                                      "--check-interval", "200000"])
        XCTAssertEqual(recording.wait(seconds: 300), 0, recording.errors)

        // A hart's hash changed in a check: replay stops at that check, naming the hart, the last G where
        // every check agreed and the command that finds the first differing message.
        var records = try readRecords(log)
        let checks = records.indices.filter { records[$0].kindName == "check" }
        guard checks.count > 3 else { return XCTFail("only \(checks.count) checks in the log") }
        let index = checks[checks.count / 2]
        let victim = records[index].check
        let before = records[checks[checks.count / 2 - 1]].check.g
        records[index].check.harts[2] ^= 1
        let altered = logPath("altered.log")
        try write(records, header: try LogReader(path: log).header, to: altered)
        let replay = try RRCtlRun(["replay", altered])
        XCTAssertEqual(replay.wait(seconds: 300), ReplayExit.diverged, replay.errors)
        XCTAssertTrue(replay.errors.contains("replay diverged at G=\(victim.g), hart 2: state hash"), replay.errors)
        XCTAssertTrue(replay.errors.contains("every check agreed up to G=\(before)"), replay.errors)
        XCTAssertTrue(replay.errors.contains("--full-stream NEW.log --from \(before) --to \(victim.g)"), replay.errors)
        XCTAssertTrue(replay.leftovers().isEmpty)

        // The full stream of the compact log's replay equals, message by message, a full-detail recording
        // of the same (deterministic) run; the diff names the first message that differs.
        let full = logPath("contend-full.log")
        let fullRecording = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", program, "--record", full,
                                          "--check-interval", "200000", "--log-detail", "full"])
        XCTAssertEqual(fullRecording.wait(seconds: 300), 0, fullRecording.errors)
        let stream = logPath("stream.log")
        let streamed = try RRCtlRun(["replay", log, "--full-stream", stream])
        XCTAssertEqual(streamed.wait(seconds: 300), 0, streamed.errors)
        let same = try RRCtlRun(["log", "diff", full, stream])
        XCTAssertEqual(same.wait(), 0, same.output + same.errors)
        XCTAssertTrue(same.output.contains("the two logs hold the same"), same.output)
        let excerpt = logPath("excerpt.log")
        let interval = try RRCtlRun(["replay", log, "--full-stream", excerpt, "--from", String(before), "--to", String(victim.g)])
        XCTAssertEqual(interval.wait(seconds: 300), 0, interval.errors)
        let differs = try RRCtlRun(["log", "diff", full, excerpt])
        XCTAssertEqual(differs.wait(), ReplayExit.diverged, differs.output + differs.errors)
        XCTAssertTrue(differs.output.contains("first difference at record 1:"), differs.output)
        let outside = try RRCtlRun(["replay", log, "--full-stream", excerpt, "--from", "1", "--to", String(UInt64.max)])
        XCTAssertNotEqual(outside.wait(), 0)
        XCTAssertTrue(outside.errors.contains("is outside the log"), outside.errors)

        // Cut short: replays up to the end and says where it ends.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: log)))
        bytes.removeSubrange((try readEntries(log)[checks[checks.count / 3]].offset + 5)...)
        let cut = logPath("cut.log")
        try Data(bytes).write(to: URL(fileURLWithPath: cut))
        let partial = try RRCtlRun(["replay", cut])
        XCTAssertEqual(partial.wait(seconds: 300), ReplayExit.logEnded, partial.errors)
        XCTAssertTrue(partial.errors.contains("end of the log"), partial.errors)
    }

    func testDiskWritesGoToAnOverlayWhileRecordingSoTheDiskStillReplays() throws {
        let program = try Harness.guest("virtio-blk")
        let disk = directory.appendingPathComponent("disk.img")
        try Data(count: 1 << 20).write(to: disk)
        let log = logPath("disk.log")
        let recording = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", program, "--disk", disk.path,
                                      "--record", log])
        XCTAssertEqual(recording.wait(), 0, recording.output + recording.errors)
        XCTAssertEqual(try Data(contentsOf: disk), Data(count: 1 << 20), "a recording leaves the disk image unchanged")
        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output)

        // A plain run writes the disk in place.
        let plain = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", program, "--disk", disk.path])
        XCTAssertEqual(plain.wait(), 0, plain.errors)
        XCTAssertNotEqual(try Data(contentsOf: disk), Data(count: 1 << 20), "a plain run writes through")
    }

    func testChangedImageAndDamagedLogsAreRefusedBeforeAnythingRuns() throws {
        let program = directory.appendingPathComponent("hello.elf").path
        try FileManager.default.copyItem(atPath: try Harness.guest("uart-hello"), toPath: program)
        let log = logPath("hello.log")
        let recording = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", program, "--record", log])
        XCTAssertEqual(recording.wait(), 0, recording.errors)

        // The images may be found elsewhere by name: --image-dir.
        let moved = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: moved, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: program, toPath: moved.appendingPathComponent("hello.elf").path)
        let elsewhere = try RRCtlRun(["replay", log, "--image-dir", moved.path])
        XCTAssertEqual(elsewhere.wait(), 0, elsewhere.errors)

        // A log whose image went elsewhere than this rrctl would put it describes another machine: refused, naming both.
        var header = try LogReader(path: log).header
        let kernel = try XCTUnwrap(header.config.images.firstIndex { $0.role == "kernel" })
        let placed = header.config.images[kernel].loadAddress
        header.config.images[kernel].loadAddress = placed + 0x20_0000
        let movedKernel = logPath("moved-kernel.log")
        try write(try readRecords(log), header: header, to: movedKernel)
        let elsewhereInRAM = try RRCtlRun(["replay", movedKernel])
        XCTAssertEqual(elsewhereInRAM.wait(), 1, elsewhereInRAM.errors)
        XCTAssertTrue(elsewhereInRAM.errors.contains("the log's kernel was loaded at 0x\(String(placed + 0x20_0000, radix: 16)); "
            + "this rrctl places it at 0x\(String(placed, radix: 16))"), elsewhereInRAM.errors)
        XCTAssertTrue(elsewhereInRAM.output.isEmpty, elsewhereInRAM.output)

        var image = try Data(contentsOf: URL(fileURLWithPath: program))
        image[image.count - 1] ^= 0xFF
        try image.write(to: URL(fileURLWithPath: program))
        let changed = try RRCtlRun(["replay", log])
        XCTAssertNotEqual(changed.wait(), 0)
        XCTAssertTrue(changed.errors.contains("has changed since the recording"), changed.errors)

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: log)))
        bytes[8] = 77
        let foreign = logPath("v77.log")
        try Data(bytes).write(to: URL(fileURLWithPath: foreign))
        let version = try RRCtlRun(["replay", foreign])
        XCTAssertNotEqual(version.wait(), 0)
        XCTAssertTrue(version.errors.contains("version 77") && version.errors.contains("version \(logFormatVersion)"),
                      version.errors)
    }

    func testOneDeviceReplaysAloneFromTheLog() throws {
        let log = logPath("echo.log")
        let recording = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-echo"),
                                      "--record", log], input: "hello,rrvm!q\n")
        XCTAssertEqual(recording.wait(), 0, recording.errors)
        func replayDevice(_ index: Int, log: String) throws -> RRCtlRun {
            let run = try RRCtlRun(["--replay", log, "--device", String(index)],
                                   executable: Harness.binDirectory + "/rrvm-device")
            _ = run.wait()
            return run
        }
        let devices = try LogReader(path: log).header.config.devices
        let compact = try replayDevice(0, log: log)
        XCTAssertEqual(compact.process.terminationStatus, 1)
        XCTAssertTrue(compact.errors.contains("is a compact log"), compact.errors)
        let fullLog = logPath("echo-full.log")
        let full = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-echo"),
                                 "--record", fullLog, "--log-detail", "full"], input: "hello,rrvm!q\n")
        XCTAssertEqual(full.wait(), 0, full.errors)
        var records = try readRecords(fullLog)
        // Every device without DMA re-runs alone and answers as it did in the cluster.
        for (index, device) in devices.enumerated() where !device.dma {
            let alone = try replayDevice(index, log: fullLog)
            XCTAssertEqual(alone.process.terminationStatus, 0, alone.errors)
            XCTAssertTrue(alone.output.contains("every answer as recorded"), alone.output)
        }
        let uart = try XCTUnwrap(devices.firstIndex { $0.kind == .uart })
        let echoed = try replayDevice(uart, log: fullLog)
        let words = echoed.output.split(separator: " ")
        let count = words.firstIndex(of: "operations").flatMap { $0 > 0 ? Int(words[$0 - 1]) : nil } ?? 0
        // Each of the 12 typed characters is read from RBR (the echo's bytes, written while THR is output only,
        // reach the console in the hart's batches and never the UART).
        XCTAssertGreaterThanOrEqual(count, 12, "the UART saw the typed text's operations: \(echoed.output)")

        // A recorded answer changed: the device's own replay stops there, naming the G.
        let answers = records.indices.filter {
            if case .deviceDone? = records[$0].event.body { return records[$0].event.from == Endpoint.device(uart) }
            return false
        }
        let victim = answers[answers.count / 2]
        records[victim].event.deviceDone.value ^= 0x80
        let altered = logPath("altered-uart.log")
        try write(records, header: try LogReader(path: fullLog).header, to: altered)
        let diverged = try replayDevice(uart, log: altered)
        XCTAssertEqual(diverged.process.terminationStatus, ReplayExit.diverged, diverged.errors)
        XCTAssertTrue(diverged.errors.contains("diverged at G=\(records[victim].event.g)"), diverged.errors)

        // A DMA device needs the guest memory, which the log does not hold: a clear refusal.
        let dma = try XCTUnwrap(devices.firstIndex { $0.dma })
        let refused = try replayDevice(dma, log: fullLog)
        XCTAssertEqual(refused.process.terminationStatus, 1)
        XCTAssertTrue(refused.errors.contains("guest memory"), refused.errors)
    }

    private func readEntries(_ path: String) throws -> [LogEntry] {
        let reader = try LogReader(path: path)
        var entries: [LogEntry] = []
        while let entry = try reader.next() { entries.append(entry) }
        return entries
    }

    /// The CLINT of a 4-hart run re-runs alone from a full log that holds no answer to its foretold writes (the IPIs
    /// and timer compares the harts post, DeviceAccess.foretold): the other answers are still compared, as recorded.
    func testTheCLINTReplaysAloneAcrossItsForetoldWrites() throws {
        let fullLog = logPath("contend-full.log")
        let recording = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", try Harness.guest("smp-contend"),
                                      "--record", fullLog, "--log-detail", "full"])
        XCTAssertEqual(recording.wait(), 0, recording.errors)
        let clint = Endpoint.device(try XCTUnwrap(try LogReader(path: fullLog).header.config.devices.firstIndex { $0.kind == .clint }))
        let events = try readRecords(fullLog).map(\.event)
        let foretold = events.filter { $0.to == clint && $0.deviceAccess.foretold }.count
        let answers = events.filter { $0.from == clint && $0.kindName == "device_done" }.count
        XCTAssertGreaterThan(foretold, 300, "smp-contend's IPIs and timer compares are foretold")
        XCTAssertGreaterThan(answers, 0, "the writes before the CLINT first declared its registers were waited for and answered")
        let alone = try RRCtlRun(["--replay", fullLog, "--device", String(Endpoint.deviceIndex(clint))],
                                 executable: Harness.binDirectory + "/rrvm-device")
        XCTAssertEqual(alone.wait(), 0, alone.errors)
        XCTAssertTrue(alone.output.contains("\(answers) operations replayed, every answer as recorded"), alone.output)
    }

    private func readRecords(_ path: String) throws -> [Rrvm_LogRecord] { try readEntries(path).map(\.record) }

    private func write(_ records: [Rrvm_LogRecord], header: Rrvm_LogHeader, to path: String) throws {
        let writer = try LogWriter(path: path, header: header)
        for record in records { try writer.append(record) }
        try writer.flush()
    }
}

/// Keeps every host CPU busy until stopped.
final class CPUHog {
    private var processes: [Process] = []

    init() throws {
        for _ in 0..<ProcessInfo.processInfo.activeProcessorCount {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "while :; do :; done"]
            try process.run()
            processes.append(process)
        }
    }

    func stop() {
        for process in processes where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
