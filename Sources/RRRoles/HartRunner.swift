#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRCheckpoint
import RRProto
import RVHart
import RVPlatform

/// How a hart reaches the sequencer: the hart process implements it over the libuv bus, the in-process
/// machine and tests in memory.
public protocol HartTransport: AnyObject {
    /// Sends a message to the sequencer (the transport stamps `from`).
    func send(_ envelope: Rrvm_Envelope)
    /// As `send` for the envelope of `header` and `body`: the hart's messages go out so, never built into an Envelope
    /// (each move of a body in and out of one copies it).
    func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body)
    /// The hart sent an access whose answer it must wait for. The transport may deliver that answer now
    /// (the bus polls for a moment; the in-memory machine runs until it comes), by calling
    /// `HartRunner.receive` from inside this call; if it returns without, the answer comes later.
    func awaitReply()
    /// The hart reached a pause point it was asked for (see `HartRunner.pause`).
    func paused(for reason: PauseReason)
    /// Called every `HartRunner.pollInterval` instructions of a slice: a chance to take messages that
    /// arrived meanwhile (a Cut, a debugger's interrupt) by calling `HartRunner.receive` or `pause`.
    func pollDuringSlice()
    /// The hart's part of the run is over: Shutdown (status 0, no reason) or a protocol error.
    func finish(exitCode: Int32, reason: String?)
}

extension HartTransport {
    public func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body) { send(header.envelope(body)) }
}

/// Why a hart is held at a pause point. Several holders may hold it at once; it runs again when the
/// last one lets go.
public enum PauseReason: Hashable {
    /// A debugger attached to this hart (stopped, stepping, at a breakpoint).
    case debugger
    /// A checkpoint being taken of the whole machine.
    case checkpoint
    /// The sequencer needs the machine still: a Cut ends the slice at this point, where host input is stamped.
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
/// Run until resumed. The debugger uses it for stopping, breakpoints and single steps; checkpoints are
/// meant to use it too. A Cut (host input arrived during a slice) is a pause for `.sequencer` that, once
/// reached, ends the slice there instead of holding the hart: its Yield's count is where the input lands.
///
/// **Long slices.** A Run with a `slice_limit` (a lone hart, SCHEDULE_POLICY_LONE_HART_TO_EVENT) goes on past its
/// budget, a budget at a time, while the hart accessed no device in the budget just run: nothing the
/// sequencer decides can have changed meanwhile, so no boundary is needed. Every `pollInterval`
/// instructions the transport may take messages, so that a Cut or a debugger still gets through.
///
/// **Checks.** When the run's log checks every process (Run.check_at), the hart sends its state hash where the
/// harts have retired each multiple of the check interval (a HartCheck) and runs on: a check ends no slice.
public final class HartRunner {
    public let index: Int
    public let hart: Hart
    private unowned let transport: HartTransport
    /// Device windows, in the configuration's order.
    private let windows: [(base: UInt64, size: UInt64)]
    /// Per device: whether a write to it waits for the answer (DeviceSpec.writes_wait), and whether it changes
    /// guest RAM (DeviceSpec.dma: then no write is posted under a declaration, since the hart would run on while the
    /// device may still write memory).
    private let writesWait: [Bool]
    private let changesRAM: [Bool]
    /// Per device, the reads it declared stable (from Run and MMIO replies): answered here, no round trip.
    /// (Indexed by device, as an array: the console driver consults it twice per byte.)
    private var declarations: [[Rrvm_StableRead]?]
    /// The device of the access awaiting its reply.
    private var pendingDevice: Int?

