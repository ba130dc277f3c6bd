import Foundation
import RRBus
import RRProto
import RVHart

/// One vCPU process: runs the slices the sequencer hands out, turning the core's MMIO stops into bus
/// messages. Reads, and writes to DMA devices and interrupt controllers, wait for the answer (which
/// also brings the hart's interrupt lines up to date); other writes are posted.
final class HartNode: GDBTarget {
    private let loop = EventLoop()
    private let runDirectory: RunDirectory
    private let index: Int
    private var connection: Connection?
    private var ram: SharedRAM?
    private var hart: Hart!
    private var deviceWindows: [MemoryRegion] = []
    /// Per device: whether a write to it waits for the answer (see `DeviceSpec.writesAreWaitedFor`).
    private var writesWaited: [Bool] = []
    /// Per device, the reads it declared stable (from Run and MMIO replies): answered here, no round trip.
    private var declarations: [Int: [Rrvm_StableRead]] = [:]
    /// The device of the access awaiting its reply.
    private var pendingDevice: Int?
    private var exitCode: Int32 = 0

    // The slice in progress.
    private var sliceG: UInt64 = 0
    private var budget: UInt64 = 0
    private var retiredAtSliceStart: UInt64 = 0
    private var awaitingReply = false
    private var spinning = false
    private var stopped = false

    // For RRVM_STATS=1: how much host time the hart spent waiting for MMIO answers.
    private var waits = 0
    private var answeredHere = 0
    private var spinHints = 0
    private var waitNanoseconds: UInt64 = 0
    private var waitStartedAt: UInt64 = 0

