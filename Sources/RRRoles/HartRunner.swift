import Foundation
import RRCheckpoint
import RRProto
import RVHart
import RVPlatform

/// How a hart reaches the sequencer: the hart process implements it over the libuv bus, the in-process
/// machine and tests in memory.
public protocol HartTransport: AnyObject {
    /// Sends a message to the sequencer (the transport stamps `from`).
    func send(_ envelope: Rrvm_Envelope)
    /// The hart sent an access whose answer it must wait for. The transport may deliver that answer now
    /// (the bus polls for a moment; the in-memory machine runs until it comes), by calling
    /// `HartRunner.receive` from inside this call; if it returns without, the answer comes later.
    func awaitReply()
    /// The hart reached a pause point it was asked for (see `HartRunner.pause`).
    func paused(for reason: PauseReason)
    /// The hart's part of the run is over: Shutdown (status 0, no reason) or a protocol error.
    func finish(exitCode: Int32, reason: String?)
}

/// Why a hart is held at a pause point. Several holders may hold it at once; it runs again when the
/// last one lets go.
public enum PauseReason: Hashable {
    /// A debugger attached to this hart (stopped, stepping, at a breakpoint).
    case debugger
    /// A checkpoint being taken of the whole machine.
    case checkpoint
    /// The sequencer needs the machine still (e.g. to stamp host input inside a long slice).
    case sequencer
}

/// The hart side of a cluster as pure logic, shaped like the Sequencer: it runs the slices the
/// sequencer hands out and turns the core's MMIO stops into messages, through a `HartTransport`.
/// It decides how long a slice runs, whether a write waits for its answer (devices with DMA and the
/// interrupt controllers) or is posted, answers reads from the stable-read declarations it was given,
/// ends a slice at a spin-wait hint, and holds the hart at pause points.
///
/// **The pause point.** `pause(_:afterRetired:)` stops the hart at an exact instruction boundary without
/// ending its slice: the sequencer sees nothing, the LR/SC reservation is kept, no interrupt is
/// delivered (lines change only at a slice's start and with MMIO answers), and `resume(_:)` continues
/// exactly where it stopped, as if nothing had happened. A pause asked for between slices holds the next
/// Run until resumed. The debugger uses it for stopping, breakpoints and single steps; checkpoints and
/// the cutting of long slices for host input are meant to use it too.
public final class HartRunner {
    public let index: Int
    public let hart: Hart
    private unowned let transport: HartTransport
    /// Device windows, in the configuration's order.
    private let windows: [(base: UInt64, size: UInt64)]
    /// Per device: whether a write to it waits for the answer (DeviceSpec.writes_wait).
    private let writesWait: [Bool]
    /// Per device, the reads it declared stable (from Run and MMIO replies): answered here, no round trip.
    private var declarations: [Int: [Rrvm_StableRead]] = [:]
    /// The device of the access awaiting its reply.
    private var pendingDevice: Int?

    // The slice in progress.
    private var sliceG: UInt64 = 0
    private var budget: UInt64 = 0
    private var retiredAtSliceStart: UInt64 = 0
    /// A Run is being carried out (or held at a pause point).
    public private(set) var sliceActive = false
    /// An access was sent whose answer has not come yet.
    public private(set) var awaitingReply = false
    /// Inside `execute` (an answer delivered now is applied, and `execute` goes on by itself).
    private var executing = false
    public private(set) var finished = false

    // Pause points.
    private var pauseHolders: Set<PauseReason> = []
    /// Asked-for pauses not reached yet: the holder, and the retired count to stop at (nil: the next
    /// instruction boundary).
    private var pendingPauses: [PauseReason: UInt64?] = [:]
    /// Asked-for pauses at a global instruction count: the first boundary of a slice of this hart at G >= it.
    private var pendingPausesAtG: [PauseReason: UInt64] = [:]
    /// Whether a breakpoint or watchpoint stops the hart (a debugger is attached) rather than ending the slice.
    public var breakpointsPause = false

