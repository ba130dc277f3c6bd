#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRNode
import RRProto
import RVPlatform

/// Brings a cluster up from a prepared run directory and supervises it: the sequencer, one process per
/// hart and per device, the console on this terminal, and a clean teardown whatever happens.
final class Cluster {
    private let loop = EventLoop()
    private let runDirectory: RunDirectory
    private let config: Rrvm_MachineConfig
    private let sequencerArguments: [String]
    private let forwardInput: Bool
    private let debugger: DebuggerOptions
    private var sequencer: ChildProcess?
    private var members: [ChildProcess] = []
    private var control: Connection?
    private var input: ConsoleInput?
    private var signals: [SignalWatcher] = []
    private var shutdown: Rrvm_Shutdown?
    private var failure: String?
    private var exitCode: Int32 = 0
    private var tearingDown = false
    /// Members that ended by a signal rrctl did not send (a crash such as SIGBUS, or someone's kill): the run's end
    /// names them, as the sequencer, which noticed first, can only say that they left the bus.
    private var signalledMembers: [String] = []
    /// Whether teardown has sent SIGKILL to whoever was left.
    private var killSent = false
    private var output: ConsoleOutput?
    /// The console's last bytes, enough to hold a panic marker that straddles two chunks.
    private var consoleTail: [UInt8] = []
    /// What the guest printed from the panic marker on (at most `panicReportBytes`), once seen.
    private var panicText: [UInt8]?
    private static let panicMarker = Array("Kernel panic - not syncing".utf8)
    private static let panicReportBytes = 1024
    private let terminal = TerminalMode()
    /// `--timeout`: host seconds after which the run is stopped (a guest that never powers off).
    var timeout: Double?
    private var timeoutTimer: LoopTimer?

    /// `sequencerArguments` adds --record FILE or --replay FILE; `debugger` may give the sequencer (every hart
    /// a thread) or one hart a GDB port.
    init(runDirectory: RunDirectory, config: Rrvm_MachineConfig, sequencerArguments: [String], forwardInput: Bool,
         debugger: DebuggerOptions) {
        self.debugger = debugger
        self.runDirectory = runDirectory
        self.config = config
        self.sequencerArguments = sequencerArguments
        self.forwardInput = forwardInput
    }

