#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRCheckpoint
import RRProto
import RRSequencer
import RVHart
import RVMachine
import RVPlatform

extension Rrvm_MachineConfig {
    /// The configuration every process of `machine` learns in Welcome (and a log keeps in its header),
    /// booted as `boot` says. Images are not listed: rrctl adds them.
    public init(machine: MachineDescription, boot: BootPlan, quantum: UInt64, icountShift: UInt32, disk: String?,
                overlayDisk: Bool, net: String = "") {
        self.init()
        harts = UInt32(machine.harts)
        ramSize = machine.ramSize
        self.icountShift = icountShift
        self.quantum = quantum
        schedule = .loneHartToEvent
        bootargs = machine.bootargs
        entropySeed = machine.entropySeed
        startWallTimeNs = Int64(clamping: machine.startWallTimeNs)
        satpMode = machine.mmuType.hasPrefix("riscv,") ? String(machine.mmuType.dropFirst(6)) : machine.mmuType
        entry = boot.entry
        fdtAddress = boot.fdtAddress
        bootRom = Data(boot.bootROM)
        devices = DeviceCatalog.specs(for: machine, disk: disk, overlay: overlayDisk, net: net)
    }
}

/// A whole machine in one process: the Sequencer, one HartRunner per hart and one DeviceRunner per device,
/// joined by an in-memory bus instead of libuv. The same code decides everything a cluster decides, so a
/// run here retires the same instructions in the same order as the cluster would (idle periods are skipped
/// at once rather than paced by the host clock). Tests run guest programs on it; benchmarks measure the
/// interpreter inside a real machine with it. Host input is not forwarded (there is no console input).
public final class InProcessMachine {
    public let config: Rrvm_MachineConfig
    private let ram: UnsafeMutableRawPointer
    private var sequencer: Sequencer!
    private var harts: [HartRunner] = []
    private var devices: [DeviceRunner] = []
    private var sequencerLink: SequencerLink?
    /// Checkpoints, restores and stops at a G, as the sequencer process does them (over this in-memory bus).
    public private(set) var timeline: ClusterTimeline!
    private var hartLinks: [HartLink] = []
    /// The in-memory bus: messages in the order they were sent, each with its addressee.
    private var queue: [Rrvm_Envelope] = []
    private var queueHead = 0
    /// Virtual host time: idle periods are skipped at once.
    private var hostNow: UInt64 = 0
    private var wake: UInt64?
    /// The G the current `run` stops at: a long slice that passes it is cut there (see `HartLink`).
    private var stopAtG: UInt64 = .max
    public private(set) var console: [UInt8] = []
    public private(set) var outcome: Outcome?

    /// How a run ended.
    public struct Outcome: Equatable {
        public var exitCode: Int32
        public var reason: String
    }

