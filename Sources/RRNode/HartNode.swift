#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRProto
import RRRoles
import RVHart

/// One vCPU process: a `HartRunner` on the libuv bus. Everything the hart decides is in the runner; this
/// joins the cluster, maps guest RAM, carries messages, polls for MMIO answers, and serves a debugger.
final class HartNode: HartTransport {
    private let loop = EventLoop()
    private let runDirectory: RunDirectory
    private let index: Int
    private var connection: Connection?
    private var ram: SharedRAM?
    private var runner: HartRunner?
    private var exitCode: Int32 = 0
    private var stopped = false

    // For RRVM_STATS=1: how much host time the hart spent waiting for MMIO answers.
    private var waitNanoseconds: UInt64 = 0
    private var waitStartedAt: UInt64?
    /// When the hart last ended a slice, and how long after that it polls for its next Run (see `run`).
    private var lastYield: (at: UInt64, pollFor: UInt64)?
    /// Kept to one host CPU with the rest of the cluster (`HostCPU`): then it never polls, since the process
    /// it waits for can only run once it sleeps.
    private let alone = HostCPU.isAlone
    /// A split cluster's turns (see `TurnBoard`): while its Run is not there, a hart that gets the CPU when another is
    /// next rests instead of polling, and one whose slice ends wakes the next if it rests.
    private var turns: TurnTaker?

    // A debugger (`--gdb PORT|unix:PATH`): the hart starts paused and runs only while the debugger lets it.
    private let gdbAddress: BusAddress?
    private var gdb: GDBServer?
    private var oneHartTarget: OneHartTarget?
    /// DEBUG_RESUME requests carried out (see DebugReply.id).
    private var debugResumes: UInt32 = 0
    /// Breakpoints and watchpoints taken off for a while (DEBUG_SUSPEND_BREAKPOINTS).
    private var suspended: (breakpoints: [UInt64], watchpoints: [Watchpoint])?

    init(runDirectory: RunDirectory, index: Int, gdbAddress: BusAddress? = nil) {
        self.runDirectory = runDirectory
        self.index = index
        self.gdbAddress = gdbAddress
    }

    func run() -> Int32 {
        loop.defersDoorbells = alone
        joinWithRetry(loop: loop, runDirectory: runDirectory, role: .hart, index: index, name: "hart \(index)") {
            [unowned self] result in
            switch result {
            case .failure(let error):
                self.stop(1, "hart \(self.index) cannot join the cluster: \(error)")
            case .success(let (connection, welcome)):
                self.connection = connection
                do {
                    try self.setUp(welcome.config)
                } catch {
                    return self.stop(1, "hart \(self.index): \(error)")
                }
                HostCPU.useShortSlices()
                connection.onMessage { [unowned self] header, body in self.deliver(header, body) }
                connection.onClose = { [unowned self] reason in
                    self.stop(1, isSupervised ? nil : "hart \(self.index) lost the sequencer: \(reason)")
                }
            }
        }
        // A hart that ended a slice no other hart could have run in will most likely run the next one too:
        // it polls for that Run for a moment (200 µs) rather than sleeping, which saves a wake-up per slice while
        // the sequencer, which sleeps through a computing slice, handles the yield. One that ended a slice
        // another hart waited for polls for 50 µs: with harts contending, slices are short, and the harts that
        // wait poll, each yielding the CPU at every round, so that the harts' CPU does not idle between two slices
        // and the next hart finds its Run at its next round, without a wake-up (see `HostCPU`: smp-contend's
        // switches cost 20 -> 11 µs with the cluster split). Which poller the kernel runs next is its choice, though;
        // with the turn board of a split cluster, a hart that gets the CPU while another is next, or that has waited
        // long, rests instead, and the hart before it wakes it when its turn comes (see `TurnBoard`, `TurnTaker`).
        loop.run(pollingWhile: { [unowned self] in
            // Woken from a rest (by the hart before it): it polls afresh.
            if turns?.wakeUp(loop: loop) == true { lastYield?.at = EventLoop.monotonicNanoseconds() }
            guard !alone, let lastYield, runner?.sliceActive == false else {
                SliceTimes.note(.sleeps)
                return false
            }
            let now = EventLoop.monotonicNanoseconds()
            let waitedLong = now &- lastYield.at >= lastYield.pollFor
            if let turns {
                if turns.nextStep(now: now, waitedLong: waitedLong, loop: loop) == .rest {
                    SliceTimes.note(.rests)
                    return false
                }
            } else if waitedLong {
                SliceTimes.note(.sleeps)
                return false
            }
            SliceTimes.note(.looks)
            return true
        }, until: { [unowned self] in stopped })
        gdb?.close()
        return exitCode
    }