    /// Runs the cluster to its end and returns the exit status: the guest's, or non-zero with a reason.
    func run() -> Int32 {
        defer {
            terminal.restore()
            runDirectory.remove()
        }
        // A closed standard output (`rrctl up | head`) is an error from write, handled below, not a signal.
        signal(SIGPIPE, SIG_IGN)
        let output = ConsoleOutput(loop: loop) { [unowned self] reason in
            self.fail(code: 128 + SIGPIPE, "standard output was closed (\(reason)): the run is stopped")
        }
        output.onFirstDrop = {
            report("rrctl", "standard output is not being read: console output is being dropped (the guest runs on)")
        }
        self.output = output
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signals.append(SignalWatcher(loop: loop, signal: signalNumber) { [unowned self] number in
                self.fail(code: 128 + number, "stopped by \(number == SIGINT ? "Ctrl-C" : "signal \(number)")")
            })
        }
        do {
            try runDirectory.writeConfig(config)
            try start()
        } catch {
            fail(code: 1, "\(error)")
        }
        // A cluster that could not start has nothing to join or time, and when none of its members
        // started, nothing to wait for (the loop would otherwise wait out the join's retries).
        if !tearingDown { joinAsControl() }
        if !tearingDown, let timeout {
            let timer = LoopTimer(loop: loop)
            timer.start(milliseconds: UInt64(timeout * 1000)) { [unowned self] in
                self.fail(code: timeoutExitCode, "the guest did not power off within \(formatSeconds(timeout)) s of host time (--timeout); stopped it")
            }
            timeoutTimer = timer
        }
        if !isTornDown { loop.run() }
        output.finish(milliseconds: 2000)
        if output.droppedBytes > 0 {
            report("rrctl", "\(output.droppedBytes) bytes of console output were dropped: standard output was not read")
        }
        if let reason = failure ?? shutdown.flatMap({ $0.exitCode != 0 ? $0.reason : nil }) {
            report("rrctl", reason + signalledMembers.filter { !reason.contains($0) }.map { "; \($0)" }.joined())
        }
        return exitCode
    }

    private func start() throws {
        let directory = executableDirectory()
        let placement = try clusterPlacement()
        let common = ["--run-dir", runDirectory.path, "--parent-pid", String(getpid())]
        func on(_ cpu: Int?) -> [String] { cpu.map { ["--cpu", String($0)] } ?? [] }
        let split = placement.isSplit ? ["--split", "1"] : []
        // --gdb alone: the sequencer serves every hart as a thread; with --gdb-hart N, that hart serves itself.
        let clusterGDB = debugger.gdbHart == nil ? debugger.gdb.map { ["--gdb", $0] } ?? [] : []
        // rrctl moves to the CPU each member starts on to start it, so that its loading and the runtime's set-up (a
        // member's costliest part) are done there. Where the sequencer and the devices start aside (`--start-cpu`),
        // the run begins once the harts have joined (see SequencerNode.mayBeginBeforeDevices): the harts right
        // after the sequencer, and the devices once it is up (`startDevices`), so that their starts do not delay
        // its own, and with it the harts' join. Elsewhere the run begins once everyone has joined.
        let startCPU = placement.sequencerStart ?? placement.sequencer
        let sequencerCPU = on(placement.sequencer) + (placement.sequencerStart.map { ["--start-cpu", String($0)] } ?? [])
        sequencer = try HostCPU.whileOn(startCPU) {
            try spawn(name: "sequencer", path: directory + "/rrvm-sequencer",
                      arguments: common + sequencerCPU + split + sequencerArguments + clusterGDB)
        }
        let devices = { [unowned self] in
            try HostCPU.whileOn(startCPU) {
                for (index, device) in config.devices.enumerated() {
                    _ = try spawn(name: "device \(index) (\(device.kindName))", path: directory + "/rrvm-device",
                                  arguments: common + sequencerCPU + ["--device", String(index), "--kind", device.kindName])
                }
            }
        }
        if placement.sequencerStart == nil { try devices() } else { startDevices = devices }
        try HostCPU.whileOn(placement.harts) {
            for hart in 0..<Int(config.harts) {
                let gdb = debugger.gdb.map { hart == debugger.gdbHart ? ["--gdb", $0] : [] } ?? []
                _ = try spawn(name: "hart \(hart)", path: directory + "/rrvm-hart",
                              arguments: common + on(placement.harts) + split + ["--hart", String(hart)] + gdb)
            }
        }
    }

    /// Starts the devices once rrctl has joined (the sequencer is up), where they start aside; nil once started.
    private var startDevices: (() throws -> Void)?

    /// The host CPUs the cluster keeps to (see `HostCPU`): the harts', and the sequencer's and devices'; and
    /// where the sequencer and the devices start if not there (`--start-cpu`).
    struct Placement {
        var harts: Int?
        var sequencer: Int?
        var sequencerStart: Int?
        var isSplit: Bool { harts != nil && sequencer != nil && harts != sequencer }
    }

    /// Where the cluster runs (see `HostCPU`): `RRVM_CPU=N` all on CPU N, `RRVM_CPU=N,M` the harts on N and the
    /// sequencer and devices on M, `RRVM_CPU=none` wherever the kernel places each process. Else on the CPU rrctl
    /// runs on as it starts them (the kernel placed rrctl, just started, on a little-used one): all of it for one
    /// hart (no hart ever hands over to another, and a second CPU would only take work the first can do in the
    /// same time: a console flood's), the harts alone for several, the rest then on the next CPU rrctl may use (or
    /// the same one if there is no other). rrctl itself stays free. A one-CPU cluster starts its sequencer and devices
    /// on the next CPU, and each moves to the harts' once it has joined: their start (some 2 ms of CPU each) is then
    /// not taken from the hart, which runs the guest from the moment it has joined.
    private func clusterPlacement() throws -> Placement {
        guard let text = ProcessInfo.processInfo.environment["RRVM_CPU"] else {
            let harts = HostCPU.current
            guard config.harts < 2 else { return Placement(harts: harts, sequencer: harts.map { HostCPU.other(than: $0) ?? $0 }) }
            return Placement(harts: harts, sequencer: harts, sequencerStart: harts.flatMap { HostCPU.other(than: $0) })
        }
        if text == "none" { return Placement() }
        let malformed = NodeError("RRVM_CPU must be a CPU number, two (harts,sequencer) or 'none', not '\(text)'")
        let cpus = try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
            guard let cpu = Int(item), cpu >= 0 else { throw malformed }
            guard HostCPU.isAllowed(cpu) else { throw NodeError("RRVM_CPU=\(text): no CPU \(cpu) on this machine, or not one rrctl may run on") }
            return cpu
        }
        guard cpus.count == 1 || cpus.count == 2 else { throw malformed }
        return Placement(harts: cpus[0], sequencer: cpus.last!)
    }

    private func spawn(name: String, path: String, arguments: [String]) throws -> ChildProcess {
        let child = try ChildProcess(loop: loop, name: name, path: path, arguments: arguments) { [unowned self] exit in
            self.childExited(name: name, exit: exit)
        }
        members.append(child)
        return child
    }

    private func childExited(name: String, exit: ChildExit) {
        if let sequencer, sequencer.exited == exit, name == "sequencer" {
            if case .status(let code) = exit {
                if failure == nil { exitCode = processExitStatus(guestStatus: shutdown?.exitCode ?? code) }
                if shutdown == nil && failure == nil && code != 0 {
                    failure = "the sequencer stopped (status \(code))"
                }
            } else if failure == nil {
                fail(code: 1, "the sequencer (pid \(sequencer.pid)) \(exit)")
            }
            teardown()
            return
        }
        let pid = members.first { $0.name == name }?.pid ?? 0
        if case .signal = exit, !killSent { signalledMembers.append("\(name) (pid \(pid)) \(exit)") }
        if !tearingDown && shutdown == nil {
            // A dying sequencer takes every member with it: wait a moment, so that the first cause is named.
            loop.after(milliseconds: 50) { [unowned self] in
                if !self.tearingDown && self.shutdown == nil { self.fail(code: 1, "\(name) (pid \(pid)) \(exit); the run is stopped") }
            }
        }
        finishIfAllExited()
    }

    private func joinAsControl() {
        joinWithRetry(loop: loop, runDirectory: runDirectory, role: .control, index: 0, name: "rrctl") {
            [unowned self] result in
            switch result {
            case .success(let (connection, _)):
                if self.tearingDown { return connection.close() }
                self.attached(connection)
                do {
                    try self.startDevices?()
                } catch {
                    self.fail(code: 1, "\(error)")
                }
                self.startDevices = nil
            case .failure(let error):
                if !self.tearingDown { self.fail(code: 1, "cannot reach the sequencer: \(error)") }
            }
        }
    }

    private func attached(_ connection: Connection) {
        control = connection
        connection.onEnvelope { [unowned self] envelope in
            switch envelope.body {
            case .consoleOutput(let output)?:
                self.console([UInt8](output.data))
            case .inputFlow(let flow)?:
                // The guest has not taken what came: the rest waits on the host (see Sequencer.consoleInputWindow).
                if flow.hold { self.input?.hold() } else { self.input?.resume() }
            case .shutdown(let shutdown)?:
                self.shutdown = shutdown
            default:
                break
            }
        }
        connection.onClose = { _ in }
        guard forwardInput else { return }
        terminal.enterCharacterMode()
        input = ConsoleInput(loop: loop, descriptor: 0, onData: { [weak connection] bytes in
            var envelope = Rrvm_Envelope()
            envelope.body = .hostInput(.with { $0.console = Data(bytes) })
            connection?.send(envelope)
        }, onEnd: {})
    }

    private func console(_ bytes: [UInt8]) {
        output?.write(bytes)
        watchForPanic(bytes)
    }

    /// A Linux guest that panics never powers off: once the panic message is complete, stop the run
    /// and say what the guest printed last. (Only the supervisor reacts; the guest is not affected.)
    /// Each chunk is searched once, with the few bytes before it (a console flood costs no more than a copy).
    private func watchForPanic(_ bytes: [UInt8]) {
        if let text = panicText {
            if text.count < Self.panicReportBytes { panicText! += bytes.prefix(Self.panicReportBytes - text.count) }
            return
        }
        let marker = Self.panicMarker
        consoleTail += bytes
        guard let start = Self.firstIndex(of: marker, in: consoleTail) else {
            consoleTail.removeFirst(max(0, consoleTail.count - (marker.count - 1)))
            return
        }
        panicText = Array(consoleTail[start...].prefix(Self.panicReportBytes))
        consoleTail = []
        loop.after(milliseconds: 1500) { [unowned self] in
            let text = String(decoding: self.panicText ?? [], as: UTF8.self)
            let lines = text.split(separator: "\n").prefix(3).map { trimmingWhitespace($0) }
            self.fail(code: 1, "the guest kernel panicked: " + lines.joined(separator: " | "))
        }
    }

    /// Where `needle` first occurs in `haystack`.
    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = 0
        while let found = haystack[index...(haystack.count - needle.count)].firstIndex(of: first) {
            if haystack[found..<(found + needle.count)].elementsEqual(needle) { return found }
            index = found + 1
            if index > haystack.count - needle.count { return nil }
        }
        return nil
    }

    /// Stops the run with a reason (the first reason wins).
    private func fail(code: Int32, _ reason: String) {
        if failure == nil && shutdown == nil {
            failure = reason
            exitCode = code
        }
        teardown()
    }

    /// Asks the sequencer to stop (it flushes the log), then makes sure every process is gone.
    private func teardown() {
        guard !tearingDown else { return finishIfAllExited() }
        tearingDown = true
        input?.close()
        input = nil
        // The sequencer flushes the log and tells every member to stop; whoever is still there after
        // that (a hung or stopped process) is killed. Members ignore SIGTERM, so only SIGKILL ends them.
        if let control, control.isOpen, let failure {
            // Ask over the bus, so that the log's end and the sequencer's last word carry rrctl's reason.
            var envelope = Rrvm_Envelope()
            envelope.body = .shutdown(.with { $0.exitCode = exitCode; $0.reason = failure })
            control.send(envelope)
        } else {
            sequencer?.send(signal: SIGTERM)
        }
        loop.after(milliseconds: 500) { [unowned self] in
            self.killSent = true
            for member in self.members { member.send(signal: SIGKILL) }
        }
        finishIfAllExited()
    }

    /// Tearing down and every member gone.
    private var isTornDown: Bool { tearingDown && members.allSatisfy { !$0.isRunning } }

    private func finishIfAllExited() {
        guard isTornDown else { return }
        control?.close()
        timeoutTimer?.close()
        for watcher in signals { watcher.close() }
        loop.stop()
    }

    /// The directory holding rrctl and the role executables (they are built side by side).
    private func executableDirectory() -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return parentDirectory(of: path)
    }
}

/// Puts a terminal on standard input into character mode (no line buffering, no local echo: the guest
/// echoes), keeping Ctrl-C as a signal so that it stops the cluster; restores it on every exit path.
final class TerminalMode {
    private var saved: termios?

    func enterCharacterMode() {
        guard isatty(0) == 1, saved == nil else { return }
        var settings = termios()
        guard tcgetattr(0, &settings) == 0 else { return }
        saved = settings
        settings.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(0, TCSANOW, &settings)
    }

    func restore() {
        guard var settings = saved else { return }
        tcsetattr(0, TCSANOW, &settings)
        saved = nil
    }
}
