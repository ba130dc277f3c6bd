import Foundation
import RRBus
import RRProto
import RRRoles
import RVHart

/// One vCPU process: a `HartRunner` on the libuv bus. Everything the hart decides is in the runner; this
/// joins the cluster, maps guest RAM, carries messages, polls for MMIO answers, and serves a debugger.
final class HartNode: HartTransport, GDBTarget {
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
    /// When the hart last ended a slice in which no other hart was runnable.
    private var soloYieldAt: UInt64?

    // A debugger (`--gdb PORT|unix:PATH`): the hart starts paused and runs only while the debugger lets it.
    private let gdbAddress: BusAddress?
    private var gdb: GDBServer?

    init(runDirectory: RunDirectory, index: Int, gdbAddress: BusAddress? = nil) {
        self.runDirectory = runDirectory
        self.index = index
        self.gdbAddress = gdbAddress
    }

    func run() -> Int32 {
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
                connection.onEnvelope { [unowned self] envelope in self.deliver(envelope) }
                connection.onClose = { [unowned self] reason in
                    self.stop(1, isSupervised ? nil : "hart \(self.index) lost the sequencer: \(reason)")
                }
            }
        }
        // A hart that ended a slice no other hart could have run in will most likely run the next one too:
        // it polls for that Run for a moment rather than sleeping, which saves a wake-up per slice while the
        // sequencer, which sleeps through a computing slice, handles the yield.
        loop.run(pollingWhile: { [unowned self] in
            guard let yieldedAt = soloYieldAt, runner?.sliceActive == false else { return false }
            return EventLoop.monotonicNanoseconds() &- yieldedAt < 200_000
        }, until: { [unowned self] in stopped })
        gdb?.close()
        return exitCode
    }

    private func setUp(_ config: Rrvm_MachineConfig) throws {
        let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
        self.ram = ram
        let runner = HartRunner(index: index, config: config, ram: ram.base, transport: self)
        runner.measuresExecution = ProcessInfo.processInfo.environment["RRVM_STATS"] == "1"
        self.runner = runner
        if let gdbAddress {
            let server = try GDBServer(loop: loop, address: gdbAddress, hart: runner.hart, target: self)
            gdb = server
            runner.breakpointsPause = true
            runner.pause(.debugger)
            report("rrvm-hart", "hart \(index) waits for a debugger: gdb-multiarch -ex '\(server.targetRemote)'")
        }
    }

    private func deliver(_ envelope: Rrvm_Envelope) {
        if case .mmioReply? = envelope.body, let started = waitStartedAt {
            waitNanoseconds &+= EventLoop.monotonicNanoseconds() &- started
            waitStartedAt = nil
        }
        if case .shutdown(let shutdown)? = envelope.body { gdb?.reportExit(shutdown.exitCode) }
        runner?.receive(envelope)
    }

    // MARK: - HartTransport

    func send(_ envelope: Rrvm_Envelope) {
        if case .yield? = envelope.body, runner?.hart.spinHintsEndRun == false {
            soloYieldAt = EventLoop.monotonicNanoseconds()
        }
        connection?.send(envelope)
    }

    /// Polls the bus for the answer for a little while instead of sleeping: a process woken from sleep
    /// costs about as much as the whole answer takes, and only the hart running the slice spins. If the
    /// answer does not come in time, it arrives through the loop.
    func awaitReply() {
        waitStartedAt = EventLoop.monotonicNanoseconds()
        let deadline = waitStartedAt! + 500_000
        while runner?.awaitingReply == true && !stopped && EventLoop.monotonicNanoseconds() < deadline {
            loop.poll()
        }
    }

    /// Takes what arrived during a long slice (a Cut, a debugger's interrupt) without waiting.
    func pollDuringSlice() {
        loop.poll()
    }

    func paused(for reason: PauseReason) {
        if reason == .debugger { gdb?.reportStop() }
    }

    func finish(exitCode: Int32, reason: String?) {
        stop(exitCode, reason)
    }

    // MARK: - GDBTarget

    func debuggerContinue() { runner?.resume(.debugger) }
    func debuggerStep() { runner?.resume(.debugger, thenPauseAfter: 1) }
    func debuggerInterrupt() { runner?.pause(.debugger) }

    private func stop(_ code: Int32, _ message: String?) {
        guard !stopped else { return }
        if let message { report("rrvm-hart", message) }
        if ProcessInfo.processInfo.environment["RRVM_STATS"] == "1", let runner {
            let stats = runner.statistics
            report("rrvm-hart", "hart \(index): \(runner.hart.retired) instructions, \(stats.waits) MMIO waits, "
                   + "\(waitNanoseconds / 1_000_000) ms waiting (\(stats.waits == 0 ? 0 : waitNanoseconds / UInt64(stats.waits) / 1000) us each), "
                   + "\(stats.answeredHere) stable reads answered here, \(stats.outputHere) output bytes batched, \(stats.spinHints) slices ended by a spin-wait hint, "
                   + "\(stats.longSlices) long slices (\(stats.extensions) quanta added, \(stats.cuts) cut), "
                   + "\(stats.executionNanoseconds / 1000) us executing")
        }
        exitCode = code
        stopped = true
        connection?.onClose = nil
        connection?.close()
        loop.stop()
    }
}