    // A debugger (`--gdb PORT|unix:PATH`): the hart starts stopped and runs only while the debugger lets it.
    private let gdbAddress: BusAddress?
    private var gdb: GDBServer?
    private var debugStopped = false
    private var stepFrom: UInt64?
    private var interruptRequested = false
    /// A Run is being carried out (or held while the debugger has the hart stopped).
    private var sliceActive = false

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
                do {
                    try self.setUp(welcome.config)
                } catch {
                    return self.stop(1, "hart \(self.index): \(error)")
                }
                self.connection = connection
                connection.onEnvelope { [unowned self] envelope in self.handle(envelope) }
                connection.onClose = { [unowned self] reason in
                    self.stop(1, isSupervised ? nil : "hart \(self.index) lost the sequencer: \(reason)")
                }
            }
        }
        loop.run()
        gdb?.close()
        return exitCode
    }

    private func setUp(_ config: Rrvm_MachineConfig) throws {
        let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
        self.ram = ram
        let windows = config.devices.map { MemoryRegion(base: $0.base, size: $0.size) }
        deviceWindows = windows
        writesWaited = config.devices.map(\.writesAreWaitedFor)
        hart = Hart(config: HartConfig(
            hartID: UInt64(index), ram: ram.base, ramBase: 0x8000_0000, ramSize: config.ramSize,
            rom: [UInt8](config.bootRom), romBase: 0x1000, mmioRegions: windows,
            icountShift: config.icountShift, maxSatpMode: config.satpMode == "sv48" ? .sv48 : .sv39))
        hart.pc = 0x1000
        if let gdbAddress {
            let server = try GDBServer(loop: loop, address: gdbAddress, hart: hart, target: self)
            gdb = server
            debugStopped = true
            report("rrvm-hart", "hart \(index) waits for a debugger: gdb-multiarch -ex '\(server.targetRemote)'")
        }
    }

    private func handle(_ envelope: Rrvm_Envelope) {
        switch envelope.body {
        case .run(let run)?:
            guard !awaitingReply else { return stop(1, "hart \(index): Run while an MMIO access is outstanding") }
            hart.dropReservation()
            hart.setInterruptLines(run.interruptLines)
            hart.spinHintsEndRun = run.spinHintsYield
            declarations = Dictionary(run.stableReads.map { (Int($0.device), $0.reads) }, uniquingKeysWith: { $1 })
            sliceG = envelope.g
            budget = run.budget
            retiredAtSliceStart = hart.retired
            sliceActive = true
            if !debugStopped { execute() }
        case .mmioReply(let reply)?:
            guard awaitingReply else { return stop(1, "hart \(index): unexpected MMIO reply") }
            awaitingReply = false
            waitNanoseconds &+= EventLoop.monotonicNanoseconds() &- waitStartedAt
            if let device = pendingDevice { declarations[device] = reply.stableReads.isEmpty ? nil : reply.stableReads }
            hart.setInterruptLines(reply.interruptLines)
            if reply.fault { hart.failMMIO() } else { hart.completeMMIO(value: reply.value) }
            if reply.sliceLeft > 0 { budget = min(budget, hart.retired &- retiredAtSliceStart &+ reply.sliceLeft) }
            if !spinning { execute() }
        case .shutdown(let shutdown)?:
            gdb?.reportExit(shutdown.exitCode)
            stop(0, nil)
        default:
            stop(1, "hart \(index): unexpected \(envelope.kindName) from the sequencer")
        }
    }

    /// Runs the current slice until it ends or needs the bus.
    private func execute() {
        while !stopped {
            if gdb != nil && (interruptRequested || stepFrom.map({ hart.retired != $0 }) == true) {
                return debuggerStops()
            }
            let executed = hart.retired &- retiredAtSliceStart
            // While stepping, one instruction at a time; otherwise to the end of the slice.
            let limit = stepFrom == nil ? budget &- executed : min(budget &- executed, 1)
            let reason = executed >= budget ? .budgetExhausted
                : hart.run(budget: limit, globalCount: sliceG &+ executed)
            if reason == .budgetExhausted && hart.retired &- retiredAtSliceStart < budget { continue }
            if reason == .breakpoint && gdb != nil { return debuggerStops() }
            switch reason {
            case .mmio:
                let access = hart.pendingAccess
                let device = deviceWindows.firstIndex { access.address >= $0.base && access.address &- $0.base < $0.size }
                // A read answered from a declaration still goes out (posted): the sequencer logs it in its place.
                let answer = device.flatMap { answerFromDeclaration(access, device: $0) }
                let posted = answer != nil || (access.isWrite && !(device.map { writesWaited[$0] } ?? false))
                var envelope = Rrvm_Envelope()
                envelope.body = .mmioRequest(.with {
                    $0.address = access.address
                    $0.size = UInt32(access.size)
                    $0.write = access.isWrite
                    $0.value = answer ?? access.value
                    $0.executed = hart.retired &- retiredAtSliceStart
                    $0.posted = posted
                    $0.answered = answer != nil
                })
                connection?.send(envelope)
                if posted {
                    if answer != nil { answeredHere += 1 }
                    hart.completeMMIO(value: answer ?? 0)
                    continue
                }
                pendingDevice = device
                awaitingReply = true
                waits += 1
                waitStartedAt = EventLoop.monotonicNanoseconds()
                if !spinForReply() { return }
            case .budgetExhausted, .waitingForInterrupt, .breakpoint, .spinHint:
                var envelope = Rrvm_Envelope()
                envelope.body = .yield(.with {
                    $0.executed = hart.retired &- retiredAtSliceStart
                    switch reason {
                    case .waitingForInterrupt: $0.reason = .stopWfi
                    case .breakpoint: $0.reason = .stopBreakpoint
                    case .spinHint: $0.reason = .stopSpinHint; spinHints += 1
                    default: $0.reason = .stopBudget
                    }
                    $0.timerDeadline = hart.nextTimerDeadline ?? 0
                    $0.wakeMask = hart.readCSR(0x304) ?? 0
                    $0.stateHash = hart.stateHash()
                    $0.pc = hart.pc
                })
                sliceActive = false
                connection?.send(envelope)
                return
            }
        }
    }

    // MARK: - Debugger

    private func debuggerStops() {
        debugStopped = true
        stepFrom = nil
        interruptRequested = false
        gdb?.reportStop()
    }

    func debuggerContinue() {
        guard debugStopped else { return }
        debugStopped = false
        if sliceActive && !awaitingReply { execute() }
    }

    func debuggerStep() {
        stepFrom = hart.retired
        debuggerContinue()
    }

    func debuggerInterrupt() {
        if sliceActive && !debugStopped && (awaitingReply || spinning) {
            interruptRequested = true  // stops at the next instruction boundary
        } else if !debugStopped {
            // Between slices: stop now; the next Run is held.
            debuggerStops()
        }
    }

    /// A read of a register `device` declared stable is answered from the declaration; any other access
    /// to the device, except a write the declaration says keeps it, ends the declaration.
    private func answerFromDeclaration(_ access: MMIOAccess, device: Int) -> UInt64? {
        guard let reads = declarations[device] else { return nil }
        let offset = access.address &- deviceWindows[device].base
        if !access.isWrite, let read = reads.read(offset: offset, size: UInt32(access.size)) {
            return read.value
        }
        if !access.isWrite || !reads.allSatisfy({ $0.keptByWritesTo.contains(offset) }) { declarations[device] = nil }
        return nil
    }

    /// Polls the bus for the answer for a little while instead of sleeping: a process woken from sleep
    /// costs about as much as the whole answer takes, and only the hart running the slice spins.
    /// Returns whether the answer came (and was applied); if not, it will arrive through the loop.
    private func spinForReply() -> Bool {
        spinning = true
        defer { spinning = false }
        let deadline = EventLoop.monotonicNanoseconds() + 500_000
        while awaitingReply && !stopped && EventLoop.monotonicNanoseconds() < deadline {
            loop.poll()
        }
        return !awaitingReply
    }

    private func stop(_ code: Int32, _ message: String?) {
        if let message { report("rrvm-hart", message) }
        if ProcessInfo.processInfo.environment["RRVM_STATS"] == "1", hart != nil {
            report("rrvm-hart", "hart \(index): \(hart.retired) instructions, \(waits) MMIO waits, "
                   + "\(waitNanoseconds / 1_000_000) ms waiting (\(waits == 0 ? 0 : waitNanoseconds / UInt64(waits) / 1000) us each), "
                   + "\(answeredHere) stable reads answered here, \(spinHints) slices ended by a spin-wait hint")
        }
        exitCode = code
        stopped = true
        connection?.onClose = nil
        connection?.close()
        loop.stop()
    }
}
