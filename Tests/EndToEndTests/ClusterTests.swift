import Foundation
import XCTest

/// `rrctl up` as a user runs it: real processes, the real bus, the console on standard output.
final class ClusterTests: XCTestCase {
    func testBareMetalProgramPrintsAndExitsWithTheGuestsStatus() throws {
        let hello = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-hello")])
        XCTAssertEqual(hello.wait(), 0, hello.errors)
        XCTAssertTrue(hello.output.contains("PASS uart-hello"), hello.output)
        XCTAssertTrue(hello.leftovers().isEmpty, "\(hello.leftovers())")

        let code = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("finisher-code")])
        XCTAssertEqual(code.wait(), 42, code.errors)
    }

    func testConsoleInputReachesTheGuest() throws {
        let echo = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                                keepInputOpen: true)
        XCTAssertTrue(echo.waitForOutput("type characters", seconds: 60), echo.output + echo.errors)
        echo.send("rrvm\n")
        XCTAssertTrue(echo.waitForOutput("rrvm", seconds: 30), echo.output)
        echo.send("q")
        XCTAssertEqual(echo.wait(), 0, echo.errors)
    }

    func testKilledHartStopsTheRunNamingItAndLeavesNothingBehind() throws {
        // SIGBUS as a hart gets it when its guest RAM cannot be backed: the message says so, not only "left the bus".
        for (signalNumber, name) in [(SIGKILL, "SIGKILL"), (SIGBUS, "SIGBUS")] {
            let run = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                                   keepInputOpen: true)
            XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
            guard let hart = Processes.find(["rrvm-hart", "--parent-pid\u{0}\(run.pid)\u{0}", "--hart\u{0}1"]) else {
                return XCTFail("hart 1 not found among \(run.leftovers())")
            }
            kill(hart, signalNumber)
            XCTAssertNotEqual(run.wait(seconds: 30), 0)
            XCTAssertTrue(run.errors.contains("hart 1"), run.errors)
            XCTAssertTrue(run.errors.contains("hart 1 (pid \(hart)) was killed by signal \(signalNumber) (\(name))"), run.errors)
            XCTAssertEqual(run.errors.split(separator: "\n").count, 1, run.errors)
            XCTAssertEqual(run.leftoversOnceGone(), [])
        }
    }

    func testInterruptAndTerminateTearEverythingDown() throws {
        for signalNumber in [SIGINT, SIGTERM] {
            let run = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                                   keepInputOpen: true)
            XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
            XCTAssertEqual(run.leftovers().count, 1 + 4 + 6, "sequencer, 4 harts, 6 devices: \(run.leftovers())")
            kill(run.pid, signalNumber)
            XCTAssertEqual(run.wait(seconds: 30), 128 + signalNumber)
            XCTAssertEqual(run.leftoversOnceGone(), [], "signal \(signalNumber)")
        }
    }

    func testKilledSupervisorTakesItsClusterWithIt() throws {
        let run = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                               keepInputOpen: true)
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        kill(run.pid, SIGKILL)
        run.wait(seconds: 10)
        XCTAssertEqual(run.leftoversOnceGone(), [])
    }

    func testIdleGuestTakesNextToNoHostCPU() throws {
        let run = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                               keepInputOpen: true)
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        usleep(300_000)
        let pids = [run.pid] + run.leftovers().compactMap { Int32($0.dropFirst(4).prefix { $0 != ":" }) }
        let before = pids.map(Processes.cpuSeconds).reduce(0, +)
        usleep(2_000_000)
        let used = pids.map(Processes.cpuSeconds).reduce(0, +) - before
        XCTAssertLessThan(used, 0.1, "\(pids.count) processes used \(used) s of CPU in 2 s of an idle guest")
        run.send("q")
        XCTAssertEqual(run.wait(), 0, run.errors)
    }

    func testPsListsTheRunningCluster() throws {
        let run = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                               keepInputOpen: true)
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        let ps = try RRCtlRun(["ps"])
        XCTAssertEqual(ps.wait(), 0, ps.errors)
        XCTAssertTrue(ps.output.contains("rrctl pid \(run.pid)"), ps.output)
        for role in ["sequencer", "hart 0", "hart 1", "device 1 (uart)"] {
            XCTAssertTrue(ps.output.contains(role), "\(role) missing in:\n\(ps.output)")
        }
        run.send("q")
        XCTAssertEqual(run.wait(), 0, run.errors)
    }

    func testStaleRunDirectoryOfACrashedRunIsCleanedUp() throws {
        // A run directory whose supervisor no longer exists, as a crashed rrctl leaves it.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/rrvm-\(getuid())" : NSTemporaryDirectory() + "rrvm-\(getuid())"
        let stale = base + "/999999-dead"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try "999999\n".write(toFile: stale + "/rrctl.pid", atomically: true, encoding: .utf8)
        try Data().write(to: URL(fileURLWithPath: stale + "/bus.sock"))
        let run = try RRCtlRun(["up", "--smp", "1", "--bios", "none", "--kernel", try Harness.guest("uart-hello")])
        XCTAssertEqual(run.wait(), 0, run.errors)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "the stale run directory is removed")
    }

    /// The sequencer, harts and devices keep to one host CPU (`RRVM_CPU` chooses it, as `--cpu N` of each); a
    /// CPU the machine lacks is one line and nothing runs.
    func testTheClusterKeepsToOneCPU() throws {
        let cpu = 0
        let run = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                               keepInputOpen: true, environment: ["RRVM_CPU": String(cpu)])
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        for role in ["rrvm-sequencer", "rrvm-hart", "rrvm-device"] {
            guard let pid = Processes.find([role, "--parent-pid\u{0}\(run.pid)\u{0}", "--cpu\u{0}\(cpu)"]) else {
                XCTFail("no \(role) with --cpu \(cpu) among \(run.leftovers())")
                continue
            }
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            XCTAssertTrue(status.contains("Cpus_allowed_list:\t\(cpu)\n"), "\(role) keeps to CPU \(cpu)")
            // On one CPU with the rest of the cluster a member stays a batch process (HostCPU.useShortSlices).
            if let scheduling = schedulingFields(of: pid) { XCTAssertEqual(scheduling["policy"], "3", "\(role) is SCHED_BATCH") }
        }
        run.send("q")
        XCTAssertEqual(run.wait(), 0, run.errors)

        for (value, message) in [("100000", "RRVM_CPU=100000: no CPU 100000"), ("", "RRVM_CPU must be a CPU number")] {
            let started = Date()
            let bad = try RRCtlRun(["up", "--bios", "none", "--kernel", try Harness.guest("uart-hello")],
                                   environment: ["RRVM_CPU": value])
            XCTAssertEqual(bad.wait(seconds: 30), 1)
            // At once: nothing was started, so nothing is waited for (it once waited out 10 s of join retries).
            XCTAssertLessThan(Date().timeIntervalSince(started), 3, "RRVM_CPU='\(value)' is refused at once")
            XCTAssertTrue(bad.errors.contains(message), bad.errors)
            XCTAssertTrue(bad.leftovers().isEmpty)
        }
    }

    /// Several harts and two CPUs: the harts keep to one CPU, the sequencer and the devices to another, and the
    /// sequencer and harts are told (`--split 1`: they poll for each other); `RRVM_CPU=N,M` chooses the two. One
    /// hart keeps the whole cluster on one CPU.
    func testSeveralHartsSplitTheClusterOverTwoCPUs() throws {
        let allowed = try allowedCPUs()
        guard allowed.count >= 2 else { throw XCTSkip("this test process may use one CPU only") }
        let (harts, sequencer) = (allowed[1], allowed[0])
        let run = try RRCtlRun(["up", "--smp", "2", "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                               keepInputOpen: true, environment: ["RRVM_CPU": "\(harts),\(sequencer)"])
        XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
        for (role, cpu, split) in [("rrvm-sequencer", sequencer, true), ("rrvm-device", sequencer, false), ("rrvm-hart", harts, true)] {
            guard let pid = Processes.find([role, "--parent-pid\u{0}\(run.pid)\u{0}", "--cpu\u{0}\(cpu)\u{0}"]) else {
                XCTFail("no \(role) with --cpu \(cpu) among \(run.leftovers())")
                continue
            }
            XCTAssertEqual(try allowedCPUList(of: String(pid)), String(cpu), "\(role) keeps to CPU \(cpu)")
            let commandLine = String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data(), as: UTF8.self)
            XCTAssertEqual(commandLine.contains("--split\u{0}1\u{0}"), split, "\(role): \(commandLine)")
            // The sequencer and the harts hand over to each other across the two CPUs: for the run, the normal
            // policy with short slices, so that a wake-up on a CPU another program keeps busy preempts it (a batch
            // process would wait out that program's slice); a device, woken by the sequencer beside it, stays batch.
            if let scheduling = schedulingFields(of: pid) {
                XCTAssertEqual(scheduling["policy"], split ? "0" : "3", "\(role)'s scheduling policy")
                if split, let slice = scheduling["se.slice"] { XCTAssertEqual(slice, "100000", "\(role) asked for 100 µs slices") }
            }
        }
        run.send("q")
        XCTAssertEqual(run.wait(), 0, run.errors)

        // Without RRVM_CPU: two harts split the cluster, one keeps it on one CPU.
        for harts in [1, 2] {
            let run = try RRCtlRun(["up", "--smp", String(harts), "--bios", "none", "--kernel", try Harness.guest("uart-echo")],
                                   keepInputOpen: true)
            XCTAssertTrue(run.waitForOutput("type characters", seconds: 60), run.output + run.errors)
            let cpus = try ["rrvm-sequencer", "rrvm-hart"].map { role -> String in
                let pid = try XCTUnwrap(Processes.find([role, "--parent-pid\u{0}\(run.pid)\u{0}"]), "no \(role)")
                return try allowedCPUList(of: String(pid))
            }
            XCTAssertEqual(cpus[0] != cpus[1], harts == 2, "\(harts) harts: sequencer and hart \(cpus)")
            run.send("q")
            XCTAssertEqual(run.wait(), 0, run.errors)
        }
    }

    /// RRVM_SLICE_TIMES (Benchmarks/slice-times.py): every hart and the sequencer note each hand-over, in the order of the
    /// clock, one Yield noted by the sequencer for each a hart sent; files that exist already are left as they are.
    func testSliceTimesNoteEveryHandOver() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-slice-times-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("run").path
        let arguments = ["up", "--smp", "4", "--bios", "none", "--kernel", try Harness.guest("smp-contend")]
        let run = try RRCtlRun(arguments, environment: ["RRVM_SLICE_TIMES": prefix, "RRVM_STATS": "1"])
        XCTAssertEqual(run.wait(), 0, run.errors)
        /// The points of one file: (point, tag, nanoseconds).
        func points(_ role: String) throws -> [[UInt64]] {
            let text = try String(contentsOfFile: "\(prefix).\(role)", encoding: .utf8)
            return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").compactMap { UInt64($0) } }
        }
        let sequencer = try points("sequencer")
        XCTAssertEqual(sequencer.map { $0[2] }, sequencer.map { $0[2] }.sorted(), "in the clock's order")
        let arrived = sequencer.filter { $0[0] == 11 }
        XCTAssertEqual(arrived.count, sequencer.filter { $0[0] == 12 }.count)
        var yields = 0
        for hart in 0..<4 {
            let noted = try points("hart-\(hart)")
            XCTAssertEqual(noted.map { $0[2] }, noted.map { $0[2] }.sorted(), "hart \(hart): in the clock's order")
            let sent = noted.filter { $0[0] == 2 }.count
            XCTAssertEqual(sent, arrived.filter { $0[1] == UInt64(hart) }.count, "hart \(hart)'s Yields, as the sequencer took them")
            XCTAssertGreaterThanOrEqual(noted.filter { $0[0] == 3 }.count, sent, "a Run before each Yield")
            yields += sent
        }
        let slices = try XCTUnwrap(run.errors.split(separator: " ").firstIndex(of: "slices,").flatMap { index in
            Int(run.errors.split(separator: " ")[index - 1])
        }, run.errors)
        XCTAssertGreaterThan(slices, 100, "the harts contend: many slices")
        XCTAssertEqual(yields, slices - 1, "every slice but the one that powered the machine off ends in a Yield")

        // Again with the same prefix: nothing is overwritten, and the run itself goes on.
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(prefix).sequencer"))
        let again = try RRCtlRun(arguments, environment: ["RRVM_SLICE_TIMES": prefix])
        XCTAssertEqual(again.wait(), 0, again.errors)
        XCTAssertTrue(again.errors.contains("cannot create \(prefix).sequencer"), again.errors)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(prefix).sequencer")), before)
    }

    /// A process's scheduling as /proc/PID/sched lists it ("policy", "se.slice", ...), nil where the kernel has no
    /// such file.
    private func schedulingFields(of pid: Int32) -> [String: String]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/sched", encoding: .utf8) else { return nil }
        return Dictionary(text.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            return (parts[0].trimmingCharacters(in: .whitespaces), parts[1].trimmingCharacters(in: .whitespaces))
        }, uniquingKeysWith: { first, _ in first })
    }

    /// The CPUs a process may run on as /proc/PID/status lists them (e.g. "0-1,4"); PID "self" for this one.
    private func allowedCPUList(of pid: String) throws -> String {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }, "no CPU list for \(pid)")
        return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
    }

    /// The CPUs this process may run on, one by one.
    private func allowedCPUs() throws -> [Int] {
        try allowedCPUList(of: "self").split(separator: ",").flatMap { range in
            let ends = range.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    func testBadInputIsOneClearLineAndNothingRuns() throws {
        let hello = try Harness.guest("uart-hello")
        let cases: [([String], String)] = [
            (["up", "--frobnicate"], "frobnicate"),
            (["up", "--bios", "none", "--kernel", "/nonexistent/kernel.elf"], "/nonexistent/kernel.elf"),
            (["up", "--smp", "0", "--bios", "none", "--kernel", "/bin/sh"], "--smp"),
            (["up", "--bios", "none", "--kernel", "/etc/hostname"], "/etc/hostname"),
            (["up", "--bios", Harness.projectRoot + "/README.md", "--kernel", "/bin/sh"], "README.md"),
            (["up", "--memory", "lots", "--bios", "none", "--kernel", "/bin/sh"], "lots"),
            (["replay", "/nonexistent/run.log"], "/nonexistent/run.log"),
            (["log", "show", Harness.projectRoot + "/Package.swift"], "not an rrvm log"),
            (["log", "show", "any.log", "--from", "10", "--to", "5"], "--from 10 is after --to 5"),
            (["up", "--bios", "none", "--kernel", hello, "--disk", "/nonexistent/disk.img"], "/nonexistent/disk.img"),
        ]
        for (arguments, mention) in cases {
            let run = try RRCtlRun(arguments)
            XCTAssertNotEqual(run.wait(seconds: 30), 0, "\(arguments)")
            XCTAssertTrue(run.errors.contains(mention), "\(arguments): \(run.errors)")
            XCTAssertTrue(run.leftovers().isEmpty)
        }
    }
}