    /// A machine for `config` with guest RAM loaded as `boot` says; `journal` records or replays the run.
    public init(config: Rrvm_MachineConfig, boot: BootPlan, journal: EventJournal? = nil) throws {
        self.config = config
        // Anonymous memory reads as zeros and is faulted in as the guest touches it, 4 KiB at a time (as the
        // cluster's shared RAM is): a booting kernel touches its RAM sparsely (a Linux boot about 12 MiB of 256),
        // and with huge pages the host zeroed 2 MiB at each first touch, a quarter of the in-process boot's CPU time.
        guard let mapping = mmap(nil, Int(config.ramSize), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else {
            throw DeviceError("cannot map \(config.ramSize) bytes of guest RAM: \(String(cString: strerror(errno)))")
        }
        ram = mapping
        let memory = GuestMemory(base: ram, guestBase: MemoryMap.ramBase, size: config.ramSize)
        try boot.load(into: memory)
        // The transports are held here: the sequencer and the harts keep them unowned.
        let sequencerLink = SequencerLink(machine: self)
        self.sequencerLink = sequencerLink
        sequencer = Sequencer(config: config, transport: sequencerLink, journal: journal)
        for index in 0..<Int(config.harts) {
            let link = HartLink(machine: self, index: index)
            hartLinks.append(link)
            harts.append(HartRunner(index: index, config: config, ram: ram, transport: link))
        }
        for spec in config.devices {
            let model = try DeviceCatalog.make(spec: spec, config: config, memory: spec.dma ? memory : nil)
            devices.append(DeviceRunner(model: model, icountShift: config.icountShift))
        }
        timeline = ClusterTimeline(sequencer: sequencer, ram: ram, host: sequencerLink)
    }

    /// The configuration and boot plan of a machine booted from images, as rrctl builds them (images are
    /// placed as QEMU's virt does: see ImageLoader). A disk is opened with a copy-on-write overlay.
    public static func plan(machine: MachineDescription, firmware: BootImage?, kernel: BootImage, initrd: BootImage?,
                            disk: String? = nil, quantum: UInt64 = Schedule.defaultQuantum,
                            icountShift: UInt32 = 4) throws -> (config: Rrvm_MachineConfig, boot: BootPlan) {
        var machine = machine
        if disk != nil { machine.devices.insert(.virtioBlock) }
        let boot = try ImageLoader.plan(config: machine, firmware: firmware, kernel: kernel, initrd: initrd)
        let config = Rrvm_MachineConfig(machine: machine, boot: boot, quantum: quantum, icountShift: icountShift,
                                        disk: disk, overlayDisk: true)
        return (config, boot)
    }

    deinit { munmap(ram, Int(config.ramSize)) }

    /// The hart with index `index` (its registers, its retired count).
    public func hart(_ index: Int) -> HartRunner { harts[index] }

    /// The model of device `index` (its state, for checkpoints).
    public func device(_ index: Int) -> DeviceModel { devices[index].model }

    /// Guest RAM (`config.ramSize` bytes), for checkpoints.
    public var guestRAM: UnsafeMutableRawPointer { ram }

    /// G so far: instructions retired by every hart plus the idle time skipped (at the stop, when stopped).
    public var g: UInt64 { sequencer.position }

    /// Instructions retired by all harts.
    public var retired: UInt64 { harts.reduce(0) { $0 &+ $1.hart.retired } }

    public var statistics: Sequencer.Statistics { sequencer.statistics }

    /// Runs until the guest ends the run, a process fails, or G passes `gLimit` (then the outcome says so).
    @discardableResult
    public func run(gLimit: UInt64 = .max) -> Outcome {
        stopAtG = gLimit
        defer { stopAtG = .max }
        sequencer.run(untilG: nil)
        while outcome == nil {
            if sequencer.g > gLimit {
                end(exitCode: 124, reason: "the instruction limit (G = \(gLimit)) was reached")
            } else if !deliverNext() {
                guard let wake else {
                    end(exitCode: 2, reason: "every hart waits at G=\(sequencer.g) and nothing can wake them")
                    break
                }
                self.wake = nil
                hostNow &+= wake
                sequencer.idleTimerFired()
            }
        }
        return outcome!
    }

    // MARK: - Checkpoints

    /// Runs until G reaches `target` and stops there at a checkpoint point (the running hart paused inside its
    /// slice, no device operation under way); false if the run ended first.
    public func run(untilCheckpointAt target: UInt64) -> Bool {
        (try? wait { timeline.run(toG: target, then: $0) }) != nil
    }

    /// Carries messages until `operation` calls its completion (or the run ends), and returns its result.
    /// `meanwhile` is called after each message carried (a test interrupts a run from there).
    public func wait<T>(_ operation: (@escaping (Result<T, Error>) -> Void) -> Void,
                        meanwhile: (() -> Void)? = nil) throws -> T {
        var result: Result<T, Error>?
        operation { result = $0 }
        while result == nil && outcome == nil {
            meanwhile?()
            if !deliverNext() {
                guard let wake else { break }
                self.wake = nil
                hostNow &+= wake
                sequencer.idleTimerFired()
            }
        }
        guard let result else {
            throw TimelineError(outcome.map { "the run ended: \($0.reason)" } ?? "the machine stopped moving")
        }
        return try result.get()
    }

    /// The whole machine, stopped at a checkpoint point, as one self-contained message.
    public func checkpoint() throws -> Rrvm_Checkpoint {
        timeline.message(try wait { timeline.checkpoint(then: $0) })
    }

    /// Puts the machine back to a checkpoint of this machine or of one with the same configuration (a fresh
    /// one too); the run goes on from there with `run`. The console output so far is kept. A checkpoint that
    /// does not decode or fit is refused before anything changes.
    public func restore(_ message: Rrvm_Checkpoint) throws {
        let handle = try timeline.checkpoint(from: message)
        outcome = nil
        try wait { timeline.restore(handle, then: $0) }
    }

    /// Delivers the oldest message; false when none is waiting.
    private func deliverNext() -> Bool {
        guard queueHead < queue.count else { return false }
        let envelope = queue[queueHead]
        queueHead += 1
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        }
        if envelope.to == Endpoint.sequencer {
            if !timeline.receive(envelope) { sequencer.receive(envelope) }
        } else if Endpoint.isHart(envelope.to) {
            harts[Endpoint.hartIndex(envelope.to)].receive(envelope)
        } else if Endpoint.isDevice(envelope.to) {
            deliverToDevice(envelope)
        }
        return true
    }

