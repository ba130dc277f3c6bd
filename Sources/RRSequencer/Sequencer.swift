#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto
import RVPlatform
import SwiftProtobuf

/// How the sequencer reaches the world: the process wrapper implements it over the libuv bus; tests
/// implement it in memory.
public protocol SequencerTransport: AnyObject {
    /// Delivers a stamped message to `envelope.to`.
    func send(_ envelope: Rrvm_Envelope)
    /// Host monotonic time, used only to pace idle periods in a live run.
    func hostNanoseconds() -> UInt64
    /// Calls `Sequencer.idleTimerFired()` after that many nanoseconds (nil cancels).
    func wakeAfter(nanoseconds: UInt64?)
    /// The run is over.
    func finish(exitCode: Int32, reason: String)
    /// Delivers a device operation whose answer is not needed soon (a foretold write, `DeviceAccess.foretold`)
    /// without waking the addressee for it: it takes it the next time it is woken.
    func sendWithoutWaking(_ envelope: Rrvm_Envelope)
    /// The sequencer waits for answers from `endpoint` (a device sent foretold writes): wake it if it sleeps.
    func wake(_ endpoint: UInt32)
    /// As `send` (`waking`) or `sendWithoutWaking` for the envelope of `header` and `body`: the messages of a slice go
    /// out so, never built into an Envelope (each move of a body in and out of one copies it).
    func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, waking: Bool)
    /// `hart`'s slice starts (its Run follows), and `next` is the hart that will run after it if nothing changes
    /// meanwhile (nil: no other hart can run now): a hint for the host's scheduling (`TurnBoard`), never the schedule.
    func sliceStarts(hart: Int, next: Int?)
}

extension SequencerTransport {
    /// A transport that delivers everything in order as it comes (in memory) needs no wake-ups.
    public func sendWithoutWaking(_ envelope: Rrvm_Envelope) { send(envelope) }
    public func wake(_ endpoint: UInt32) {}
    public func sliceStarts(hart: Int, next: Int?) {}
    public func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, waking: Bool) {
        let envelope = header.envelope(body)
        if waking { send(envelope) } else { sendWithoutWaking(envelope) }
    }
}

/// What the sequencer does with the records it produces: write them (record), compare them (replay),
/// or nothing (a plain run). Every method that returns a JournalStop returns why a replay (or a recording
/// that cannot write) must stop there, else nil.
public protocol EventJournal: AnyObject {
    /// Instructions retired by all harts between two checks (0: none). A check is taken exactly where the harts
    /// have retired a multiple of it: inside a slice, the running hart sends its state hash there and runs on.
    var checkInterval: UInt64 { get }
    /// Called for every stamped message in order.
    func note(_ envelope: Rrvm_Envelope) -> JournalStop?
    /// Every process's state hash, every `checkInterval` retired instructions.
    func check(_ check: Rrvm_LogCheck) -> JournalStop?
    /// The input delivered at this boundary (console bytes or a network frame). Live: `live` (nil if none),
    /// recorded with how it ended an idle period (`idleFrom`: where the period began). Replay: the input
    /// recorded at `g`, if any, after comparing how it ended an idle period.
    func input(at g: UInt64, live: Rrvm_HostInput?, idleFrom: UInt64?) -> Result<Rrvm_HostInput?, JournalStop>
    /// Replay: the G of the next recorded host input, to skip idle time to it.
    func nextRecordedInputG() -> UInt64?
    /// Replay: whether the run stops at this boundary (the log ends here, or the run missed a check).
    func stopAtBoundary(g: UInt64) -> JournalStop?
    /// The run ends: recorded, or (replay) compared with the recorded end when the guest ended it.
    func end(_ end: Rrvm_LogEnd) -> JournalStop?
    /// Replay: where the log is read now, for a checkpoint (nil: the journal cannot go back).
    func position() -> Rrvm_LogPosition?
    /// Replay: reads on from a position `position` returned, after verifying the records there.
    func seek(to position: Rrvm_LogPosition) throws
    /// Whether the run's inputs come from the log now (a replay; a recording while it replays its past).
    var isReplaying: Bool { get }
}

extension EventJournal {
    public var isReplaying: Bool { false }
    public func position() -> Rrvm_LogPosition? { nil }
    public func seek(to position: Rrvm_LogPosition) throws {
        throw SequencerStateError("this run's log cannot go back to a checkpoint (only a replay can)")
    }
}

public struct JournalStop: Error {
    public var message: String
    public var exitCode: Int32
    public init(message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }
}

/// The hub's deterministic core: G, the serial round-robin schedule, virtual time, the event queue and
/// the ordering of every device operation. It is driven by messages and never looks at host time
/// except to pace idle periods of a live run (whose outcome is then stamped and logged as input).
public final class Sequencer {
    public enum HartState: Equatable {
        case ready, running, waiting
    }

    struct HartSlot {
        var state: HartState = .ready
        var lines: UInt64 = 0            // mip bits driven from outside
        var mtimecmp: UInt64 = .max      // from the CLINT
        var ownDeadline: UInt64 = 0      // the hart's own timer (Sstc), mtime, 0 = none
        var wakeMask: UInt64 = 0         // mie while waiting
        var sliceStart: UInt64 = 0
        var executed: UInt64 = 0         // instructions retired since the run began
        var stateHash: UInt64 = 0        // from its last yield
    }

    /// One device operation: sent, then answered by exactly one DeviceDone.
    struct DeviceWork {
        var device: Int
        var envelope: Rrvm_Envelope
        var replyToHart: Int?            // a hart waiting for the answer
        var answeredByHart = false       // a stable read the hart answered itself (logged and checked at its turn)
        var sentAhead = false            // a posted write already sent to its device (see `sendAhead`)
        /// A hart's access as it asked it, for the queue's decisions without reading the envelope's body (each read of
        /// a body copies it); nil for other work (an event, a line's level).
        let access: Access?

        struct Access {
            var offset: UInt64
            var size: UInt32
            var isWrite: Bool
            var value: UInt64            // the value written (a write)

            init(_ access: Rrvm_DeviceAccess) {
                (offset, size, isWrite, value) = (access.offset, access.size, access.write, access.value)
            }
        }

        /// A hart's access, `envelope` carrying it.
        init(device: Int, access: Rrvm_DeviceAccess, envelope: Rrvm_Envelope, replyToHart: Int?) {
            (self.device, self.envelope, self.replyToHart, self.access) = (device, envelope, replyToHart, Access(access))
        }

        /// Work that is not a hart's access.
        init(device: Int, envelope: Rrvm_Envelope) {
            (self.device, self.envelope, self.replyToHart, self.access) = (device, envelope, nil, nil)
        }

        /// Host input for the device (typed bytes, a received frame): posted, as a hart's write can be.
        var isHostInput: Bool {
            if case .hostInput? = envelope.body { return true }
            return false
        }
    }

    /// A posted write whose answer the sequencer foretold (see `foretell`), until the device's own answer comes: what a
    /// mismatch names, and what the answer changes. (No envelope or answer is kept: a device that sleeps may owe
    /// thousands of them, and a plain record costs no allocation.)
    struct ForetoldWrite {
        var from: UInt32
        var offset: UInt64
        var value: UInt64
        var change: ForetoldChange
    }

    /// What waits in the queue of requests: device work, or a check the running hart posted inside its slice,
    /// taken at its turn (`takePostedCheck`), once everything the hart sent before it has been handled.
    enum Queued {
        case work(DeviceWork)
        case check(hart: Int, Rrvm_HartCheck)
    }

    public let config: Rrvm_MachineConfig
    private let transport: SequencerTransport
    private let journal: EventJournal?
    /// Whether inputs come from the log: a replay, or a recording that re-executes its past under a debugger
    /// (`TimeTravelJournal`); host input arriving meanwhile is held until the run is live again.
    private var replaying: Bool { config.replay || journal?.isReplaying == true }

    public private(set) var g: UInt64 = 0
    /// The highest G the run has reached: the last boundary's, or a later stamped message's inside the slice under
    /// way (a lone hart's slice may hold the whole run).
    public var reachedG: UInt64 { max(g, stampedG) }
    private var seq: UInt64 = 0
    /// The highest G stamped so far (a slice's messages run ahead of `g`, which moves at its end).
    private var stampedG: UInt64 = 0
    private var harts: [HartSlot]
    private var nextHart = 0
    private var runningHart: Int?
    /// A Cut was sent to the running hart (at most one per slice).
    private var cutSent = false
    private var pendingYield: (hart: Int, yield: Rrvm_Yield)?
    /// Device work in flight (at most one) and queued. Consequences of an operation (an interrupt source
    /// changing at the PLIC) go before anything queued later, so the order never depends on arrival times.
    private var inFlight: DeviceWork?
    private var consequences: [DeviceWork] = []
    private var requests = FIFO<Queued>()
    /// Where `sendAhead` stopped last, as an element number of `requests`, and for which device: the elements before it
    /// still queued are all that device's work, sent ahead or answered by its hart, so the next look for the same
    /// device starts there. (A burst of console output queues hundreds of writes: looking through the window from the
    /// front at every operation copied each entry, a quarter of the sequencer's work over a 4-hart Linux boot.)
    private var sendAheadStop: (device: Int, number: Int)?
    /// Posted writes sent to their device ahead of their turn, per device, and the answers that came back
    /// before their turn (see `sendAhead`).
    private var sentAhead: [Int]
    private var answeredAhead: [[Rrvm_DeviceDone]]
    /// Per device (by index), the writes sent to it whose answers were foretold and that it has not answered yet, oldest
    /// first (see `foretell`), and whether the sequencer waits for all of them before it goes on.
    private var foretold: [FIFO<ForetoldWrite>]
    private var awaitingForetold = false
    /// Per device, the foretold writes not sent to it yet: for each register written, the last write (see `foretell`).
    private var unsentForetold: [[UnsentWrite]]