    /// Why the hart last reached a debugger pause point.
    public enum DebugStopCause: Equatable {
        /// A requested stop, or the end of a step.
        case requested
        case breakpoint
        case watchpoint(WatchHit)
    }
    public private(set) var debugStopCause = DebugStopCause.requested
    /// While set, breakpoints and watchpoints are noted (the last one in `lastHit`) instead of stopping the
    /// hart: a debugger replaying an interval to find the last hit in it costs no round trip per hit.
    public var notingHits = false {
        didSet { if notingHits && !oldValue { lastHit = nil } }
    }
    public private(set) var lastHit: (g: UInt64, pc: UInt64, cause: DebugStopCause)?

    /// Counters for `RRVM_STATS=1`.
    public struct Statistics {
        public var waits = 0
        public var answeredHere = 0
        public var spinHints = 0
    }
    public private(set) var statistics = Statistics()

    /// A hart for hart `index` of `config`, on guest RAM at `ram`, at the reset pc.
    public init(index: Int, config: Rrvm_MachineConfig, ram: UnsafeMutableRawPointer, transport: HartTransport) {
        self.index = index
        self.transport = transport
        windows = config.devices.map { ($0.base, $0.size) }
        writesWait = config.devices.map(\.writesWait)
        hart = Hart(config: HartConfig(
            hartID: UInt64(index), ram: ram, ramBase: MemoryMap.ramBase, ramSize: config.ramSize,
            rom: [UInt8](config.bootRom), romBase: MemoryMap.bootROMBase,
            mmioRegions: windows.map { MemoryRegion(base: $0.base, size: $0.size) },
            icountShift: config.icountShift, maxSatpMode: config.satpMode == "sv48" ? .sv48 : .sv39))
        hart.pc = MemoryMap.resetPC
    }

    /// A message from the sequencer.
    public func receive(_ envelope: Rrvm_Envelope) {
        guard !finished else { return }
        switch envelope.body {
        case .run(let run)?:
            guard !sliceActive else { return fail("Run while a slice is under way") }
            hart.dropReservation()
            hart.setInterruptLines(run.interruptLines)
            hart.spinHintsEndRun = run.spinHintsYield
            declarations = Dictionary(run.stableReads.map { (Int($0.device), $0.reads) }, uniquingKeysWith: { $1 })
            sliceG = envelope.g
            budget = run.budget
            retiredAtSliceStart = hart.retired
            sliceActive = true
            if let at = pauseAtNextRun {
                pauseAtNextRun = nil
                pendingPauses[.checkpoint] = .some(retiredAtSliceStart &+ at)
            }
            execute()
        case .mmioReply(let reply)?:
            guard awaitingReply else { return fail("unexpected MMIO reply") }
            awaitingReply = false
            if let device = pendingDevice { declarations[device] = reply.stableReads.isEmpty ? nil : reply.stableReads }
            hart.setInterruptLines(reply.interruptLines)
            if reply.fault { hart.failMMIO() } else { hart.completeMMIO(value: reply.value) }
            if reply.sliceLeft > 0 { budget = min(budget, executed &+ reply.sliceLeft) }
            execute()
        case .shutdown?:
            finished = true
            transport.finish(exitCode: 0, reason: nil)
        case .pauseAt(let pause)?:
            pauseForCheckpoint(at: pause.hasExecuted ? pause.executed : nil)
        case .resume(let resume)?:
            guard pauseHolders.contains(.checkpoint) else { return fail("Resume while not paused for a checkpoint") }
            let then = resume.hasThenPauseAt ? resume.thenPauseAt : nil
            self.resume(.checkpoint, thenPauseAfter: then.map { $0 > executed ? $0 - executed : 0 })
        case .saveState?:
            answer(Result { .hartState(try saveState()) })
        case .restoreState(let restore)?:
            guard case .hart(let state)? = restore.state else { return answer(.failure(CheckpointError("not a hart's state"))) }
            answer(Result { try restoreState(state); return .stateRestored(Rrvm_StateRestored()) })
        default:
            fail("unexpected \(envelope.kindName) from the sequencer")
        }
    }