    // The slice in progress.
    private var sliceG: UInt64 = 0
    private var budget: UInt64 = 0
    /// A long slice (see the header): how far it may go in all (0: not past `budget`), its step, and whether
    /// the hart accessed a device since the current step began.
    private var sliceLimit: UInt64 = 0
    private var sliceStep: UInt64 = 0
    private var accessedDeviceInStep = false
    /// Where in the slice (instructions retired in it) the hart sends its next check (0: none), and the interval
    /// between checks (see Run.check_at).
    private var checkAt: UInt64 = 0
    private var checkInterval: UInt64 = 0
    /// A Cut asked to end the slice at the `.sequencer` pause point.
    private var cutRequested = false
    /// The retired count at the last `pollDuringSlice` (or the slice's start).
    private var retiredAtPoll: UInt64 = 0
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
        /// Bytes written to output-only registers, batched.
        public var outputHere = 0
        public var spinHints = 0
        /// Slices that went on past their budget, and how many budgets they added.
        public var longSlices = 0
        public var extensions = 0
        public var cuts = 0
        /// Checks sent from inside a slice.
        public var checks = 0
        /// Host time spent inside the interpreter (`Hart.run`), when `measuresExecution` is set.
        public var executionNanoseconds: UInt64 = 0
    }
    public private(set) var statistics = Statistics()
    /// Whether to time the interpreter (`Statistics.executionNanoseconds`; two clock reads per `Hart.run`).
    public var measuresExecution = false
    /// Instructions between two `HartTransport.pollDuringSlice` calls: about 2-3 ms of guest code.
    public static let pollInterval: UInt64 = 1 << 20

    /// A hart for hart `index` of `config`, on guest RAM at `ram`, at the reset pc.
    public init(index: Int, config: Rrvm_MachineConfig, ram: UnsafeMutableRawPointer, transport: HartTransport) {
        self.index = index
        self.transport = transport
        windows = config.devices.map { ($0.base, $0.size) }
        writesWait = config.devices.map(\.writesWait)
        changesRAM = config.devices.map(\.dma)
        isConsole = config.devices.map { $0.kind == .uart }
        declarations = Array(repeating: nil, count: config.devices.count)
        hart = Hart(config: HartConfig(
            hartID: UInt64(index), ram: ram, ramBase: MemoryMap.ramBase, ramSize: config.ramSize,
            rom: [UInt8](config.bootRom), romBase: MemoryMap.bootROMBase,
            mmioRegions: windows.map { MemoryRegion(base: $0.base, size: $0.size) },
            icountShift: config.icountShift, maxSatpMode: config.satpMode == "sv48" ? .sv48 : .sv39))
        hart.pc = MemoryMap.resetPC
    }

    /// A message from the sequencer.
    public func receive(_ envelope: Rrvm_Envelope) {
        guard let body = envelope.body else { return fail("an envelope without a body from the sequencer") }
        receive(EnvelopeHeader(envelope), body)
    }

    /// A message from the sequencer, its body apart from the envelope's other fields (see `Connection.onMessage`).
    public func receive(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body) {
        guard !finished else { return }
        switch body {
        case .run(let run):
            SliceTimes.note(.runArrived)
            guard !sliceActive else { return fail("Run while a slice is under way") }
            hart.dropReservation()
            hart.setInterruptLines(run.interruptLines)
            hart.spinHintsEndRun = run.spinHintsYield
            // The declarations that changed since the hart got them (Run.stable_reads); it keeps the others.
            for entry in run.stableReads where Int(entry.device) < windows.count {
                declarations[Int(entry.device)] = entry.reads.isEmpty ? nil : entry.reads
            }
            // And the registers set since in the others it holds (Run.declared_values). One it cannot set (it holds
            // no declaration for that device since a restore) leaves it holding none: it then sends its accesses to
            // that device, which is always right, until an answer brings the declaration again.
            for value in run.declaredValues where Int(value.device) < windows.count {
                if holdsRegister(of: value) {
                    declarations[Int(value.device)]![Int(value.entry)].setRegisterValue(value.value, at: Int(value.index))
                } else {
                    declarations[Int(value.device)] = nil
                }
            }
            sliceG = header.g
            budget = run.budget
            sliceStep = run.budget
            sliceLimit = run.sliceLimit > run.budget ? run.sliceLimit : 0
            if sliceLimit > 0 { statistics.longSlices += 1 }
            checkAt = run.checkInterval > 0 ? run.checkAt : 0
            checkInterval = run.checkInterval
            accessedDeviceInStep = false
            cutRequested = false
            retiredAtSliceStart = hart.retired
            retiredAtPoll = hart.retired
            sliceActive = true
            if let at = pauseAtNextRun {
                pauseAtNextRun = nil
                pendingPauses[.checkpoint] = .some(retiredAtSliceStart &+ at)
            }
            SliceTimes.note(.sliceStarted)
            execute()
        case .cut:
            cut()
        case .mmioReply(let reply):
            guard awaitingReply else { return fail("unexpected MMIO reply") }
            awaitingReply = false
            if let device = pendingDevice { declarations[device] = reply.stableReads.isEmpty ? nil : reply.stableReads }
            hart.setInterruptLines(reply.interruptLines)
            if reply.fault { hart.failMMIO() } else { hart.completeMMIO(value: reply.value) }
            if reply.sliceLeft > 0 {
                budget = min(budget, executed &+ reply.sliceLeft)
                sliceLimit = 0
            }
            execute()
        case .shutdown:
            finished = true
            transport.finish(exitCode: 0, reason: nil)
        case .pauseAt(let pause):
            pauseForCheckpoint(at: pause.hasExecuted ? pause.executed : nil)
        case .resume(let resume):
            guard pauseHolders.contains(.checkpoint) else { return fail("Resume while not paused for a checkpoint") }
            if resume.hasSliceEndsAt { endSlice(atExecuted: resume.sliceEndsAt) }
            let then = resume.hasThenPauseAt ? resume.thenPauseAt : nil
            self.resume(.checkpoint, thenPauseAfter: then.map { $0 > executed ? $0 - executed : 0 })
        case .saveState:
            answer(Result { .hartState(try saveState()) })
        case .restoreState(let restore):
            guard case .hart(let state)? = restore.state else { return answer(.failure(CheckpointError("not a hart's state"))) }
            answer(Result { try restoreState(state); return .stateRestored(Rrvm_StateRestored()) })
        default:
            fail("unexpected \(header.envelope(body).kindName) from the sequencer")
        }
    }