    private func deliverToDevice(_ envelope: Rrvm_Envelope) {
        let index = Endpoint.deviceIndex(envelope.to)
        func answer(_ body: Rrvm_Envelope.OneOf_Body) {
            var reply = Rrvm_Envelope()
            reply.g = envelope.g
            reply.from = envelope.to
            reply.to = Endpoint.sequencer
            reply.body = body
            queue.append(reply)
        }
        switch devices[index].apply(envelope) {
        case .asForetold:
            // In order at once: nothing is saved here by answering several together.
            if let done = devices[index].takeForetoldAnswers() { answer(.deviceDone(done)) }
        case .done(let done):
            answer(.deviceDone(done))
        case .checkpoint(let body):
            answer(body)
        case .shutdown:
            break
        case .failure(let reason):
            end(exitCode: 1, reason: "\(Endpoint.describe(envelope.to, config: config)): \(reason)")
        }
    }

    private func end(exitCode: Int32, reason: String) {
        if outcome == nil { outcome = Outcome(exitCode: exitCode, reason: reason) }
        timeline?.runEnded(reason: reason)
    }

    /// The sequencer's end of the in-memory bus.
    private final class SequencerLink: SequencerTransport, TimelineHost {
        unowned let machine: InProcessMachine

        init(machine: InProcessMachine) { self.machine = machine }

        func send(_ envelope: Rrvm_Envelope) {
            guard envelope.to != Endpoint.control else {
                if case .consoleOutput(let output)? = envelope.body { machine.console += output.data }
                return
            }
            machine.queue.append(envelope)
        }

        func sendToProcess(_ envelope: Rrvm_Envelope) { machine.queue.append(envelope) }

        func hostNanoseconds() -> UInt64 { machine.hostNow }
        func wakeAfter(nanoseconds: UInt64?) { machine.wake = nanoseconds }
        func finish(exitCode: Int32, reason: String) { machine.end(exitCode: exitCode, reason: reason) }
    }

    /// A hart's end of the in-memory bus.
    private final class HartLink: HartTransport {
        unowned let machine: InProcessMachine
        let index: Int

        init(machine: InProcessMachine, index: Int) {
            self.machine = machine
            self.index = index
        }

        func send(_ envelope: Rrvm_Envelope) {
            var envelope = envelope
            envelope.from = Endpoint.hart(index)
            envelope.to = Endpoint.sequencer
            machine.queue.append(envelope)
        }

        /// The answer comes once the messages sent before it have been delivered.
        func awaitReply() {
            let hart = machine.harts[index]
            while hart.awaitingReply && machine.outcome == nil && machine.deliverNext() {}
        }

        /// A lone hart's slice may run to the next scheduled event: one that passes the G the run stops at
        /// is cut, so that `run(gLimit:)` ends near its G.
        func pollDuringSlice() {
            let hart = machine.harts[index]
            if machine.sequencer.g &+ hart.executedInSlice > machine.stopAtG { hart.cut() }
        }

        func paused(for reason: PauseReason) {}

        func finish(exitCode: Int32, reason: String?) {
            if exitCode != 0 { machine.end(exitCode: exitCode, reason: reason ?? "hart \(index) failed") }
        }
    }
}