    /// Forgets the slice in progress and the answer awaited, if any: a checkpoint restore puts the hart
    /// back at a checkpoint point (between slices), whatever it was doing when the run before ended (e.g.
    /// waiting for the answer to the write that powered the guest off).
    public func returnToCheckpointPoint() {
        sliceActive = false
        awaitingReply = false
        pendingDevice = nil
        declarations = [:]
    }

    // MARK: - Checkpoints

    /// A checkpoint pause asked for before the Run it applies to: the slice-relative count to stop at.
    private var pauseAtNextRun: UInt64?

    /// `PauseAt`: pause once the slice has retired `at` instructions (sent just before the slice's Run), or at
    /// the next instruction boundary of the slice under way (nil). Between slices with nil, nothing happens:
    /// the hart's Yield, already on its way, tells the sequencer where it stopped.
    private func pauseForCheckpoint(at: UInt64?) {
        guard let at else {
            // Already paused (its Paused is on the way): nothing more to do.
            if sliceActive && !pauseHolders.contains(.checkpoint) { pause(.checkpoint) }
            return
        }
        if sliceActive {
            pause(.checkpoint, afterRetired: retiredAtSliceStart &+ at)
        } else {
            pauseAtNextRun = at
        }
    }

    /// Whether the hart can save or take a state now: between slices, or paused inside one for a checkpoint,
    /// with no answer awaited.
    private var isAtCheckpointPoint: Bool {
        !awaitingReply && !executing && (!sliceActive || pauseHolders.contains(.checkpoint))
    }

    /// The hart's state: its architectural state and, paused inside a slice, what the slice needs to go on.
    public func saveState() throws -> Rrvm_HartState {
        guard isAtCheckpointPoint else { throw CheckpointError("hart \(index) is running, not at a checkpoint point") }
        var state = Rrvm_HartState(try hart.snapshot())
        if sliceActive {
            state.slice = .with {
                $0.sliceG = sliceG
                $0.budget = budget
                $0.executed = executed
                $0.spinHintsYield = hart.spinHintsEndRun
                $0.stableReads = declarations.sorted { $0.key < $1.key }.map { device, reads in
                    .with { $0.device = UInt32(device); $0.reads = reads }
                }
            }
        }
        return state
    }

    /// Puts the hart back into a state `saveState` returned: paused for the checkpoint inside its slice (a
    /// `Resume` goes on), or between slices. Whatever the hart was doing is forgotten (after the run's end, it
    /// may still await the answer to the write that powered the guest off). Refused, changing nothing, in the
    /// middle of an instruction or when the state does not fit this hart.
    public func restoreState(_ state: Rrvm_HartState) throws {
        guard !executing else { throw CheckpointError("hart \(index) is in the middle of an instruction") }
        guard state.hart == UInt32(index) else { throw CheckpointError("the state of hart \(state.hart) given to hart \(index)") }
        let snapshot = try HartSnapshot(state)
        guard !state.hasSlice || state.slice.executed <= snapshot.retired,
              state.slice.stableReads.allSatisfy({ Int($0.device) < windows.count }) else {
            throw CheckpointError("hart \(index): the slice in the state does not fit the hart")
        }
        try hart.restore(snapshot)
        returnToCheckpointPoint()
        pauseHolders.remove(.checkpoint)
        pendingPauses[.checkpoint] = nil
        pauseAtNextRun = nil
        if state.hasSlice {
            let slice = state.slice
            sliceG = slice.sliceG
            budget = slice.budget
            retiredAtSliceStart = hart.retired &- slice.executed
            hart.spinHintsEndRun = slice.spinHintsYield
            declarations = Dictionary(slice.stableReads.map { (Int($0.device), $0.reads) }, uniquingKeysWith: { $1 })
            sliceActive = true
            pauseHolders.insert(.checkpoint)
        }
    }