    private func setUp(_ config: Rrvm_MachineConfig) throws {
        let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
        self.ram = ram
        if TurnBoard.serves(harts: Int(config.harts)) {
            do {
                turns = TurnTaker(board: try TurnBoard.open(path: runDirectory.turnBoardPath, harts: Int(config.harts)),
                                  hart: index, loop: loop)
            } catch {
                // Only a hint for the host's scheduling: the hart polls without it.
                report("rrvm-hart", "hart \(index) takes its turns without the turn board: \(error)")
            }
        }
        let runner = HartRunner(index: index, config: config, ram: ram.base, transport: self)
        runner.measuresExecution = ProcessInfo.processInfo.environment["RRVM_STATS"] == "1"
        self.runner = runner
        if let gdbAddress {
            let target = OneHartTarget(runner: runner)
            let server = try GDBServer(loop: loop, address: gdbAddress, target: target)
            oneHartTarget = target
            gdb = server
            runner.breakpointsPause = true
            runner.pause(.debugger)
            report("rrvm-hart", "hart \(index) waits for a debugger: gdb-multiarch -ex '\(server.targetRemote)'")
        }
    }

    private func deliver(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body) {
        switch body {
        case .run:
            turns?.runArrived(loop: loop)
        case .mmioReply:
            if let started = waitStartedAt {
                waitNanoseconds &+= EventLoop.monotonicNanoseconds() &- started
                waitStartedAt = nil
            }
        case .shutdown(let shutdown):
            gdb?.reportExit(shutdown.exitCode)
        case .debugRequest(let request):
            return debugRequest(request)
        default:
            break
        }
        runner?.receive(header, body)
    }

    // MARK: - HartTransport

    func send(_ envelope: Rrvm_Envelope) {
        guard let body = envelope.body else { return connection?.send(envelope) ?? () }
        send(EnvelopeHeader(envelope), body)
    }