    /// A foretold write kept until its device is next needed (see `foretell`): the last one to its register, and the
    /// register as the device has it (before the first write kept).
    struct UnsentWrite {
        var entry: Int
        var index: Int
        var header: EnvelopeHeader
        var access: Rrvm_DeviceAccess
        var before: DeclaredRegister
    }
    /// A hart's answer held back until everything its access caused has been handled.
    private var heldReply: (hart: Int, device: Int, value: UInt64, fault: Bool, g: UInt64, sentIPI: Bool)?
    /// Per device, the reads it declared side-effect free in its last answer (valid until its next message).
    /// (These per-device tables are arrays indexed by device, not dictionaries: each is looked at per message.)
    private var stableReads: [[Rrvm_StableRead]?]
    /// Per device, a number that changes whenever its declaration does; per hart and device, the number of the
    /// declaration the hart holds (nil: not known, e.g. the hart accessed the device since it got it). A Run carries
    /// only the declarations its hart does not hold already: each entry costs about a microsecond to encode and
    /// decode, and most slices change none.
    private var declarationVersions: [UInt64]
    private var heldDeclarations: [[UInt64?]]
    /// Per device, the registers foretold writes set since its declaration numbered `base` (`values[i]` made the one
    /// numbered base + i + 1), at most `kept`: a hart that holds one from `base` on gets those
    /// (Run.declared_values), not the whole declaration, which cost several times more to send and take in (the
    /// CLINT's changes with most IPIs and timer programmings, so nearly every slice of several harts carried it).
    private struct DeclarationChanges {
        var base: UInt64
        var values: [(entry: Int, index: Int, value: UInt64)] = []

        static let kept = 64

        /// Register `index` of entry `entry` now holds `value`: the change that makes the next declaration. The oldest
        /// half goes when more than `kept` are held.
        mutating func append(entry: Int, index: Int, value: UInt64) {
            values.append((entry, index, value))
            guard values.count > Self.kept else { return }
            values.removeFirst(Self.kept / 2)
            base &+= UInt64(Self.kept / 2)
        }

        /// Appends to `declared` the registers of `device` set since its declaration numbered `held`, each once at its
        /// newest value (an IPI's msip set and cleared, a timer programmed again: a hart is a few slices behind, and
        /// most of the changes since are to a few registers); false, appending nothing, if they are not all kept (or
        /// the hart holds none).
        func appendValues(since held: UInt64?, device: Int, to declared: inout [Rrvm_DeclaredValue]) -> Bool {
            guard let held, held >= base else { return false }
            let first = declared.count
            // (Room made once: each growth of an array of messages costs hundreds of instructions.)
            declared.reserveCapacity(first + min(values.count, 16))
            for change in values[Int(held &- base)...].reversed()
            where !declared[first...].contains(where: { $0.entry == change.entry && $0.index == change.index }) {
                declared.append(.with {
                    $0.device = UInt32(device)
                    $0.entry = UInt32(change.entry)
                    $0.index = UInt32(change.index)
                    $0.value = change.value
                })
            }
            return true
        }
    }
    private var declarationChanges: [DeclarationChanges]
    /// Per device, the mtime at which it asked to be woken (DeviceDone.wake_at), if it did.
    private var deviceWake: [UInt64?]
    /// Console bytes typed on the host, not yet delivered to the UART (at most `consoleInputLimit`). A slice: taking a
    /// FIFO's worth from the front moves its start, not the (up to 64 KiB) behind it.
    private var hostInput: ArraySlice<UInt8> = []
    /// Console input the UART holds that the guest has not read, as its last answer said (DeviceDone.input_backlog).
    private var uartBacklog = 0
    /// Whether rrctl was asked to stop reading the host's console (InputFlow).
    private var consoleInputHeld = false
    /// The UART is given more console input only while it holds less than this, and at most up to it: a paste of
    /// megabytes waits here and on the host, not in the device (whose every answer digests what it holds), and no
    /// input record of the log is larger. 16, the FIFO's size: a paste reaches the guest in FIFOs, each read before
    /// the next comes, as from a line; with 256 Linux's console took 3,220 of 10,000 pasted commands (its terminal
    /// drops what its shell has not read in time), with 16 it took 5,459. A log holds such input with about twice
    /// its size (each record's framing).
    static let consoleInputWindow = 16
    /// rrctl is asked to stop reading the host's console once this much waits here, and to go on below half of it.
    static let consoleInputHoldAt = 64 << 10
    /// More than this waiting is dropped: a controller that does not stop when asked cannot fill the memory.
    static let consoleInputLimit = 4 << 20
    /// Frames the network card's backend received, waiting for a boundary (each is one input).
    private var hostFrames: [Data] = []
    /// Frames kept while the guest runs on; more are dropped, as a full network queue drops them.
    static let hostFrameLimit = 1024
    private var idleSince: (host: UInt64, g: UInt64)?
    /// Where the idle period that the pending input ended began (see `Rrvm_LogInput`).
    private var inputEndedIdleFrom: UInt64?
    /// Instructions retired by all harts, the retired count at which the next check is due, and each
    /// device's state hash from its last answer: the journal's periodic checks.
    private var retired: UInt64 = 0
    private var nextCheckAt: UInt64 = 0
    private var deviceHashes: [UInt64]
    private var finished = false
    private var started = false
    private let plicIndex: Int?
    /// Per device: its window of addresses, and whether it changes guest RAM (DeviceSpec.dma), looked up on every
    /// access (the configuration's own fields are SwiftProtobuf's, each read a copy).
    private let windows: [(base: UInt64, size: UInt64)]
    private let changesRAM: [Bool]
    private let uartIndex: Int?
    private let netIndex: Int?
    /// Console output produced since the run began: its length and an FNV-1a digest of its bytes (kept in
    /// checkpoints, so that a restored run can tell output it already produced from new output).
    public private(set) var consoleBytes: UInt64 = 0
    public private(set) var consoleDigest: UInt64 = 0xcbf2_9ce4_8422_2325
    /// Time travel: where the machine stops next (see `run(untilG:)`), and where the running hart is paused.
    private var stopTarget: UInt64?
    private var pausedAt: UInt64?
    private var stopReported = false
    /// Called once the machine has stopped at a checkpoint point that `run(untilG:)` asked for.
    public var onStopped: (() -> Void)?

    public init(config: Rrvm_MachineConfig, transport: SequencerTransport, journal: EventJournal?) {
        self.config = config
        self.transport = transport
        self.journal = journal
        harts = Array(repeating: HartSlot(), count: Int(config.harts))
        deviceHashes = Array(repeating: 0, count: config.devices.count)
        declarationVersions = Array(repeating: 0, count: config.devices.count)
        declarationChanges = Array(repeating: DeclarationChanges(base: 0), count: config.devices.count)
        heldDeclarations = Array(repeating: Array(repeating: nil, count: config.devices.count), count: Int(config.harts))
        foretold = Array(repeating: FIFO(), count: config.devices.count)
        unsentForetold = Array(repeating: [], count: config.devices.count)
        sentAhead = Array(repeating: 0, count: config.devices.count)
        answeredAhead = Array(repeating: [], count: config.devices.count)
        stableReads = Array(repeating: nil, count: config.devices.count)
        deviceWake = Array(repeating: nil, count: config.devices.count)
        plicIndex = config.devices.firstIndex { $0.kind == .plic }
        windows = config.devices.map { ($0.base, $0.size) }
        changesRAM = config.devices.map(\.dma)
        uartIndex = config.devices.firstIndex { $0.kind == .uart }
        netIndex = config.devices.firstIndex { $0.kind == .virtioNet }
    }

    // MARK: - Inputs

    /// Every hart and device has joined: the run begins.
    public func start() {
        guard !started else { return }
        started = true
        boundary()
    }

    public var isFinished: Bool { finished }
    /// Whether the run has begun (`start`, or a restored state).
    public var hasStarted: Bool { started }

    /// Counters for `RRVM_STATS=1` and benchmarks: how a run spent itself.
    public struct Statistics {
        public var slices = 0
        public var deviceOperations = 0
        public var cachedReads = 0
        /// Stable reads the harts answered themselves, and bytes they wrote to output-only registers.
        public var answeredByHarts = 0
        public var outputByHarts = 0
        /// Posted writes sent to their device before their turn.
        public var sentAhead = 0
        /// Posted writes whose answer the device's declaration foretold (applied at once, taken later).
        public var foretold = 0
        public var idlePeriods = 0
        public var idleHostNanoseconds: UInt64 = 0
        public var idleSkippedG: UInt64 = 0
        /// Slices handed out with a limit past their budget (a lone hart), and Cuts sent for host input.
        public var longSlices = 0
        public var cuts = 0
        /// Checks a running hart sent from inside its slice (`Run.check_at`).
        public var postedChecks = 0
    }
    public private(set) var statistics = Statistics()