    private func answer(_ result: Result<Rrvm_Envelope.OneOf_Body, Error>) {
        var envelope = Rrvm_Envelope()
        switch result {
        case .success(let body): envelope.body = body
        case .failure(let error): envelope.body = .stateRefused(.with { $0.reason = "\(error)" })
        }
        transport.send(envelope)
    }

    // MARK: - Pause points

    /// Whether some holder keeps the hart at a pause point.
    public var isPaused: Bool { !pauseHolders.isEmpty }

    /// Asks the hart to stop at a pause point for `reason`: at the next instruction boundary, or once
    /// `hart.retired` reaches `afterRetired`. When no instruction is running (between slices, or while
    /// an MMIO answer is awaited with no slice instruction half-done) and no count is given, the hart is
    /// held at once. `transport.paused(for:)` says when the point is reached.
    public func pause(_ reason: PauseReason, afterRetired target: UInt64? = nil) {
        if target == nil && !executing && !awaitingReply {
            return reachPause(reason)
        }
        pendingPauses[reason] = .some(target)
    }

    /// Asks the hart to stop for `reason` at the first instruction boundary of one of its slices where the
    /// global count G (slice G + instructions of the slice so far) is at least `g`.
    public func pause(_ reason: PauseReason, atG g: UInt64) {
        pendingPausesAtG[reason] = g
    }

    /// Lets go of the hart for `reason`; when no other holder keeps it, it goes on exactly where it stopped.
    /// With `thenPauseAfter`, the same holder takes it again once that many more instructions have retired
    /// (a debugger's single step is `resume(.debugger, thenPauseAfter: 1)`).
    public func resume(_ reason: PauseReason, thenPauseAfter instructions: UInt64? = nil) {
        if let instructions {
            pendingPauses[reason] = .some(hart.retired &+ instructions)
        } else {
            pendingPauses[reason] = nil
        }
        guard pauseHolders.remove(reason) != nil, pauseHolders.isEmpty else { return }
        // The access a watchpoint stopped now happens: it is not checked again.
        if case .watchpoint = debugStopCause, reason == .debugger { hart.stepOverWatchpoint() }
        if sliceActive && !awaitingReply && !executing { execute() }
    }

    private func reachPause(_ reason: PauseReason, cause: DebugStopCause = .requested) {
        if reason == .debugger { debugStopCause = cause }
        pendingPauses[reason] = nil
        pendingPausesAtG[reason] = nil
        pauseHolders.insert(reason)
        if reason == .checkpoint && sliceActive {
            var envelope = Rrvm_Envelope()
            envelope.body = .paused(.with { $0.executed = executed })
            transport.send(envelope)
        }
        transport.paused(for: reason)
    }

    /// The pauses due now; the instructions that may run before the next one is due.
    private func duePausesAndLimit() -> (due: [PauseReason], limit: UInt64) {
        var due: [PauseReason] = []
        var limit = UInt64.max
        for (reason, target) in pendingPauses {
            guard let target else {
                if !awaitingReply { due.append(reason) }
                continue
            }
            if hart.retired >= target { due.append(reason) } else { limit = min(limit, target &- hart.retired) }
        }
        let now = sliceG &+ executed
        for (reason, g) in pendingPausesAtG where !due.contains(reason) {
            if now >= g { due.append(reason) } else { limit = min(limit, g &- now) }
        }
        return (due, limit)
    }

    // MARK: - The slice

    /// Instructions retired in the current slice.
    private var executed: UInt64 { hart.retired &- retiredAtSliceStart }

    /// The global instruction count at this point of the slice under way, if one is.
    public var currentG: UInt64? { sliceActive ? sliceG &+ executed : nil }