    func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body) {
        if case .yield(let yield) = body, let runner {
            // A hart that waits for an interrupt (WFI) runs again only when one comes: it sleeps at once.
            lastYield = yield.reason == .stopWfi ? nil
                : (EventLoop.monotonicNanoseconds(), runner.hart.spinHintsEndRun ? 50_000 : 200_000)
            turns?.sliceEnded(loop: loop)
        }
        connection?.send(header, body)
    }

    /// Polls the bus for the answer for a little while instead of sleeping: a process woken from sleep
    /// costs about as much as the whole answer takes, and only the hart running the slice spins. If the
    /// answer does not come in time, it arrives through the loop.
    func awaitReply() {
        waitStartedAt = EventLoop.monotonicNanoseconds()
        if alone { return }
        loop.yieldsWhilePolling = true
        let deadline = waitStartedAt! + 500_000
        while runner?.awaitingReply == true && !stopped && EventLoop.monotonicNanoseconds() < deadline {
            loop.poll()
        }
    }

    /// Takes what arrived during a long slice (a Cut, a debugger's interrupt) without waiting.
    func pollDuringSlice() {
        if alone { loop.runReady() } else { loop.poll() }
    }

    func paused(for reason: PauseReason) {
        guard reason == .debugger, let runner else { return }
        if let gdb {
            let kind: GDBStop.Kind
            if case .watchpoint(let hit) = runner.debugStopCause { kind = .watch(hit.kind, address: hit.address) } else { kind = .trap }
            // The console output this hart holds, for the sequencer to show (it has no debugger of its own here).
            let held = runner.heldConsoleOutput
            if !held.isEmpty { debugReply(.with { $0.stopped.heldConsoleOutput = Data(held) }) }
            return gdb.reportStop(GDBStop(kind: kind, hart: 0))
        }
        // The sequencer's debugger (every hart a thread): tell it where this hart stopped and why.
        var stopped = Self.stopped(runner.debugStopCause, pc: runner.hart.pc, retired: runner.hart.retired, g: runner.currentG)
        stopped.heldConsoleOutput = Data(runner.heldConsoleOutput)
        debugReply(.with {
            $0.id = debugResumes
            $0.stopped = stopped
        })
    }

    func finish(exitCode: Int32, reason: String?) {
        stop(exitCode, reason)
    }

    // MARK: - The sequencer's debugger (DebugRequest, proto/rrvm.proto)

    /// Largest memory read or write one request may ask for.
    static let debugMemoryLimit: UInt64 = 1 << 16

    private func debugRequest(_ request: Rrvm_DebugRequest) {
        guard let runner else { return }
        let hart = runner.hart
        var reply = Rrvm_DebugReply()
        reply.id = request.id
        switch request.action {
        case .debugStop:
            runner.breakpointsPause = true
            runner.pause(.debugger, afterRetired: request.valueGiven ? request.value : nil)
            return  // answered by `paused(for:)`
        case .debugNoteHits:
            if let hit = runner.lastHit { reply.lastHit = Self.stopped(hit.cause, pc: hit.pc, retired: 0, g: hit.g) }
            runner.notingHits = request.value == 1
        case .debugSuspendBreakpoints:
            if request.value == 1, suspended == nil {
                suspended = (hart.breakpointList, hart.watchpointList)
                for address in hart.breakpointList { hart.removeBreakpoint(address) }
                hart.setWatchpoints([])
            } else if request.value == 0, let (breakpoints, watchpoints) = suspended {
                suspended = nil
                for address in breakpoints { hart.addBreakpoint(address) }
                hart.setWatchpoints(watchpoints)
            }
        case .debugStopAtG:
            runner.breakpointsPause = true
            runner.pause(.debugger, atG: request.value)
            return
        case .debugResume:
            debugResumes &+= 1
            runner.resume(.debugger, thenPauseAfter: request.value > 0 ? request.value : nil)
            return
        case .debugReadRegisters:
            reply.registers = GDBServer.registers(of: hart)
        case .debugWriteRegister:
            guard GDBServer.registerNumbers.contains(Int(clamping: request.address)) else {
                reply.error = "no register \(request.address)"
                break
            }
            GDBServer.setRegister(Int(request.address), request.value, of: hart)
        case .debugReadMemory:
            if request.value > Self.debugMemoryLimit {
                reply.error = "at most \(Self.debugMemoryLimit) bytes at once"
            } else if let bytes = hart.debugRead(request.address, count: Int(request.value)) {
                reply.data = Data(bytes)
            } else {
                reply.error = "0x\(String(request.address, radix: 16)): not mapped"
            }
        case .debugWriteMemory:
            if request.data.count > Self.debugMemoryLimit || !hart.debugWrite(request.address, bytes: [UInt8](request.data)) {
                reply.error = "0x\(String(request.address, radix: 16)): not writable RAM"
            }
        case .debugSetBreakpoint:
            hart.addBreakpoint(request.address)
        case .debugClearBreakpoint:
            hart.removeBreakpoint(request.address)
        case .debugTranslate:
            if let physical = hart.debugTranslate(request.address, count: request.value) {
                reply.physical = physical
            } else {
                reply.error = "hart \(index) sees no RAM at 0x\(String(request.address, radix: 16)) (\(request.value) bytes)"
            }
        case .debugSetWatchpoints:
            hart.setWatchpoints(request.watchpoints.map {
                Watchpoint(physical: $0.physical, length: $0.length, kind: WatchKind(rawValue: UInt8(clamping: $0.kind.rawValue)) ?? .access)
            })
        case .debugDetach:
            debugResumes &+= 1
            runner.notingHits = false
            suspended = nil
            for address in hart.breakpointList { hart.removeBreakpoint(address) }
            hart.setWatchpoints([])
            runner.breakpointsPause = false
            runner.resume(.debugger)
            return
        case .UNRECOGNIZED(let value):
            reply.error = "unknown debug action \(value)"
        }
        debugReply(reply)
    }

    /// A stop (or a noted hit) as the debugger is told: where (`g`: inside a slice), and why.
    private static func stopped(_ cause: HartRunner.DebugStopCause, pc: UInt64, retired: UInt64, g: UInt64?) -> Rrvm_DebugStopped {
        var stopped = Rrvm_DebugStopped()
        stopped.pc = pc
        stopped.retired = retired
        if let g {
            stopped.inSlice = true
            stopped.g = g
        }
        switch cause {
        case .requested: stopped.reason = .debugStoppedRequested
        case .breakpoint: stopped.reason = .debugStoppedBreakpoint
        case .watchpoint(let hit):
            stopped.reason = .debugStoppedWatchpoint
            stopped.watchAddress = hit.address
            stopped.watchKind = Rrvm_DebugWatchKind(rawValue: Int(hit.kind.rawValue)) ?? .debugWatchAccess
        }
        return stopped
    }

    private func debugReply(_ reply: Rrvm_DebugReply) {
        var envelope = Rrvm_Envelope()
        envelope.body = .debugReply(reply)
        connection?.send(envelope)
    }

    private func stop(_ code: Int32, _ message: String?) {
        guard !stopped else { return }
        if let message { report("rrvm-hart", message) }
        if ProcessInfo.processInfo.environment["RRVM_STATS"] == "1", let runner {
            let stats = runner.statistics
            report("rrvm-hart", "hart \(index): \(runner.hart.retired) instructions, \(stats.waits) MMIO waits, "
                   + "\(waitNanoseconds / 1_000_000) ms waiting (\(stats.waits == 0 ? 0 : waitNanoseconds / UInt64(stats.waits) / 1000) us each), "
                   + "\(stats.answeredHere) stable reads answered here, \(stats.outputHere) output bytes batched, \(stats.spinHints) slices ended by a spin-wait hint, "
                   + "\(stats.longSlices) long slices (\(stats.extensions) quanta added, \(stats.cuts) cut), \(stats.checks) checks sent, "
                   + "\(stats.executionNanoseconds / 1000) us executing")
        }
        exitCode = code
        stopped = true
        connection?.onClose = nil
        connection?.close()
        loop.stop()
    }
}