    /// Whether a message is due soon: a device operation is under way, or the running hart has waited for a
    /// device's answer in this slice (accesses come in bursts). A slice that has only computed so far, or only
    /// posted (writes, console output the hart kept), may run for its whole budget, so nothing is due soon: the
    /// node sleeps rather than polls while a hart computes or prints.
    public var isBusy: Bool {
        !finished && (inFlight != nil || awaitingForetold || (runningHart != nil && sliceAwaitedDevices))
    }
    /// The running hart has sent an MMIO request in this slice whose answer it waited for.
    private var sliceAwaitedDevices = false
    /// A hart's slice is under way that another hart could run in instead: its Yield hands over to that one.
    public var sliceIsContended: Bool { runningHart != nil && runningSliceIsContended }
    private var runningSliceIsContended = false

    public func state(ofHart index: Int) -> HartState { harts[index].state }
    /// The hart whose slice is under way (the one a debugger's Ctrl-C stops in), if any.
    public var runningHartIndex: Int? { runningHart }
    /// G at the start of the hart's current (or last) slice.
    public func sliceStart(ofHart index: Int) -> UInt64 { harts[index].sliceStart }
    public func executed(byHart index: Int) -> UInt64 { harts[index].executed }

    /// A message from a hart or a device.
    public func receive(_ envelope: Rrvm_Envelope) { receive(envelope.body, from: envelope.from) }

    /// A message's body from `sender` (its envelope's `from`): the node has read it already (each read copies it).
    public func receive(_ body: Rrvm_Envelope.OneOf_Body?, from sender: UInt32) {
        guard !finished else { return }
        switch body {
        case .yield(let yield)?:
            guard Endpoint.isHart(sender), runningHart == Endpoint.hartIndex(sender) else {
                return fail("unexpected yield from \(Endpoint.describe(sender))")
            }
            pendingYield = (Endpoint.hartIndex(sender), yield)
            settle()
        case .paused(let paused)?:
            guard Endpoint.isHart(sender), runningHart == Endpoint.hartIndex(sender), stopTarget != nil,
                  pausedAt == nil else {
                return fail("unexpected pause from \(Endpoint.describe(sender))")
            }
            stopTarget = nil
            pausedAt = paused.executed
            stopReported = false
            settle()
        case .mmioRequest(let request)?:
            guard Endpoint.isHart(sender), runningHart == Endpoint.hartIndex(sender) else {
                return fail("unexpected MMIO request from \(Endpoint.describe(sender))")
            }
            mmio(request, hart: Endpoint.hartIndex(sender))
        case .hartCheck(let check)?:
            guard Endpoint.isHart(sender), runningHart == Endpoint.hartIndex(sender) else {
                return fail("unexpected check from \(Endpoint.describe(sender))")
            }
            requests.append(.check(hart: Endpoint.hartIndex(sender), check))
            pump()
        case .hostInput(let input)? where Endpoint.isDevice(sender)
                && Endpoint.deviceIndex(sender) == netIndex && input.console.isEmpty:
            receiveHostFrame(input.frame)
        case .deviceDone(let done)?:
            let device = Endpoint.isDevice(sender) ? Endpoint.deviceIndex(sender) : -1
            guard foretold.indices.contains(device) else {
                return fail("unexpected answer from \(Endpoint.describe(sender, config: config))")
            }
            if !foretold[device].isEmpty || done.foretoldAnswers != 0 {
                // No other operation goes to a device before it has answered every foretold write.
                foretoldAnswer(done, device: device)
            } else if let work = inFlight, work.device == device, answeredAhead[device].isEmpty {
                inFlight = nil
                deviceDone(done, work: work)
            } else if sentAhead[device] > answeredAhead[device].count {
                // The answer to a write sent ahead: used when that write's turn comes.
                answeredAhead[device].append(done)
            } else {
                return fail("unexpected answer from \(Endpoint.describe(sender, config: config))")
            }
        default:
            fail("unexpected \(Rrvm_Envelope.with { $0.body = body }.kindName) from \(Endpoint.describe(sender, config: config))")
        }
    }

    /// Bytes typed on the host's console (ignored in replay, where the log supplies input; held while a
    /// recording re-executes its past, and stamped once it is live again).
    public func receiveHostInput(_ bytes: [UInt8]) {
        guard !config.replay, !finished, uartIndex != nil else { return }
        hostInput += bytes.prefix(max(0, Self.consoleInputLimit - hostInput.count))
        updateConsoleInputFlow()
        hostInputArrived()
    }

    /// Console input the UART may be given now: some waits and the UART's backlog is under the window.
    private var consoleInputDeliverable: Bool { !hostInput.isEmpty && uartBacklog < Self.consoleInputWindow }

    /// Asks rrctl to stop or go on reading the host's console as the input waiting here crosses its bounds.
    private func updateConsoleInputFlow() {
        let hold = consoleInputHeld ? hostInput.count >= Self.consoleInputHoldAt / 2 : hostInput.count >= Self.consoleInputHoldAt
        guard hold != consoleInputHeld else { return }
        consoleInputHeld = hold
        var flow = Rrvm_Envelope()
        flow.g = g
        flow.to = Endpoint.control
        flow.body = .inputFlow(.with { $0.hold = hold })
        transport.send(flow)
    }

    /// A frame the network card's backend received for the guest (live runs only: in replay the log holds them).
    public func receiveHostFrame(_ frame: Data) {
        guard !config.replay, !finished, netIndex != nil, EthernetFrame.sizes.contains(frame.count),
              hostFrames.count < Self.hostFrameLimit else { return }
        hostFrames.append(frame)
        hostInputArrived()
    }

    /// Host input lands at the next boundary; when every hart waits, at the G that the host time since the
    /// idle period began corresponds to. A slice under way is cut short (SCHEDULE_POLICY_LONE_HART_TO_EVENT): a
    /// lone hart's slice may otherwise run on to the next scheduled event, however far that is.
    private func hostInputArrived() {
        // In a recording's past the input waits (cutting a slice there would change the past); the first
        // boundary after the present takes it. So does input the UART cannot take yet: a slice cut or an idle
        // period ended without an input delivered there would be a point that replay cannot find.
        guard !replaying, consoleInputDeliverable || !hostFrames.isEmpty else { return }
        if let hart = runningHart, config.schedule == .loneHartToEvent, !cutSent {
            cutSent = true
            statistics.cuts += 1
            sendToHart(hart, at: g, .cut(Rrvm_Cut()))
        } else if let idle = idleSince {
            let elapsed = transport.hostNanoseconds() &- idle.host
            let deadline = nextEventG() ?? .max
            g = min(deadline, idle.g &+ (Timebase.ticks(nanoseconds: elapsed) << UInt64(config.icountShift)))
            inputEndedIdleFrom = idle.g
            noteIdleEnd(idle)
            transport.wakeAfter(nanoseconds: nil)
            boundary()
        }
    }

    /// The host-time pause of an idle period is over.
    public func idleTimerFired() {
        guard let idle = idleSince, !finished else { return }
        if let deadline = nextEventG() { g = max(g, deadline) }
        noteIdleEnd(idle)
        boundary()
    }

    /// A process of the cluster is gone: the run cannot go on.
    public func lost(endpoint: UInt32, reason: String) {
        fail("\(Endpoint.describe(endpoint, config: config)) left the bus at G=\(g): \(reason)")
    }

    // MARK: - MMIO and device work

    private func mmio(_ request: Rrvm_MmioRequest, hart: Int) {
        if !request.posted { sliceAwaitedDevices = true }
        let accessG = harts[hart].sliceStart &+ request.executed
        guard let device = windows.firstIndex(where: {
            request.address >= $0.base && request.address &- $0.base < $0.size
        }) else {
            // The hart only sends addresses inside device windows; anything else is a fault, never a crash.
            if !request.posted { reply(toHart: hart, device: nil, value: 0, fault: true, g: accessG) }
            return
        }
        var access = Rrvm_DeviceAccess()
        access.offset = request.address &- windows[device].base
        access.size = request.size
        access.write = request.write
        access.value = request.value
        if !request.output.isEmpty || request.answeredReads > 1 {
            access.reads = request.answered ? max(1, request.answeredReads) : 0
            access.output = request.output
            access.outputOffset = request.outputAddress &- windows[device].base
        }
        let isQueueIdle = inFlight == nil && consequences.isEmpty && requests.isEmpty && heldReply == nil && !awaitingForetold
        if isQueueIdle && request.posted && !request.answered && request.output.isEmpty,
           let register = foretoldRegister(device: device, access: DeviceWork.Access(access)) {
            // A foretold write with nothing queued before it (most of them: a hart's IPIs and timer programming) is
            // foretold here, as `pump` would do at once: no queue entry, no envelope built. What the hart holds of
            // the device's declaration stays as it is: the hart set the register there, and with the changes since
            // (`declarationChanges`, this one among them) it has the newest.
            access.foretold = true
            foretell(device: device, header: EnvelopeHeader(g: accessG, from: Endpoint.hart(hart), to: Endpoint.device(device)),
                     access: access, register: register)
            return settle()
        }
        var envelope = Rrvm_Envelope()
        envelope.g = accessG
        envelope.from = Endpoint.hart(hart)
        envelope.to = Endpoint.device(device)
        envelope.body = .deviceAccess(access)
        var work = DeviceWork(device: device, access: access, envelope: envelope, replyToHart: request.posted ? nil : hart)
        work.answeredByHart = (request.answered && !request.write) || !request.output.isEmpty
        // Only reads it answered and output it kept leave the hart's declaration for the device as it got it.
        if !work.answeredByHart { heldDeclarations[hart][device] = nil }
        requests.append(.work(work))
        pump()
    }