    /// Runs the current slice until it ends, needs an answer, or reaches a pause point.
    private func execute() {
        guard !executing else { return }
        executing = true
        defer { executing = false }
        while !finished && sliceActive && !awaitingReply && !isPaused {
            let (due, pauseLimit) = duePausesAndLimit()
            if !due.isEmpty {
                for reason in due { reachPause(reason) }
                return
            }
            let left = budget &- executed
            let reason = executed >= budget ? .budgetExhausted
                : hart.run(budget: min(left, pauseLimit), globalCount: sliceG &+ executed)
            if reason == .budgetExhausted && executed < budget { continue }  // stopped for a pause point
            if (reason == .breakpoint || reason == .watchpoint) && breakpointsPause {
                let watch = reason == .watchpoint ? hart.lastWatchHit : nil
                let cause: DebugStopCause = watch.map { .watchpoint($0) } ?? .breakpoint
                if notingHits {
                    // Noted, not stopped at: the breakpoint is passed (the hart skips the one at its pc once), the
                    // access a watchpoint stopped happens unchecked.
                    lastHit = (sliceG &+ executed, hart.pc, cause)
                    if watch != nil { hart.stepOverWatchpoint() }
                    continue
                }
                reachPause(.debugger, cause: cause)
                return
            }
            switch reason {
            case .mmio:
                access(hart.pendingAccess)
            case .budgetExhausted, .waitingForInterrupt, .breakpoint, .spinHint, .watchpoint:
                yield(reason)
            }
        }
    }

    /// Sends the access the hart stopped at: posted (and completed here) unless it must wait.
    private func access(_ access: MMIOAccess) {
        let device = windows.firstIndex { access.address >= $0.base && access.address &- $0.base < $0.size }
        // A read answered from a declaration still goes out (posted): the sequencer logs it in its place.
        let answer = device.flatMap { answerFromDeclaration(access, device: $0) }
        let posted = answer != nil || (access.isWrite && !(device.map { writesWait[$0] } ?? false))
        var envelope = Rrvm_Envelope()
        envelope.body = .mmioRequest(.with {
            $0.address = access.address
            $0.size = UInt32(access.size)
            $0.write = access.isWrite
            $0.value = answer ?? access.value
            $0.executed = executed
            $0.posted = posted
            $0.answered = answer != nil
        })
        transport.send(envelope)
        if posted {
            if answer != nil { statistics.answeredHere += 1 }
            hart.completeMMIO(value: answer ?? 0)
            return
        }
        pendingDevice = device
        awaitingReply = true
        statistics.waits += 1
        transport.awaitReply()
    }

    /// A read of a register `device` declared stable is answered from the declaration; any other access
    /// to the device, except a write the declaration says keeps it, ends the declaration.
    private func answerFromDeclaration(_ access: MMIOAccess, device: Int) -> UInt64? {
        guard let reads = declarations[device] else { return nil }
        let offset = access.address &- windows[device].base
        if !access.isWrite, let read = reads.read(offset: offset, size: UInt32(access.size)) {
            return read.value
        }
        if !access.isWrite || !reads.allSatisfy({ $0.keptByWritesTo.contains(offset) }) { declarations[device] = nil }
        return nil
    }

    /// Ends the slice.
    private func yield(_ reason: StopReason) {
        var envelope = Rrvm_Envelope()
        envelope.body = .yield(.with {
            $0.executed = executed
            switch reason {
            case .waitingForInterrupt: $0.reason = .stopWfi
            case .breakpoint, .watchpoint: $0.reason = .stopBreakpoint
            case .spinHint: $0.reason = .stopSpinHint; statistics.spinHints += 1
            default: $0.reason = .stopBudget
            }
            $0.timerDeadline = hart.nextTimerDeadline ?? 0
            $0.wakeMask = hart.readCSR(CSRNumber.mie) ?? 0
            $0.stateHash = hart.stateHash()
            $0.pc = hart.pc
        })
        sliceActive = false
        // A checkpoint pause belongs to its slice: the sequencer asks again in a later one.
        pendingPauses[.checkpoint] = nil
        transport.send(envelope)
    }

    private func fail(_ reason: String) {
        finished = true
        transport.finish(exitCode: 1, reason: "hart \(index): \(reason)")
    }
}