    /// Ends the slice in progress at the next instruction boundary after at least one of its instructions
    /// (so that the cut's G is past the slice's start, where a replay can end the slice too) and after the
    /// answer awaited, if any. Nothing happens if no slice is under way (a Cut that crossed the Yield).
    public func cut() {
        guard sliceActive, !cutRequested else { return }
        cutRequested = true
        pause(.sequencer, afterRetired: retiredAtSliceStart &+ 1)
    }

    /// The slice under way ends once it has retired `at` instructions at the latest (see `Resume.slice_ends_at`).
    private func endSlice(atExecuted at: UInt64) {
        guard sliceActive, at >= executed else { return }
        budget = min(budget, at)
        if sliceLimit > 0 { sliceLimit = min(sliceLimit, at) }
    }

    /// Instructions retired in the slice under way.
    public var executedInSlice: UInt64 { sliceActive ? executed : 0 }

    /// Forgets the slice in progress and the answer awaited, if any: a checkpoint restore puts the hart
    /// back at a checkpoint point (between slices), whatever it was doing when the run before ended (e.g.
    /// waiting for the answer to the write that powered the guest off).
    public func returnToCheckpointPoint() {
        sliceActive = false
        awaitingReply = false
        pendingDevice = nil
        declarations = Array(repeating: nil, count: windows.count)
        batch = nil
        _ = hart.deviceShortcut.take()
        hart.deviceShortcut.disarm()
        cutRequested = false
        pendingPauses[.sequencer] = nil
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
                $0.stableReads = declarations.indices.compactMap { device in
                    declarations[device].map { reads in .with { $0.device = UInt32(device); $0.reads = reads } }
                }
                $0.sliceLimit = sliceLimit
                $0.sliceStep = sliceStep
                $0.accessedDeviceInStep = accessedDeviceInStep
                $0.checkAt = checkAt
                $0.checkInterval = checkInterval
                if let batch { $0.heldBatch = batch.request }
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
        let heldBatch = state.slice.hasHeldBatch ? batch(from: state.slice.heldBatch, executed: state.slice.executed) : nil
        guard !state.hasSlice || state.slice.executed <= snapshot.retired,
              state.slice.stableReads.allSatisfy({ Int($0.device) < windows.count }),
              !state.slice.hasHeldBatch || heldBatch != nil else {
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
            for entry in slice.stableReads { declarations[Int(entry.device)] = entry.reads }
            sliceLimit = slice.sliceLimit
            sliceStep = slice.sliceStep
            accessedDeviceInStep = slice.accessedDeviceInStep
            checkAt = slice.checkInterval > 0 ? slice.checkAt : 0
            checkInterval = slice.checkInterval
            batch = heldBatch
            retiredAtPoll = hart.retired
            sliceActive = true
            pauseHolders.insert(.checkpoint)
        }
    }