    /// Sends the next device operation if none is in flight; when everything is quiet, moves on.
    private func pump() {
        while inFlight == nil && !finished {
            if consequences.isEmpty, let held = heldReply {
                heldReply = nil
                reply(toHart: held.hart, device: held.device, value: held.value, fault: held.fault, g: held.g,
                      sliceLeft: held.sentIPI ? Schedule.sliceLeftAfterIPI : 0)
            }
            var next: DeviceWork
            if let consequence = consequences.first {
                next = consequence
            } else if case .check(let hart, let check)? = requests.first {
                // A check holds every device's state hash as the operations before it left it.
                if !everyForetoldAnswered { return awaitForetoldAnswers() }
                _ = requests.removeFirst()
                takePostedCheck(check, hart: hart)
                continue
            } else if case .work(let request)? = requests.first {
                next = request
            } else {
                settle()
                return
            }
            // Where the device's declaration foretells this write's answer (looked up once: nothing below changes it).
            let foretellable = foretoldRegister(next)
            if owesForetoldAnswers(next.device), !next.answeredByHart, !isCachedRead(next), foretellable == nil {
                // An operation the device must see waits at the head of the queue until that device has answered
                // the writes foretold before it (the device's answers come in order).
                return awaitForetoldAnswers()
            }
            if consequences.isEmpty { _ = requests.removeFirst() } else { consequences.removeFirst() }
            if next.answeredByHart {
                // Answered by the hart when it was queued; logged here, in queue order, like any cached read.
                if let mismatch = declarationMismatch(next) { return fail(mismatch) }
                let access = next.envelope.deviceAccess
                let reads = access.output.isEmpty ? max(1, Int(access.reads)) : Int(access.reads)
                statistics.answeredByHarts += reads
                statistics.cachedReads += reads
                statistics.outputByHarts += access.output.count
                stampAndNote(g: next.envelope.g) {
                    var envelope = next.envelope
                    envelope.deviceAccess.cached = true
                    return envelope
                }
                if !access.output.isEmpty && !finished { showConsole(access.output, g: next.envelope.g) }
                continue
            }
            if let answered = answerFromCache(next) {
                // Logged like any access, so that replay makes the same decision at the same point.
                stampAndNote(answered.envelope)
                if !finished, let hart = answered.replyToHart {
                    reply(toHart: hart, device: next.device, value: answered.envelope.deviceAccess.value, fault: false,
                          g: answered.envelope.g)
                }
                continue
            }
            if let foretellable {
                var access = next.envelope.deviceAccess
                access.foretold = true
                foretell(device: next.device, header: EnvelopeHeader(next.envelope), access: access, register: foretellable)
                continue
            }
            inFlight = next
            statistics.deviceOperations += 1
            stampAndNote(next.envelope)
            if finished { return }
            if next.sentAhead {
                sentAhead[next.device] -= 1
                if let done = answeredAhead[next.device].first {
                    answeredAhead[next.device].removeFirst()
                    inFlight = nil
                    deviceDone(done, work: next)
                    return
                }
            } else {
                transport.send(next.envelope)
            }
        }
        sendAhead()
    }

    /// While a device works on an operation, the posted writes (and host input) queued right behind it for the same
    /// device go out too, so that a burst of console output costs the UART process one wake-up, not one per byte
    /// (Linux's priority writes at start-up the PLIC's, not one per source and context, and a burst of frames the
    /// network card's not a round trip each).
    /// Only the sending moves: each write is logged, and its answer applied, at its turn in the queue, so
    /// the log and everything the guest sees are as if they had gone one by one. (A device's answers
    /// depend only on the operations it is sent, in order; the consequences queued in between go to the
    /// PLIC, never to another device, so writes go ahead to the PLIC only while no consequence waits: none
    /// can join the queue before they have had their turn, since only another device's answer makes one.)
    private func sendAhead() {
        guard let head = inFlight, head.device != plicIndex || consequences.isEmpty, !finished else { return }
        // At most 64 entries from the front of the queue.
        let front = requests.indices.lowerBound
        var index = front
        if let stop = sendAheadStop, stop.device == head.device { index = requests.position(ofNumber: stop.number) }
        while index < requests.indices.upperBound, index - front < 64 {
            guard case .work(var work) = requests[index], work.device == head.device else { break }
            if !work.answeredByHart && !work.sentAhead {
                guard work.replyToHart == nil, work.access?.isWrite ?? work.isHostInput else { break }
                work.sentAhead = true
                requests[index] = .work(work)
                sentAhead[head.device] += 1
                statistics.sentAhead += 1
                transport.send(work.envelope)
            }
            index += 1
        }
        sendAheadStop = (head.device, requests.number(ofPosition: index))
    }

    /// A hart's read of a register the device declared stable in its last answer, answered here.
    /// Decided when the read reaches the head of the queue, so it depends only on the order of events.
    private func answerFromCache(_ work: DeviceWork) -> DeviceWork? {
        guard let value = cachedRead(work) else { return nil }
        var answered = work
        answered.envelope.deviceAccess.cached = true
        answered.envelope.deviceAccess.value = value
        statistics.cachedReads += 1
        return answered
    }

    /// What the device's declaration says a hart's waited read reads, if it declares that register.
    private func cachedRead(_ work: DeviceWork) -> UInt64? {
        guard work.replyToHart != nil, let access = work.access, !access.isWrite else { return nil }
        return stableReads[work.device]?.readValue(offset: access.offset, size: access.size)
    }

    private func isCachedRead(_ work: DeviceWork) -> Bool { cachedRead(work) != nil }

    // MARK: Foretold writes

    /// The register of `work`'s device that `work`, a write a hart posted, sets, when the device's declaration
    /// foretells the whole answer (see `DeviceAccess.foretold`): declared set by writes, driving a line of a hart
    /// of this machine, on a device without DMA that wants no wake-up.
    /// Returns where the register is in the declaration (its entry, its index in that entry's array) and the
    /// register as if declared alone.
    private func foretoldRegister(_ work: DeviceWork) -> (entry: Int, index: Int, register: DeclaredRegister)? {
        guard work.replyToHart == nil, !work.answeredByHart, !work.sentAhead, Endpoint.isHart(work.envelope.from),
              let access = work.access else { return nil }
        return foretoldRegister(device: work.device, access: access)
    }

    /// As `foretoldRegister(_:)` for `access`, a write a hart posted to `device` (answered by nobody yet, not sent).
    private func foretoldRegister(device: Int, access: DeviceWork.Access) -> (entry: Int, index: Int, register: DeclaredRegister)? {
        guard access.isWrite, !changesRAM[device], deviceWake[device] == nil,
              let reads = stableReads[device],
              let (entry, index) = reads.register(offset: access.offset, size: access.size)
        else { return nil }
        let register = reads.declaredRegister(at: (entry, index))
        guard register.setByWriteMask != 0, register.lineMipBit != 0, register.lineMipBit < 64,
              Int(register.lineHart) < harts.count else { return nil }
        return (entry, index, register)
    }

    /// A write whose answer the device's declaration foretells: logged (marked foretold), its answer applied now as
    /// the declaration says (the register holds the value written, masked; its line follows), and kept for the device
    /// until it is next needed (`sendForetoldWrites`), the last write to each register only: the register's value is
    /// all such a write leaves in the device. The device's answer, when it comes, must be the one foretold
    /// (`foretoldAnswer`). So a hart's IPI or timer programming costs the device nothing until it is next needed,
    /// and then a write per register written since (the CLINT's 512 writes at a time on smp-contend stopped the
    /// sequencer, on whose CPU it runs, for about a millisecond).
    /// `access`, marked foretold (DeviceAccess.foretold), goes to `device` under `header`.
    private func foretell(device: Int, header: EnvelopeHeader, access: Rrvm_DeviceAccess,
                          register place: (entry: Int, index: Int, register: DeclaredRegister)) {
        let (entry, index, register) = place
        let written = DeviceWork.Access(access)
        statistics.deviceOperations += 1
        statistics.foretold += 1
        stampAndNote(g: header.g) { header.envelope(.deviceAccess(access)) }
        if finished { return }
        if let kept = unsentForetold[device].firstIndex(where: { $0.entry == entry && $0.index == index }) {
            unsentForetold[device][kept].header = header
            unsentForetold[device][kept].access = access
        } else {
            unsentForetold[device].append(UnsentWrite(entry: entry, index: index, header: header, access: access, before: register))
        }
        let hart = Int(register.lineHart)
        let value = written.value & register.setByWriteMask
        stableReads[device]![entry].setRegisterValue(value, at: index)
        // The harts that hold the declaration from before get this change with their next Run.
        if value != register.value {
            declarationVersions[device] &+= 1
            declarationChanges[device].append(entry: entry, index: index, value: value)
        }
        let change = ForetoldChange(writing: written.value, to: register)
        switch change {
        case .timerCompare(_, let mtimecmp):
            harts[hart].mtimecmp = mtimecmp
            updateTimerLine(hart: hart)
        case .line(_, let bit, let level):
            setLine(hart: hart, bit: bit, level: level)
        case .none:
            break
        }
    }