/// `--gdb-hart N`: the debugger drives this hart alone, here in its process; the other harts run as the
/// schedule says whenever this one yields.
private final class OneHartTarget: GDBTarget {
    private let runner: HartRunner

    init(runner: HartRunner) { self.runner = runner }

    var hartCount: Int { 1 }
    func threadName(hart: Int) -> String { "hart \(runner.index)" }
    var reverseRefusal: String? { "reverse execution needs every hart: use --gdb without --gdb-hart (in rrctl replay)" }

    func readRegisters(hart: Int, done: @escaping ([UInt64]?) -> Void) { done(GDBServer.registers(of: runner.hart)) }
    func writeRegister(hart: Int, number: Int, value: UInt64, done: @escaping (Bool) -> Void) {
        GDBServer.setRegister(number, value, of: runner.hart)
        done(true)
    }
    func readMemory(hart: Int, address: UInt64, count: Int, done: @escaping ([UInt8]?) -> Void) {
        done(runner.hart.debugRead(address, count: count))
    }
    func writeMemory(hart: Int, address: UInt64, bytes: [UInt8], done: @escaping (Bool) -> Void) {
        done(runner.hart.debugWrite(address, bytes: bytes))
    }
    func setBreakpoint(_ address: UInt64, insert: Bool, done: @escaping (Bool) -> Void) {
        if insert { runner.hart.addBreakpoint(address) } else { runner.hart.removeBreakpoint(address) }
        done(true)
    }
    func setWatchpoint(_ kind: WatchKind, address: UInt64, length: UInt64, insert: Bool, hart: Int,
                       done: @escaping (String?) -> Void) {
        done("watchpoints need every hart: use --gdb without --gdb-hart")
    }
    func haltReason(done: @escaping (GDBStop) -> Void) { done(GDBStop(kind: .trap, hart: 0)) }
    func resume(step hart: Int?, only: Int?, reverse: Bool) { runner.resume(.debugger, thenPauseAfter: hart == nil ? nil : 1) }
    func interrupt() { runner.pause(.debugger) }
    func monitor(_ command: String, done: @escaping (String) -> Void) {
        done("monitor commands need every hart: use --gdb without --gdb-hart\n")
    }
    func detach() {
        for address in runner.hart.breakpointList { runner.hart.removeBreakpoint(address) }
        runner.resume(.debugger)
    }
}