    private func answer(_ result: Result<Rrvm_Envelope.OneOf_Body, Error>) {
        switch result {
        case .success(let body): send(body)
        case .failure(let error): send(.stateRefused(.with { $0.reason = "\(error)" }))
        }
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
        // The batch stays held (a checkpoint saves it): sent here, it would be a message the run without this pause
        // does not send, and a replay of a recording debugged (or a replay under a debugger) would not match it.
        if reason == .sequencer && cutRequested {
            // A Cut: the slice ends here (it does not wait for other holders: ending a slice changes nothing
            // the hart holds, and the next Run waits while one remains).
            statistics.cuts += 1
            return yield(.budgetExhausted)
        }
        pauseHolders.insert(reason)
        if reason == .checkpoint && sliceActive {
            send(.paused(.with { $0.executed = executed }))
        }
        transport.paused(for: reason)
    }

    /// The pauses due now; the instructions that may run before the next one is due.
    private func duePausesAndLimit() -> (due: [PauseReason], limit: UInt64) {
        if pendingPauses.isEmpty && pendingPausesAtG.isEmpty { return ([], .max) }  // nearly always
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
            sendCheckIfDue()
            if hart.retired &- retiredAtPoll >= Self.pollInterval {
                retiredAtPoll = hart.retired
                transport.pollDuringSlice()
                continue
            }
            let (due, pauseLimit) = duePausesAndLimit()
            if !due.isEmpty {
                for reason in due { reachPause(reason) }
                return
            }
            let untilPoll = Self.pollInterval &- (hart.retired &- retiredAtPoll)
            let untilCheck = checkAt > executed ? checkAt &- executed : .max
            let reason = executed >= budget ? .budgetExhausted
                : runInterpreter(min(budget &- executed, pauseLimit, untilPoll, untilCheck))
            sendCheckIfDue()
            if reason == .budgetExhausted && executed < budget { continue }  // stopped for a pause point, a poll or a check
            if reason == .budgetExhausted && extendSlice() { continue }
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

    /// Runs the interpreter for at most `instructions`, timed when `measuresExecution` is set, with the hart's
    /// device shortcut armed for the batch held (see `armShortcut`).
    private func runInterpreter(_ instructions: UInt64) -> StopReason {
        armShortcut()
        defer { takeShortcutAccesses() }
        guard measuresExecution else { return hart.run(budget: instructions, globalCount: sliceG &+ executed) }
        let start = monotonicNanoseconds()
        defer { statistics.executionNanoseconds &+= monotonicNanoseconds() &- start }
        return hart.run(budget: instructions, globalCount: sliceG &+ executed)
    }

    /// Where the slice has retired `checkAt` instructions: the hart's part of the check (after what it did before,
    /// the batch held included), and the next check an interval further. Called wherever the count may have reached
    /// it: after the interpreter stops (it stops there) and before it runs again (an access completed since), so
    /// before the hart accesses a device, pauses or yields at that point.
    private func sendCheckIfDue() {
        guard sliceActive, checkAt != 0, executed == checkAt else { return }
        sendBatch()
        send(.hartCheck(.with {
            $0.executed = executed
            $0.stateHash = hart.stateHash()
        }))
        checkAt &+= checkInterval
        statistics.checks += 1
    }

    /// A long slice whose budget is used up goes on for another step if the hart accessed no device in the
    /// step just run and no Cut is pending.
    private func extendSlice() -> Bool {
        guard executed < sliceLimit, !accessedDeviceInStep, !cutRequested else { return false }
        budget = min(budget &+ sliceStep, sliceLimit)
        statistics.extensions += 1
        return true
    }

    /// Sends the access the hart stopped at: posted (and completed here) unless it must wait. A read it
    /// answers from a declaration, or a byte written to a register the declaration lists as output only,
    /// joins the batch (see `Batch`) instead.
    private func access(_ access: MMIOAccess) {
        accessedDeviceInStep = true
        let device = device(at: access.address)
        if let device, addToBatch(access, device: device) { return }
        sendBatch()
        let set = device.flatMap { setDeclaredRegister(access, device: $0) }
        let posted = access.isWrite && (set != nil || !(device.map { writesWait[$0] } ?? false)
                                        || device.map { keptByDeclaration(access, device: $0) } == true)
        send(.mmioRequest(.with {
            $0.address = access.address
            $0.size = UInt32(access.size)
            $0.write = access.isWrite
            $0.value = access.value
            $0.executed = executed
            $0.posted = posted
        }))
        if posted {
            hart.completeMMIO(value: 0)
            if let set { applyLine(of: set) }
            return
        }
        pendingDevice = device
        awaitingReply = true
        statistics.waits += 1
        transport.awaitReply()
    }

    /// Whether the declaration the hart holds for `value`'s device has the register `value` sets.
    private func holdsRegister(of value: Rrvm_DeclaredValue) -> Bool {
        guard let reads = declarations[Int(value.device)], Int(value.entry) < reads.count else { return false }
        return Int(value.index) <= reads[Int(value.entry)].moreValues.count
    }

    /// A declared register a write set (see `setDeclaredRegister`): the register as set (its new value), and its old value.
    private struct SetRegister {
        var register: DeclaredRegister
        var old: UInt64
    }

    /// A write to a register `device` declared set by writes (StableRead.set_by_write_mask) sets its declared value
    /// here, the declaration kept: the write is posted. Returns the register as set.
    private func setDeclaredRegister(_ access: MMIOAccess, device: Int) -> SetRegister? {
        guard let (entry, index) = declaredRegister(setBy: access, device: device) else { return nil }
        var register = declarations[device]!.declaredRegister(at: (entry, index))
        let old = register.value
        register.value = access.value & register.setByWriteMask
        declarations[device]![entry].setRegisterValue(register.value, at: index)
        return SetRegister(register: register, old: old)
    }

    /// Where in `device`'s declaration is the register that `access`, a write, sets (StableRead.set_by_write_mask).
    private func declaredRegister(setBy access: MMIOAccess, device: Int) -> (entry: Int, index: Int)? {
        guard access.isWrite, !changesRAM[device], let reads = declarations[device],
              let register = reads.register(offset: access.address &- windows[device].base, size: UInt32(access.size)),
              reads[register.entry].setByWriteMask != 0 else { return nil }
        return register
    }

    /// Whether `access`, a write, leaves `device`'s declaration as it is (every entry lists its offset in
    /// StableRead.kept_by_writes_to, e.g. the PLIC's completions): the hart posts it, keeping the declaration, even to a
    /// device whose writes otherwise wait (not one that changes RAM). Lines it changes reach the hart later.
    private func keptByDeclaration(_ access: MMIOAccess, device: Int) -> Bool {
        guard access.isWrite, !changesRAM[device], let reads = declarations[device] else { return false }
        let offset = access.address &- windows[device].base
        return reads.isKept(byWriteTo: offset)
    }

    /// The line a posted write to a declared register drives (the CLINT's msip or mtimecmp): the hart's own changes
    /// at once, as if the device had answered (a timer compare's from mtime at the write's G, as the sequencer's
    /// answer computes it); another hart's software interrupt rises at the write's turn, and this slice then ends
    /// soon so that the target runs (as the answer to a waited write that sent an IPI says, MmioReply.slice_left).
    /// Another hart's timer line changes at the write's turn and reaches it at its next slice, as before.
    private func applyLine(of set: SetRegister) {
        let register = set.register
        guard register.lineMipBit != 0 else { return }
        if Int(register.lineHart) == index {
            let level = register.lineIsTimerCompare
                ? hart.mtime(atG: sliceG &+ executed) >= register.value : register.value != 0
            hart.setInterruptLine(register.lineMipBit, level: level)
        } else if !register.lineIsTimerCompare && set.old == 0 && register.value != 0 {
            budget = min(budget, executed &+ Schedule.sliceLeftAfterIPI)
            sliceLimit = 0
        }
    }

    /// What the hart did alone with one device, under one declaration, since its last message: reads it
    /// answered (all of one register, with one value) and bytes written to an output-only register. It
    /// goes out as one MmioRequest before any other message (so the sequencer sees everything in order) or at
    /// `batchLimit` bytes: a console driver polling LSR before each byte so costs one message per batch instead of
    /// two per byte. A pause keeps it held (a checkpoint too): it goes out where the run without the pause sends it.
    private struct Batch {
        var device: Int
        var read: (address: UInt64, size: Int, value: UInt64)?
        var reads: UInt64 = 0
        var outputAddress: UInt64?
        var output: [UInt8] = []
        var executed: UInt64 = 0

        /// The MmioRequest that sends the batch (and that a checkpoint keeps: `SliceProgress.held_batch`).
        var request: Rrvm_MmioRequest {
            .with {
                $0.address = read?.address ?? outputAddress ?? 0
                $0.size = UInt32(read?.size ?? 1)
                $0.value = read?.value ?? 0
                $0.executed = executed
                $0.posted = true
                $0.answered = reads > 0
                $0.answeredReads = reads
                $0.output = Data(output)
                $0.outputAddress = outputAddress ?? 0
            }
        }
    }

    /// The device whose window holds `address`, if any.
    private func device(at address: UInt64) -> Int? {
        windows.firstIndex { address >= $0.base && address &- $0.base < $0.size }
    }

    /// The batch a checkpoint kept (`Batch.request`), taken `executed` instructions or fewer into the slice; nil when
    /// it cannot be one of this hart's (no device of its there, no access size, more than a batch holds).
    private func batch(from request: Rrvm_MmioRequest, executed: UInt64) -> Batch? {
        guard let device = device(at: request.answered ? request.address : request.outputAddress),
              [1, 2, 4, 8].contains(request.size), request.output.count <= Self.batchLimit, request.executed <= executed,
              request.answered == (request.answeredReads > 0), request.answered || !request.output.isEmpty else { return nil }
        var batch = Batch(device: device)
        if request.answered { batch.read = (request.address, Int(request.size), request.value) }
        batch.reads = request.answeredReads
        if !request.output.isEmpty { batch.outputAddress = request.outputAddress }
        batch.output = Array(request.output)
        batch.executed = request.executed
        return batch
    }
    private var batch: Batch?
    static let batchLimit = 4096
    /// Per device: whether its output register is the console (the UART).
    private let isConsole: [Bool]

    /// Console output the hart holds in its batch. A pause keeps the batch (see `reachPause`), so a debugger's stop
    /// shows these bytes apart from it (`DebugStopped.held_console_output`).
    public var heldConsoleOutput: [UInt8] { batch.map { isConsole[$0.device] ? $0.output : [] } ?? [] }

    /// A read of a register `device` declared stable is answered from the declaration, and a byte written
    /// to a register it declares output only is taken: both join the batch (true). Any other access to the
    /// device, except a write the declaration says keeps it, ends the declaration (false: it is sent).
    private func addToBatch(_ access: MMIOAccess, device: Int) -> Bool {
        guard let reads = declarations[device] else { return false }
        let offset = access.address &- windows[device].base
        if !access.isWrite, let value = reads.readValue(offset: offset, size: UInt32(access.size)) {
            if let held = batch, held.device != device || (held.read.map { $0.address != access.address || $0.size != access.size
                                                                             || $0.value != value } ?? false) {
                sendBatch()
            }
            if batch == nil { batch = Batch(device: device) }
            batch!.read = (access.address, access.size, value)  // in place: no copy of the buffer
            batch!.reads += 1
            batch!.executed = executed
            statistics.answeredHere += 1
            hart.completeMMIO(value: value)
            return true
        }
        if access.isWrite && access.size == 1 && reads.contains(where: { $0.outputWritesTo.contains(offset) }) {
            if let held = batch, held.device != device || (held.outputAddress.map { $0 != access.address } ?? false) {
                sendBatch()
            }
            if batch == nil { batch = Batch(device: device) }
            batch!.outputAddress = access.address
            batch!.output.append(UInt8(truncatingIfNeeded: access.value))
            batch!.executed = executed
            statistics.outputHere += 1
            hart.completeMMIO(value: 0)
            if batch!.output.count >= Self.batchLimit { sendBatch() }
            return true
        }
        let setsDeclared = declaredRegister(setBy: access, device: device) != nil
        if !setsDeclared && (!access.isWrite || !reads.isKept(byWriteTo: offset)) {
            declarations[device] = nil
        }
        return false
    }

    /// Lets the hart complete by itself the accesses that would only join the batch held (`Hart.deviceShortcut`):
    /// its read again, and bytes to its output register up to one short of `batchLimit` (the byte that fills the
    /// batch stops the hart, and `addToBatch` sends it). So a console driver's polling loop runs without a stop
    /// per access, and the batches, hence the log, are the same as if every access stopped. (While a batch is
    /// held, its device's declaration cannot change: every other message sends the batch first.)
    private func armShortcut() {
        guard let held = batch, declarations[held.device] != nil else { return hart.deviceShortcut.disarm() }
        if let read = held.read {
            hart.deviceShortcut.readAddress = read.address
            hart.deviceShortcut.readSize = UInt64(read.size)
            hart.deviceShortcut.readValue = read.value
        } else {
            hart.deviceShortcut.readSize = 0
        }
        if let output = held.outputAddress {
            hart.deviceShortcut.outputAddress = output
            hart.deviceShortcut.outputRoom = max(0, Self.batchLimit - 1 - held.output.count)
        } else {
            hart.deviceShortcut.outputRoom = 0
        }
    }

    /// Adds what the hart's shortcut completed in the run just ended to the batch (as `addToBatch` would have).
    private func takeShortcutAccesses() {
        guard hart.deviceShortcut.hasGathered else { return }
        let gathered = hart.deviceShortcut.take()
        guard batch != nil else { return fail("the device shortcut completed accesses with no batch held") }
        batch!.reads += gathered.reads
        batch!.output += gathered.output
        batch!.executed = gathered.lastAccessRetired &- retiredAtSliceStart
        statistics.answeredHere += Int(gathered.reads)
        statistics.outputHere += gathered.output.count
        accessedDeviceInStep = true
    }

    /// Sends the batch, if any (see `Batch`).
    private func sendBatch() {
        guard let held = batch else { return }
        batch = nil
        send(.mmioRequest(held.request))
    }

    /// Ends the slice.
    private func yield(_ reason: StopReason) {
        SliceTimes.note(.sliceEnded)
        sendBatch()
        let message: Rrvm_Envelope.OneOf_Body = .yield(.with {
            $0.executed = executed
            switch reason {
            case .waitingForInterrupt: $0.reason = .stopWfi
            case .breakpoint, .watchpoint: $0.reason = .stopBreakpoint
            case .spinHint: $0.reason = .stopSpinHint; statistics.spinHints += 1
            default: $0.reason = .stopBudget
            }
            $0.timerDeadline = hart.nextTimerDeadline ?? 0
            $0.wakeMask = hart.readCSR(CSRNumber.mie) ?? 0
            // The hash is read only by the log's checks (the slice's Run says whether the run has them).
            if checkInterval > 0 { $0.stateHash = hart.stateHash() }
            $0.pc = hart.pc
        })
        sliceActive = false
        cutRequested = false
        // A checkpoint pause belongs to its slice: the sequencer asks again in a later one. (Nearly always there is
        // none: a removal from an empty dictionary still hashes, and may allocate it storage.)
        if !pendingPauses.isEmpty {
            pendingPauses[.sequencer] = nil
            pendingPauses[.checkpoint] = nil
        }
        send(message)
        SliceTimes.note(.yieldSent)
    }

    /// Sends `body` to the sequencer (which stamps the envelope's other fields).
    private func send(_ body: Rrvm_Envelope.OneOf_Body) {
        transport.send(EnvelopeHeader(), body)
    }

    private func fail(_ reason: String) {
        finished = true
        transport.finish(exitCode: 1, reason: "hart \(index): \(reason)")
    }
}