    /// Sends `device` the foretold writes kept for it (see `foretell`), in the order of their turns, without waking it:
    /// from now on it owes their answers, which leave out its declaration when it is the one foretold (see
    /// DeviceDone.stable_reads).
    private func sendForetoldWrites(to device: Int) {
        guard !unsentForetold[device].isEmpty else { return }
        unsentForetold[device].sort { $0.header.g < $1.header.g }
        for write in unsentForetold[device] {
            transport.send(write.header, .deviceAccess(write.access), waking: false)
            foretold[device].append(ForetoldWrite(from: write.header.from, offset: write.access.offset,
                                                  value: write.access.value,
                                                  change: ForetoldChange(writing: write.access.value, to: write.before)))
        }
        unsentForetold[device].removeAll(keepingCapacity: true)
    }

    /// Whether `device` has foretold writes to take or to answer.
    private func owesForetoldAnswers(_ device: Int) -> Bool { !foretold[device].isEmpty || !unsentForetold[device].isEmpty }

    /// The device's answer to its oldest foretold write: it must be the one foretold (its state hash aside, kept
    /// for the checks). Otherwise the device broke its word and the run stops. (An answer for several, which the
    /// device's runner checked, goes to `foretoldAnswers`.)
    private func foretoldAnswer(_ done: Rrvm_DeviceDone, device: Int) {
        if done.foretoldAnswers != 0 { return foretoldAnswers(done, device: device) }
        let write = foretold[device].removeFirst()
        guard ForetoldChange(done) == write.change else {
            var expected = write.change.answer
            expected.stateHash = done.stateHash
            return fail("\(Endpoint.describe(write.from)) posted a write of \(write.value) to offset "
                        + "\(write.offset) of \(Endpoint.describe(Endpoint.device(device), config: config)), whose "
                        + "answer the device's declaration foretold as {\(expected.textFormatString())}, but the device answered "
                        + "{\(done.textFormatString())} (a device model bug)")
        }
        answeredForetold(device: device, stateHash: done.stateHash)
    }

    /// The device's answer to its oldest `done.foretoldAnswers` foretold writes, each of which its runner found to be
    /// the one foretold.
    private func foretoldAnswers(_ done: Rrvm_DeviceDone, device: Int) {
        var rest = done
        rest.foretoldAnswers = 0
        rest.stateHash = 0
        guard done.foretoldAnswers <= UInt64(foretold[device].count), rest == Rrvm_DeviceDone() else {
            return fail("\(Endpoint.describe(Endpoint.device(device), config: config)) answered "
                        + "\(done.foretoldAnswers) foretold writes when it owed \(foretold[device].count), in an answer "
                        + "holding {\(rest.textFormatString())} besides (a device runner bug)")
        }
        for _ in 0..<done.foretoldAnswers { _ = foretold[device].removeFirst() }
        answeredForetold(device: device, stateHash: done.stateHash)
    }

    /// Foretold writes to `device` were answered, the last leaving the device with `stateHash`.
    private func answeredForetold(device: Int, stateHash: UInt64) {
        deviceHashes[device] = stateHash
        if awaitingForetold && everyForetoldAnswered {
            awaitingForetold = false
            pump()
        }
    }

    private var everyForetoldAnswered: Bool { foretold.indices.allSatisfy { !owesForetoldAnswers($0) } }

    /// Waits for every foretold answer, sending the devices the writes kept for them and waking those that owe one;
    /// `foretoldAnswer` goes on once all came.
    private func awaitForetoldAnswers() {
        awaitingForetold = true
        for device in foretold.indices {
            sendForetoldWrites(to: device)
            if !foretold[device].isEmpty { transport.wake(Endpoint.device(device)) }
        }
    }

    private func deviceDone(_ done: Rrvm_DeviceDone, work: DeviceWork) {
        stampAndNote(g: work.envelope.g) {
            var envelope = Rrvm_Envelope()
            envelope.g = work.envelope.g
            envelope.from = Endpoint.device(work.device)
            envelope.to = Endpoint.sequencer
            envelope.body = .deviceDone(done)
            return envelope
        }
        if finished { return }
        if let mismatch = postedWriteMismatch(work, done: done) { return fail(mismatch) }
        deviceHashes[work.device] = done.stateHash
        if work.device == uartIndex && done.hasInputBacklog { uartBacklog = Int(done.inputBacklog) }
        if let hart = work.replyToHart {
            let sentIPI = done.hartLines.contains {
                $0.mipBit == InterruptNumber.machineSoftware && $0.level && Int($0.hart) != hart
            }
            heldReply = (hart, work.device, done.value, done.fault, work.envelope.g, sentIPI)
        }
        if done.stableReads != stableReads[work.device] ?? [] { declarationReplaced(device: work.device) }
        stableReads[work.device] = done.stableReads.isEmpty ? nil : done.stableReads
        for line in done.hartLines where Int(line.hart) < harts.count && line.mipBit < 64 {
            setLine(hart: Int(line.hart), bit: line.mipBit, level: line.level)
        }
        for compare in done.timerCompares where Int(compare.hart) < harts.count {
            harts[Int(compare.hart)].mtimecmp = compare.mtimecmp
            updateTimerLine(hart: Int(compare.hart))
        }
        deviceWake[work.device] = done.wantsWake ? done.wakeAt : nil
        if !done.console.isEmpty { showConsole(done.console, g: work.envelope.g) }
        if let plic = plicIndex, plic != work.device {
            for level in done.sourceLevels {
                var forward = Rrvm_Envelope()
                forward.g = work.envelope.g
                forward.from = Endpoint.device(work.device)
                forward.to = Endpoint.device(plic)
                forward.body = .sourceLevel(level)
                consequences.append(DeviceWork(device: plic, envelope: forward))
            }
        }
        if done.exit {
            return finish(exitCode: done.exitCode, reason: "the guest powered off with status \(done.exitCode)",
                          guestEnded: true)
        }
        if done.reset {
            return finish(exitCode: 0, reason: "the guest asked for a reset, which rrvm treats as the end of the run",
                          guestEnded: true)
        }
        pump()
    }

    /// Sends `body` to hart `hart`, stamped `g` (no Envelope built: see `SequencerTransport.send(_:_:waking:)`). The
    /// body is dropped once sent: it may hold a device's declaration, which a foretold write then changes in place
    /// rather than in a copy.
    /// `device`'s declaration is another one now: every hart gets it whole with its next Run.
    private func declarationReplaced(device: Int) {
        declarationVersions[device] &+= 1
        declarationChanges[device] = DeclarationChanges(base: declarationVersions[device])
    }

    private func sendToHart(_ hart: Int, at g: UInt64, _ body: Rrvm_Envelope.OneOf_Body) {
        transport.send(EnvelopeHeader(g: g, to: Endpoint.hart(hart)), body, waking: true)
    }

    /// Console output of the guest, counted and digested (checkpoints compare it), to rrctl.
    private func showConsole(_ bytes: Data, g: UInt64) {
        consoleBytes &+= UInt64(bytes.count)
        bytes.withUnsafeBytes { buffer in
            for byte in buffer { consoleDigest = (consoleDigest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        var output = Rrvm_Envelope()
        output.g = g
        output.to = Endpoint.control
        output.body = .consoleOutput(.with { $0.data = bytes })
        transport.send(output)
    }

    /// Answers a hart's access with the value and the hart's interrupt lines as they are now (the timer
    /// line evaluated at the access's G), which the hart applies right after the instruction.
    /// A read a hart answered itself must find, at its turn, the value the device declares then: the
    /// device promised that nothing in between could change it. Otherwise the device broke its word.
    private func declarationMismatch(_ work: DeviceWork) -> String? {
        guard case .deviceAccess(let access)? = work.envelope.body else { return nil }
        // Described only for a mismatch: every read the harts answer passes here.
        var device: String { Endpoint.describe(Endpoint.device(work.device), config: config) }
        if !access.output.isEmpty {
            guard stableReads[work.device]?.contains(where: { $0.outputWritesTo.contains(access.outputOffset) }) == true else {
                return "\(Endpoint.describe(work.envelope.from)) wrote \(access.output.count) bytes to offset \(access.outputOffset) "
                    + "of \(device) as output only, but at their turn the device declares no such register (a device model bug)"
            }
            if access.reads == 0 { return nil }
        }
        let declared = stableReads[work.device]?.readValue(offset: access.offset, size: access.size)
        if declared == access.value { return nil }
        return "\(Endpoint.describe(work.envelope.from)) read \(access.value) at offset \(access.offset) of \(device) "
            + "from its stable-read declaration, but at that read's turn the device declares "
            + (declared.map { "\($0)" } ?? "nothing") + " (a device model bug)"
    }

    /// A write a hart posted to a device whose writes wait was posted under the device's declaration: either the
    /// declaration says the write sets a register (StableRead.set_by_write_mask: the hart went on with the value
    /// written as that register's declared value), and the device's answer must declare it with that value; or every
    /// entry says the write keeps it (kept_by_writes_to: a PLIC completion), and the answer must declare the same
    /// again. Otherwise the device broke its word.
    private func postedWriteMismatch(_ work: DeviceWork, done: Rrvm_DeviceDone) -> String? {
        guard work.replyToHart == nil, !work.answeredByHart, Endpoint.isHart(work.envelope.from),
              config.devices[work.device].writesWait, case .deviceAccess(let access)? = work.envelope.body, access.write
        else { return nil }
        if let before = stableReads[work.device], before.isKept(byWriteTo: access.offset) {
            if done.stableReads == before { return nil }
            return "\(Endpoint.describe(work.envelope.from)) posted a write to offset \(access.offset) of "
                + "\(Endpoint.describe(Endpoint.device(work.device), config: config)) as one that keeps its declaration, but "
                + "the device's answer declares something else (a device model bug)"
        }
        let declared = done.stableReads.declaredRegister(offset: access.offset, size: access.size)
        if let declared, declared.setByWriteMask != 0, declared.value == access.value & declared.setByWriteMask { return nil }
        return "\(Endpoint.describe(work.envelope.from)) posted a write of \(access.value) to offset \(access.offset) of "
            + "\(Endpoint.describe(Endpoint.device(work.device), config: config)) as setting a declared register, but the "
            + "device's answer declares " + (declared.map { "\($0.value) (mask \($0.setByWriteMask))" } ?? "no such register")
            + " (a device model bug)"
    }

    /// Answers a hart's MMIO access with its interrupt lines, the timer line computed at the access's G,
    /// and the device's stable-read declaration.
    private func reply(toHart hart: Int, device: Int?, value: UInt64, fault: Bool, g accessG: UInt64,
                       sliceLeft: UInt64 = 0) {
        let timer = InterruptNumber.mask(InterruptNumber.machineTimer)
        var lines = harts[hart].lines & ~timer
        if accessG >> UInt64(config.icountShift) >= harts[hart].mtimecmp { lines |= timer }
        sendToHart(hart, at: accessG, .mmioReply(.with {
            $0.value = value
            $0.fault = fault
            $0.interruptLines = lines
            if let device {
                $0.stableReads = stableReads[device] ?? []
                heldDeclarations[hart][device] = declarationVersions[device]
            }
            $0.sliceLeft = sliceLeft
        }))
    }

    // MARK: - Schedule

    /// Called whenever something finished: once no device work is left, a pending yield ends its slice.
    private func settle() {
        guard inFlight == nil, consequences.isEmpty, requests.isEmpty, !finished else { return }
        if pausedAt != nil {
            // A checkpoint holds every device's state as the operations so far left it.
            if !everyForetoldAnswered { return awaitForetoldAnswers() }
            if !stopReported && isAtCheckpointPoint {
                stopReported = true
                onStopped?()
            }
            return
        }
        guard let (hart, yield) = pendingYield else {
            if runningHart == nil { boundary() }
            return
        }
        pendingYield = nil
        if isCheckDue(after: yield.executed) {
            return fail("hart \(hart) ended its slice after \(yield.executed) instructions without sending the check due "
                        + "after \(nextCheckAt &- retired)")
        }
        let end = harts[hart].sliceStart &+ yield.executed
        stampAndNote(g: end) {
            var envelope = Rrvm_Envelope()
            envelope.g = end
            envelope.from = Endpoint.hart(hart)
            envelope.to = Endpoint.sequencer
            envelope.body = .yield(yield)
            return envelope
        }
        if finished { return }
        g = end
        harts[hart].executed &+= yield.executed
        harts[hart].stateHash = yield.stateHash
        retired &+= yield.executed
        harts[hart].ownDeadline = yield.timerDeadline
        harts[hart].wakeMask = yield.wakeMask
        harts[hart].state = yield.reason == .stopWfi ? .waiting : .ready
        runningHart = nil
        boundary()
    }

    /// Between slices: deliver what is due at this G, then run the next hart or idle.
    private func boundary() {
        guard started, !finished, runningHart == nil, inFlight == nil, !awaitingForetold else { return }
        // A check holds every device's state hash as the operations so far left it.
        if isCheckDue() && !everyForetoldAnswered { return awaitForetoldAnswers() }
        if let stop = checkIfDue() ?? journal?.stopAtBoundary(g: g) { return fail(stop.message, exitCode: stop.exitCode) }
        for hart in harts.indices { updateTimerLine(hart: hart) }
        let now = mtime
        if let device = deviceWake.firstIndex(where: { $0.map { $0 <= now } ?? false }) {
            deviceWake[device] = nil
            enqueueDeviceEvent(device: device, body: .deviceTick(Rrvm_DeviceTick()))
            return
        }
        // Every input due here goes to its device now, one operation each, in order: a burst of frames is sent ahead
        // together (`sendAhead`) rather than one per boundary, each waiting for the one before it to be answered.
        // The operations and their order are those of one input per boundary: no hart runs in between, and each
        // frame's consequences (the PLIC's) are taken before the next frame's turn.
        var delivered = false
        taking: while true {
            switch takeInput() {
            case .failure(let stop):
                return fail(stop.message, exitCode: stop.exitCode)
            case .success(nil):
                break taking
            case .success(let input?):
                guard let device = input.frame.isEmpty ? uartIndex : netIndex else { continue }
                requests.append(.work(DeviceWork(device: device, envelope: deviceEvent(device: device, body: .hostInput(input)))))
                delivered = true
            }
        }
        if delivered { return pump() }
        if let hart = nextRunnableHart() {
            runSlice(hart)
        } else {
            idle()
        }
    }

    private func enqueueDeviceEvent(device: Int, body: Rrvm_Envelope.OneOf_Body) {
        requests.append(.work(DeviceWork(device: device, envelope: deviceEvent(device: device, body: body))))
        pump()
    }

    /// An event for `device` at this G, from the sequencer.
    private func deviceEvent(device: Int, body: Rrvm_Envelope.OneOf_Body) -> Rrvm_Envelope {
        var envelope = Rrvm_Envelope()
        envelope.g = g
        envelope.from = Endpoint.sequencer
        envelope.to = Endpoint.device(device)
        envelope.body = body
        return envelope
    }

    /// The input to deliver now: what the host typed, else the oldest frame the network card's backend
    /// received (recorded), or in replay what the log holds.
    private func takeInput() -> Result<Rrvm_HostInput?, JournalStop> {
        var live: Rrvm_HostInput?
        if !replaying, consoleInputDeliverable {
            live = .with { $0.console = Data(hostInput.prefix(Self.consoleInputWindow - uartBacklog)) }
        } else if !replaying, let frame = hostFrames.first {
            live = .with { $0.frame = frame }
        }
        let taken = journal?.input(at: g, live: live, idleFrom: inputEndedIdleFrom) ?? .success(live)
        if case .success(let input?) = taken, !replaying {
            if input.console.isEmpty {
                hostFrames.removeFirst()
            } else {
                hostInput.removeFirst(input.console.count)
                // Until the UART's answer says exactly: no more is given before then.
                uartBacklog += input.console.count
                updateConsoleInputFlow()
            }
        }
        if case .success(_?) = taken { inputEndedIdleFrom = nil }
        return taken
    }

    /// Retired instructions between two checks of every process's state hash (0: none, as in a plain run). A check
    /// never ends a slice: the running hart sends its part from inside it (`Run.check_at`), so a recording and a
    /// replay have the slices of a plain run.
    private var checkInterval: UInt64 { journal?.checkInterval ?? 0 }

    /// Whether a check falls at or before `executed` more retired instructions.
    private func isCheckDue(after executed: UInt64 = 0) -> Bool {
        checkInterval > 0 && retired &+ executed >= nextCheckAt
    }

    /// At a boundary, the check due there (the run's first, at G=0; a run restored at a boundary where one is due).
    private func checkIfDue() -> JournalStop? {
        guard isCheckDue() else { return nil }
        return takeCheck(g: g, retired: retired, hartHashes: harts.map(\.stateHash))
    }

    /// A check the running hart sent from inside its slice, at its turn: it must be the one due, where the hart has
    /// retired `check.executed` instructions of the slice. The other harts' hashes are from their last yield (none
    /// runs meanwhile), the devices' from their answers to the operations before it.
    private func takePostedCheck(_ check: Rrvm_HartCheck, hart: Int) {
        let at = retired &+ check.executed
        guard checkInterval > 0, at == nextCheckAt else {
            return fail("hart \(hart) sent a check after \(check.executed) instructions of its slice, where "
                        + (checkInterval > 0 ? "the next is due after \(nextCheckAt &- retired)" : "none is taken"))
        }
        statistics.postedChecks += 1
        var hashes = harts.map(\.stateHash)
        hashes[hart] = check.stateHash
        if let stop = takeCheck(g: harts[hart].sliceStart &+ check.executed, retired: at, hartHashes: hashes) {
            fail(stop.message, exitCode: stop.exitCode)
        }
    }

    /// The check at `retired` instructions (G=`g`) to the journal; the next is due at the next multiple of the interval.
    private func takeCheck(g: UInt64, retired: UInt64, hartHashes: [UInt64]) -> JournalStop? {
        nextCheckAt = (retired / checkInterval + 1) &* checkInterval
        return journal?.check(.with {
            $0.g = g
            $0.retired = retired
            $0.harts = hartHashes
            $0.devices = deviceHashes
        })
    }

    private func nextRunnableHart() -> Int? {
        (0..<harts.count).lazy.map { (self.nextHart + $0) % self.harts.count }.first { self.isRunnable($0) }
    }

    private func isRunnable(_ index: Int) -> Bool {
        let slot = harts[index]
        switch slot.state {
        case .ready: return true
        case .waiting: return slot.lines & slot.wakeMask != 0 || (slot.ownDeadline != 0 && slot.ownDeadline <= mtime)
        case .running: return false
        }
    }

    /// The longest slice a lone hart is given when no event is scheduled at all.
    static let longestSlice: UInt64 = 1 << 62

    private func runSlice(_ hart: Int) {
        var budget = config.quantum == 0 ? Schedule.defaultQuantum : config.quantum
        // Up to the next scheduled event (of every hart, the running one's timer compare included).
        var horizon = Self.longestSlice
        if let event = nextEventG(), event > g { horizon = min(horizon, event - g) }
        budget = min(budget, horizon)
        let othersCanRun = harts.indices.contains { $0 != hart && isRunnable($0) }
        // A hart alone may run on past its quantum (see Run.slice_limit): nothing can become due before the
        // horizon unless the hart accesses a device, and then its slice ends at the end of that quantum.
        var limit = config.schedule == .loneHartToEvent && !othersCanRun ? horizon : 0
        if limit <= budget { limit = 0 }
        nextHart = (hart + 1) % harts.count
        harts[hart].state = .running
        harts[hart].sliceStart = g
        statistics.slices += 1
        if limit > 0 { statistics.longSlices += 1 }
        runningHart = hart
        cutSent = false
        sliceAwaitedDevices = false
        runningSliceIsContended = othersCanRun
        if let target = stopTarget, target < g &+ max(budget, limit) {
            // Time travel: the hart pauses inside this slice when G reaches the target (at once if the target
            // fell in an idle period that has been skipped).
            sendToHart(hart, at: g, .pauseAt(.with { $0.executed = target > g ? target - g : 0 }))
        }
        transport.sliceStarts(hart: hart, next: othersCanRun ? nextRunnableHart() : nil)
        sendToHart(hart, at: g, .run(.with {
            $0.budget = budget
            $0.sliceLimit = limit
            if checkInterval > 0 {
                // The next check falls where the harts have retired `nextCheckAt` instructions: in this slice, if it
                // gets that far (the boundary took the one due here).
                $0.checkAt = nextCheckAt &- retired
                $0.checkInterval = checkInterval
            }
            $0.interruptLines = harts[hart].lines
            $0.spinHintsYield = othersCanRun
            for device in declarationVersions.indices where heldDeclarations[hart][device] != declarationVersions[device] {
                let held = heldDeclarations[hart][device]
                if !declarationChanges[device].appendValues(since: held, device: device, to: &$0.declaredValues) {
                    $0.stableReads.append(.with { $0.device = UInt32(device); $0.reads = stableReads[device] ?? [] })
                }
                heldDeclarations[hart][device] = declarationVersions[device]
            }
        }))
    }

    /// Every hart waits: skip G to the next deadline (replay: at once; live: after that much host time).
    private func idle() {
        let deadline = nextEventG()
        if replaying {
            let inputG = journal?.nextRecordedInputG()
            guard let target = [deadline, inputG].compactMap({ $0 }).min() else {
                return finish(exitCode: 2, reason: "replay stopped at G=\(g): every hart waits and the log holds no more input")
            }
            if let inputG, inputG <= g {
                // The input due now was not taken at this boundary: the run is not where the recording was.
                return fail("replay diverged at G=\(g): every hart waits, and the log's next input at G=\(inputG) was "
                            + "not taken where it was recorded", exitCode: ReplayExit.diverged)
            }
            if let inputG, inputG == target { inputEndedIdleFrom = g }
            g = max(g, target)
            boundary()
            return
        }
        idleSince = (transport.hostNanoseconds(), g)
        statistics.idlePeriods += 1
        if let deadline {
            let ticks = (deadline &- g) >> UInt64(config.icountShift)
            transport.wakeAfter(nanoseconds: Timebase.nanoseconds(ticks: ticks))
        }
        // With no deadline, only host input (or Ctrl-C) ends the wait.
    }

    private func noteIdleEnd(_ idle: (host: UInt64, g: UInt64)) {
        idleSince = nil
        statistics.idleHostNanoseconds &+= transport.hostNanoseconds() &- idle.host
        statistics.idleSkippedG &+= g &- idle.g
    }

    /// The G of the next scheduled event after now: a timer compare, a device wake-up, a waiting hart's
    /// own timer, or (replay) the next recorded input.
    private func nextEventG() -> UInt64? {
        var next: UInt64?
        func candidate(_ g: UInt64) { next = min(next ?? g, g) }
        let now = mtime
        for slot in harts {
            if slot.mtimecmp != .max && slot.mtimecmp > now { candidate(gForMtime(slot.mtimecmp)) }
            if slot.state == .waiting, slot.ownDeadline > now { candidate(gForMtime(slot.ownDeadline)) }
        }
        for case let wake? in deviceWake where wake > now { candidate(gForMtime(wake)) }
        if replaying, let input = journal?.nextRecordedInputG(), input > g { candidate(input) }
        return next
    }

    private func gForMtime(_ time: UInt64) -> UInt64 {
        let shift = UInt64(config.icountShift)
        return time >= (UInt64.max >> shift) ? .max : time << shift
    }

    /// Virtual time: a pure function of G (which includes skipped idle time).
    public var mtime: UInt64 { g >> UInt64(config.icountShift) }

    private func setLine(hart: Int, bit: UInt32, level: Bool) {
        let mask = InterruptNumber.mask(bit)
        if level { harts[hart].lines |= mask } else { harts[hart].lines &= ~mask }
    }

    private func updateTimerLine(hart: Int) {
        setLine(hart: hart, bit: InterruptNumber.machineTimer, level: mtime >= harts[hart].mtimecmp)
    }

    // MARK: - Journal and ending

    private func stampAndNote(_ envelope: Rrvm_Envelope) {
        stampAndNote(g: envelope.g) { envelope }
    }

    /// Stamps the message of G `g` with the next seq and notes it in the journal, if any. Without a journal nobody
    /// sees the envelope or its stamp: `envelope` is not called (the sequencer builds some only to log them).
    private func stampAndNote(g: UInt64, _ envelope: () -> Rrvm_Envelope) {
        stampedG = max(stampedG, g)
        let stamp = seq
        seq &+= 1
        guard let journal else { return }
        var stamped = envelope()
        stamped.seq = stamp
        if let stop = journal.note(stamped) {
            fail(stop.message, exitCode: stop.exitCode)
        }
    }

    /// Ends the run from outside (a signal, rrctl): the journal records where.
    public func stop(exitCode: Int32, reason: String) {
        finish(exitCode: exitCode, reason: reason)
    }

    private func finish(exitCode: Int32, reason: String, guestEnded: Bool = false) {
        guard !finished else { return }
        finished = true
        var exitCode = exitCode, reason = reason
        let end = Rrvm_LogEnd.with {
            $0.g = reachedG
            $0.exitCode = exitCode
            $0.reason = reason
            $0.events = seq
            $0.guestEnded = guestEnded
            // A run that ends inside a slice (power-off) also counts that slice up to its last stamped access.
            $0.retired = retired &+ (runningHart.map { reachedG &- min(harts[$0].sliceStart, reachedG) } ?? 0)
        }
        if let stop = journal?.end(end) {
            exitCode = stop.exitCode
            reason = stop.message
        } else if guestEnded && config.replay && exitCode != 0 {
            // rrctl says a replay matched only where its status is 0; a recorded failure replayed says it here.
            reason += ", as recorded: the replay matched the recording"
        }
        transport.wakeAfter(nanoseconds: nil)
        transport.finish(exitCode: exitCode, reason: reason)
    }

    private func fail(_ reason: String, exitCode: Int32 = 1) {
        finish(exitCode: exitCode, reason: reason)
    }
}


// MARK: - Checkpoints

extension Sequencer {
    /// Whether the machine is stopped at a checkpoint point: the running hart is paused inside its slice at
    /// an exact instruction (see `run(untilG:)`; the guest cannot see the pause) and no device operation is in
    /// flight, queued, sent ahead or held. What remains of the run is then the sequencer's state, the state of
    /// the harts (the running one with its slice's progress), the devices and RAM.
    public var isAtCheckpointPoint: Bool {
        started && !finished && runningHart != nil && pausedAt != nil && pendingYield == nil && inFlight == nil
            && consequences.isEmpty
            && requests.isEmpty && sentAhead.allSatisfy { $0 == 0 } && answeredAhead.allSatisfy(\.isEmpty)
            && heldReply == nil && idleSince == nil && everyForetoldAnswered
    }

    /// Where the machine is: G at the running hart's pause point when stopped, else G at the last boundary.
    public var position: UInt64 {
        if let hart = runningHart, let pausedAt { return harts[hart].sliceStart &+ pausedAt }
        return g
    }

    /// Whether the machine is stopped (at a checkpoint point).
    public var isStopped: Bool { isAtCheckpointPoint }

    /// Runs on until G reaches `target` and stops there at a checkpoint point, then calls `onStopped`: the hart
    /// whose slice holds that G pauses after the instruction that brings G to it (a target inside an idle
    /// period stops where the period ends). Called when stopped, it lets the paused hart go on; before the run
    /// began, the run starts. nil runs on without stopping.
    public func run(untilG target: UInt64?) {
        guard !finished else { return }
        stopTarget = target
        stopReported = false
        if let hart = runningHart, let paused = pausedAt {
            if let target, target <= harts[hart].sliceStart &+ paused {
                // Already there.
                stopTarget = nil
                stopReported = true
                onStopped?()
                return
            }
            pausedAt = nil
            let start = harts[hart].sliceStart
            sendToHart(hart, at: start &+ paused, .resume(.with {
                if let target { $0.thenPauseAt = target &- start }
                // A slice restored from a checkpoint taken live was given its budget before host input cut it; in
                // replay it ends where the recording's next input lands, as every slice computed in replay does.
                if replaying, let input = journal?.nextRecordedInputG(), input >= start &+ paused, input > start {
                    $0.sliceEndsAt = input &- start
                }
            }))
        } else if let hart = runningHart, let target, target >= harts[hart].sliceStart {
            // A slice under way (e.g. held by a debugger): its hart pauses at the target if the slice gets there.
            sendToHart(hart, at: harts[hart].sliceStart, .pauseAt(.with { $0.executed = target &- harts[hart].sliceStart }))
        } else if !started {
            start()
        } else if target != nil, idleSince != nil, nextEventG() != nil {
            // A live run whose harts all wait stops only where a slice runs: the idle period ends at once, at its
            // deadline, as if its host time had passed (what replay recomputes, so nothing more is recorded). A
            // wait with no deadline ends only with host input.
            transport.wakeAfter(nanoseconds: nil)
            idleTimerFired()
        }
    }

    /// Stops the machine as soon as it can (a debugger's Ctrl-C): the running hart pauses at its next
    /// instruction boundary, or the next slice pauses before its first instruction; `onStopped` follows.
    public func stopAsSoonAsPossible() {
        guard started, !finished, pausedAt == nil else { return }
        stopTarget = min(stopTarget ?? .max, g)
        guard let hart = runningHart else { return }
        sendToHart(hart, at: g, .pauseAt(Rrvm_PauseAt()))
    }

    /// The sequencer's state at a checkpoint point (see `isAtCheckpointPoint`).
    public func saveState() throws -> Rrvm_SequencerState {
        guard isAtCheckpointPoint else {
            throw SequencerStateError("the sequencer is not at a checkpoint point at G=\(g)")
        }
        return .with { state in
            state.g = g
            state.seq = seq
            state.nextHart = UInt32(nextHart)
            state.harts = harts.map { slot in
                .with {
                    switch slot.state {
                    case .ready: $0.state = .ready
                    case .running: $0.state = .running
                    case .waiting: $0.state = .waiting
                    }
                    $0.lines = slot.lines
                    $0.mtimecmp = slot.mtimecmp
                    $0.ownDeadline = slot.ownDeadline
                    $0.wakeMask = slot.wakeMask
                    $0.sliceStart = slot.sliceStart
                    $0.executed = slot.executed
                    $0.stateHash = slot.stateHash
                }
            }
            state.deviceWakes = deviceWake.indices.compactMap { device in
                deviceWake[device].map { wake in .with { $0.device = UInt32(device); $0.mtime = wake } }
            }
            state.stableReads = stableReads.indices.compactMap { device in
                stableReads[device].map { reads in .with { $0.device = UInt32(device); $0.reads = reads } }
            }
            state.hostInput = Data(hostInput)
            state.stampedG = stampedG
            state.retired = retired
            state.nextCheckAt = nextCheckAt
            state.deviceHashes = deviceHashes
            if let from = inputEndedIdleFrom { state.inputEndedIdleFrom = from }
            state.pausedAt = pausedAt ?? 0
            if let log = journal?.position() { state.log = log }
            state.consoleBytes = consoleBytes
            state.consoleDigest = consoleDigest
        }
    }

    /// Puts the sequencer back into a state `saveState` returned for the same configuration: stopped, with the
    /// running hart paused where it was. A replay's log is read on from the saved position (verified first);
    /// a recording cannot go back. Refused, changing nothing, when the state does not fit.
    public func restoreState(_ state: Rrvm_SequencerState) throws {
        func refuse(_ reason: String) -> SequencerStateError { SequencerStateError("sequencer state: \(reason)") }
        guard journal == nil || state.hasLog else {
            throw refuse("the checkpoint holds no log position, and this run has a log")
        }
        guard state.harts.count == harts.count else {
            throw refuse("\(state.harts.count) harts, this machine \(harts.count)")
        }
        guard state.queued.isEmpty else { throw refuse("device work queued at the checkpoint") }
        let running = state.harts.indices.filter { state.harts[$0].state == .running }
        guard running.count == 1, Int(state.nextHart) < harts.count else {
            throw refuse("a checkpoint holds exactly one running hart")
        }
        guard state.deviceHashes.count == config.devices.count,
              state.deviceWakes.allSatisfy({ Int($0.device) < config.devices.count }),
              state.stableReads.allSatisfy({ Int($0.device) < config.devices.count }) else {
            throw refuse("a device index out of range")
        }
        var slots: [HartSlot] = []
        for saved in state.harts {
            var slot = HartSlot()
            switch saved.state {
            case .ready: slot.state = .ready
            case .running: slot.state = .running
            case .waiting: slot.state = .waiting
            case .UNRECOGNIZED(let value): throw refuse("unknown hart state \(value)")
            }
            slot.lines = saved.lines
            slot.mtimecmp = saved.mtimecmp
            slot.ownDeadline = saved.ownDeadline
            slot.wakeMask = saved.wakeMask
            slot.sliceStart = saved.sliceStart
            slot.executed = saved.executed
            slot.stateHash = saved.stateHash
            slots.append(slot)
        }
        try journal?.seek(to: state.log)
        g = state.g
        seq = state.seq
        nextHart = Int(state.nextHart)
        harts = slots
        runningHart = running[0]
        cutSent = false
        pendingYield = nil
        inFlight = nil
        consequences = []
        requests = FIFO()
        sendAheadStop = nil
        sentAhead = Array(repeating: 0, count: config.devices.count)
        answeredAhead = Array(repeating: [], count: config.devices.count)
        foretold = Array(repeating: FIFO(), count: config.devices.count)
        unsentForetold = Array(repeating: [], count: config.devices.count)
        awaitingForetold = false
        heldReply = nil
        deviceWake = Array(repeating: nil, count: config.devices.count)
        for wake in state.deviceWakes { deviceWake[Int(wake.device)] = wake.mtime }
        stableReads = Array(repeating: nil, count: config.devices.count)
        for entry in state.stableReads { stableReads[Int(entry.device)] = entry.reads }
        // What each hart holds is not part of the state: the next Run of each carries every declaration.
        heldDeclarations = heldDeclarations.map { $0.map { _ in nil } }
        for device in declarationVersions.indices { declarationReplaced(device: device) }
        // Host input not stamped yet is not part of the machine's past: what waits now (typed while a recording
        // re-executes its past) stays, to be stamped once the run is live again.
        stampedG = state.stampedG
        retired = state.retired
        nextCheckAt = state.nextCheckAt
        deviceHashes = state.deviceHashes
        inputEndedIdleFrom = state.hasInputEndedIdleFrom ? state.inputEndedIdleFrom : nil
        // Not in the state: unknown until the UART's next answer (at worst one window more is given before then).
        uartBacklog = 0
        idleSince = nil
        pausedAt = state.pausedAt
        stopTarget = nil
        stopReported = true
        consoleBytes = state.consoleBytes
        consoleDigest = state.consoleDigest
        started = true
        finished = false
    }
}

/// A first-in first-out queue whose removal from the front costs O(1): a hart that posts console output
/// may queue tens of thousands of writes within one slice, and `Array.removeFirst` moves every one left.
struct FIFO<Element> {
    /// Removed elements leave nil behind, so that the queue holds no reference to them (an element taken out and
    /// changed is then not copied).
    private var items: [Element?] = []
    private var head = 0
    /// How many elements have been removed. Elements are numbered in the order appended, from 0: this is the number
    /// of the oldest one queued.
    private var removedCount = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    /// The oldest element, if any.
    var first: Element? { isEmpty ? nil : items[head] }
    /// The positions of the queued elements, oldest first.
    var indices: Range<Int> { head..<items.count }

    subscript(position: Int) -> Element {
        get { items[position]! }
        set { items[position] = newValue }
    }

    mutating func append(_ element: Element) { items.append(element) }

    /// The position of the element numbered `number` (see `removedCount`): the front for one removed already, the end
    /// of `indices` for one not appended yet.
    func position(ofNumber number: Int) -> Int { head + min(max(number - removedCount, 0), count) }

    /// The number of the element at `position`, one of `indices` or its end.
    func number(ofPosition position: Int) -> Int { removedCount + position - head }

    /// Removes the oldest element (the queue must not be empty).
    mutating func removeFirst() -> Element {
        let element = items[head]!
        items[head] = nil
        head += 1
        removedCount += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return element
    }
}

/// A sequencer state that cannot be saved now or restored here.
public struct SequencerStateError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
