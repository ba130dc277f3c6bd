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
import SwiftProtobuf

/// How the timeline reaches the hart and device processes: the sequencer process sends over the bus, the
/// in-process machine through its in-memory queue. Their answers come back through `ClusterTimeline.receive`.
public protocol TimelineHost: AnyObject {
    /// Sends a checkpoint message (SaveState, RestoreState) to `envelope.to`, a hart or a device.
    func sendToProcess(_ envelope: Rrvm_Envelope)
}

/// The whole machine at one G, kept in the sequencer process: every process's state message and guest RAM
/// (pages shared with the other checkpoints of the same timeline where unchanged).
public final class CheckpointHandle {
    public let id: UInt64
    /// G at the checkpoint (the running hart's pause point).
    public let g: UInt64
    public let sequencer: Rrvm_SequencerState
    public let harts: [Rrvm_HartState]
    public let devices: [Rrvm_DeviceState]
    let ram: RAMCheckpoints.Checkpoint
    /// Bytes of the process states (without RAM).
    public let stateBytes: Int
    /// Bytes of the harts' states (their caches included), together.
    public let hartStateBytes: Int
    /// Pages this checkpoint copied (changed since the previous one).
    public var changedPages: Int { ram.changedPages }

    init(id: UInt64, g: UInt64, sequencer: Rrvm_SequencerState, harts: [Rrvm_HartState], devices: [Rrvm_DeviceState],
         ram: RAMCheckpoints.Checkpoint) {
        self.id = id
        self.g = g
        self.sequencer = sequencer
        self.harts = harts
        self.devices = devices
        self.ram = ram
        hartStateBytes = harts.reduce(0) { $0 + serializedSize($1) }
        stateBytes = serializedSize(sequencer) + hartStateBytes + devices.reduce(0) { $0 + serializedSize($1) }
    }
}

private func serializedSize<M: SwiftProtobuf.Message>(_ message: M) -> Int {
    (try? message.serializedBytes() as [UInt8])?.count ?? 0
}

/// FNV-1a over bytes, for fingerprints.
func digest(_ bytes: [UInt8]) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

/// A fast digest of a memory range (8 bytes at a time; `count` a multiple of 8): RAM for fingerprints.
func digest(memory: UnsafeRawPointer, count: Int) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    let words = memory.bindMemory(to: UInt64.self, capacity: count / 8)
    for index in 0..<(count / 8) {
        hash = (hash ^ words[index]) &* 0x9e37_79b9_7f4a_7c15
        hash ^= hash >> 29
    }
    return hash
}

/// A digest of the whole machine at a stop, for comparing two arrivals at the same G: each process's state
/// (hashed over its state message's bytes), RAM, and the console output produced so far.
public struct MachineFingerprint: Equatable, CustomStringConvertible {
    public var g: UInt64
    public var sequencer: UInt64
    public var harts: [UInt64]
    public var devices: [UInt64]
    public var ram: UInt64
    public var consoleBytes: UInt64
    public var consoleDigest: UInt64

    public var description: String {
        "G=\(g) sequencer \(hex(sequencer)) harts [\(harts.map(hex).joined(separator: " "))] devices "
            + "[\(devices.map(hex).joined(separator: " "))] RAM \(hex(ram)) console \(consoleBytes) bytes \(hex(consoleDigest))"
    }

    /// What differs from `other`, one item per differing part ("hart 2", "RAM", "console").
    public func differences(from other: MachineFingerprint) -> [String] {
        var parts: [String] = []
        if g != other.g { parts.append("G (\(g) vs \(other.g))") }
        if sequencer != other.sequencer { parts.append("sequencer") }
        for index in harts.indices where index >= other.harts.count || harts[index] != other.harts[index] { parts.append("hart \(index)") }
        for index in devices.indices where index >= other.devices.count || devices[index] != other.devices[index] {
            parts.append("device \(index)")
        }
        if ram != other.ram { parts.append("RAM") }
        if consoleBytes != other.consoleBytes || consoleDigest != other.consoleDigest { parts.append("console output") }
        return parts
    }
}

private func hex(_ value: UInt64) -> String { String(value, radix: 16) }

/// A timeline error: one line.
public struct TimelineError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Time travel for a whole cluster, driven from the sequencer process (DESIGN.md section 9).
///
/// The machine moves only forward, by deterministic replay, and stops at checkpoint points: the hart that
/// runs is paused inside its slice after an exact instruction (the guest cannot see it: the slice, the LR/SC
/// reservation and the interrupt lines stay as they are) and no device operation is in flight. There it can
/// be checkpointed (each hart and device process sends its state message, the sequencer adds its own and
/// snapshots guest RAM) and restored (each process takes its state back and acknowledges it; RAM pages that
/// differ are written back; the log's reader goes back to the checkpoint's record).
///
/// Every operation is asynchronous: it sends messages and calls its completion once every process has
/// answered, so the sequencer's event loop keeps running meanwhile. One operation at a time; another one
/// asked for meanwhile fails at once ("busy").
///
/// Automatic checkpoints (`enableAutomaticCheckpoints`): while the machine runs forward, it stops every
/// `interval` of G to take one, and thins older ones when their memory exceeds the budget, keeping them
/// denser near the present (`CheckpointThinning`).
public final class ClusterTimeline {
    public let sequencer: Sequencer
    public let config: Rrvm_MachineConfig
    private unowned let host: TimelineHost
    private let ram: RAMCheckpoints
    /// The G the run cannot go past (the replayed log's last G), if known.
    public var endG: UInt64?
    private var nextID: UInt64 = 1

    /// Checkpoints taken automatically, in G order.
    public private(set) var automatic: [CheckpointHandle] = []
    public private(set) var policy: CheckpointPolicy?
    private var lastAutomaticG: UInt64?
    /// Counters for the benchmark: checkpoints taken and restored, their host time, the pages written back.
    public private(set) var statistics = Statistics()

    public struct Statistics {
        public var checkpoints = 0
        public var checkpointNanoseconds: UInt64 = 0
        public var restores = 0
        public var restoreNanoseconds: UInt64 = 0
        public var pagesWrittenBack = 0
        public var thinned = 0
    }

    /// The operation waiting for the processes' answers.
    private var collecting: Collection?
    private var running: ((Result<Void, Error>) -> Void)?
    private var runTarget: UInt64 = 0
    private var interrupted = false
    private var busy = false

    /// A timeline of `sequencer`'s machine, whose guest RAM is mapped at `ram` in this process.
    public init(sequencer: Sequencer, ram: UnsafeMutableRawPointer, host: TimelineHost) {
        self.sequencer = sequencer
        config = sequencer.config
        self.host = host
        self.ram = RAMCheckpoints(ram: ram, size: Int(sequencer.config.ramSize))
        sequencer.onStopped = { [unowned self] in self.stopped() }
    }

    /// G where the machine is now (at its stop when stopped).
    public var g: UInt64 { sequencer.position }

    /// Whether the machine is stopped at a checkpoint point (and no operation is under way).
    public var isStopped: Bool { !busy && sequencer.isStopped }

    /// One line on the operation under way and what it waits for (for a state dump).
    public var stateDescription: String {
        var text = "timeline: G=\(g), " + (busy ? "busy" : "idle") + (sequencer.isStopped ? ", stopped at a checkpoint point" : "")
        if running != nil { text += ", running to G=\(runTarget)" + (interrupted ? " (interrupted)" : "") }
        if let collecting {
            text += ", waiting for the answer of " + collecting.waiting.sorted().map { Endpoint.describe($0, config: config) }
                .joined(separator: ", ")
        }
        return text + ", \(automatic.count) checkpoints kept"
    }

    // MARK: - Running forward

    /// Runs forward until G == `target`, then stops there at a checkpoint point (a target inside an idle
    /// period, when every hart waits, stops where the period ends: the first point the machine reaches at or
    /// after it). Taking automatic checkpoints on the way. Fails for a target behind the present (use `seek`),
    /// past the log's end, or when the run ends first.
    public func run(toG target: UInt64, then completion: @escaping (Result<Void, Error>) -> Void) {
        guard begin(completion) else { return }
        if sequencer.hasStarted && target < g {
            return end(completion, .failure(TimelineError("G=\(target) is behind the present (G=\(g)): seek there instead")))
        }
        if let endG, target > endG {
            return end(completion, .failure(TimelineError("G=\(target) is beyond the end of the log (G=\(endG))")))
        }
        runTarget = target
        running = completion
        interrupted = false
        step()
    }

    /// Ends the run under way at G == `target` (at or after the present; its completion is called there), e.g.
    /// for a debugger that holds the machine at `target` and wants to take it elsewhere. Nothing without a run.
    public func endRun(atG target: UInt64) {
        guard running != nil else { return }
        runTarget = target
        sequencer.run(untilG: target)
    }

    /// The next leg of a run: to the target, or to the next automatic checkpoint before it.
    private func step() {
        sequencer.run(untilG: min(runTarget, nextAutomaticG() ?? .max))
    }

    /// Ends the run under way (`run(toG:)`, `seek(toG:)`) as soon as the machine can stop, wherever that is:
    /// its completion then reports success with the machine stopped short of the target (compare `g`). For a
    /// debugger's Ctrl-C, or a stop condition a caller detects. Nothing happens when no run is under way.
    public func interrupt() {
        guard running != nil else { return }
        interrupted = true
        sequencer.stopAsSoonAsPossible()
    }

    /// The sequencer stopped where it was asked to: take an automatic checkpoint if one is due, go on to
    /// the target if not there yet.
    private func stopped() {
        guard let completion = running else { return }
        if interrupted {
            interrupted = false
            running = nil
            return end(completion, .success(()))
        }
        let goOn = { [unowned self] in
            if self.g < self.runTarget { return self.step() }
            self.running = nil
            self.end(completion, .success(()))
        }
        guard let next = nextAutomaticG(), g >= next else { return goOn() }
        takeAutomatic { [unowned self] result in
            if case .failure(let error) = result {
                self.running = nil
                return self.end(completion, .failure(error))
            }
            goOn()
        }
    }

    /// The G of the next automatic checkpoint: `interval` after the latest one at or before the present (at
    /// the present when there is none), past those already taken further on (after going back).
    private func nextAutomaticG() -> UInt64? {
        guard let policy else { return nil }
        // The last one taken counts even if thinned away at once (a budget that holds little).
        var base = nearestCheckpoint(atOrBefore: g)?.g
        if let taken = lastAutomaticG, taken <= g { base = max(base ?? taken, taken) }
        var next = base.map { $0 &+ policy.interval } ?? g
        while let later = automatic.first(where: { $0.g > g && $0.g <= next }), later.g &+ policy.interval > next {
            next = later.g &+ policy.interval
        }
        return next
    }

    /// The run is over (the guest ended it, the log ended, a process failed): an operation under way fails.
    public func runEnded(reason: String) {
        let failure = TimelineError("the run ended at G=\(sequencer.g): \(reason)")
        if let completion = running {
            running = nil
            end(completion, .failure(failure))
        }
        if let collection = collecting {
            collecting = nil
            busy = false
            collection.finish(.failure(failure))
        }
    }

    /// A process left the bus: whatever waits for its answer fails (the run ends too: see `runEnded`).
    public func lost(endpoint: UInt32, reason: String) {
        guard let collection = collecting, collection.waiting.contains(endpoint) else { return }
        collecting = nil
        busy = false
        collection.finish(.failure(TimelineError("\(Endpoint.describe(endpoint, config: config)) left the bus: \(reason)")))
    }

    // MARK: - Checkpoint and restore

    /// Checkpoints the stopped machine (not kept by the timeline: the caller holds it).
    public func checkpoint(then completion: @escaping (Result<CheckpointHandle, Error>) -> Void) {
        guard begin(completion) else { return }
        capture { [unowned self] result in self.end(completion, result) }
    }

    /// Checkpoints the stopped machine and keeps the checkpoint with the automatic ones (within the budget):
    /// e.g. where a recording under a debugger leaves its present, to come back there without replaying.
    public func keepCheckpoint(then completion: @escaping (Result<CheckpointHandle, Error>) -> Void) {
        guard begin(completion) else { return }
        takeAutomatic { [unowned self] result in self.end(completion, result) }
    }

    /// Puts the whole machine back to `checkpoint` (one of this timeline's) and leaves it stopped there. If a
    /// process refuses its state, those that took theirs get back the state they had and the machine stays
    /// where it was, stopped.
    public func restore(_ checkpoint: CheckpointHandle, then completion: @escaping (Result<Void, Error>) -> Void) {
        guard begin(completion, evenAfterTheEnd: true) else { return }
        guard sequencer.isStopped || !sequencer.hasStarted || sequencer.isFinished else {
            return end(completion, .failure(TimelineError("the machine is not stopped at a checkpoint point (G=\(g))")))
        }
        let started = monotonicNanoseconds()
        let finish = { [unowned self] (result: Result<Void, Error>) in
            if case .success = result {
                self.statistics.restores += 1
                self.statistics.restoreNanoseconds &+= monotonicNanoseconds() &- started
            }
            self.end(completion, result)
        }
        // The present state, to put back into any process that took its new state if another refuses (a
        // machine stopped at a checkpoint point; one whose run is over or has not begun has nothing to keep).
        guard sequencer.isStopped else {
            return restoreProcesses(checkpoint, rollback: nil, then: finish)
        }
        collect(.saveState(Rrvm_SaveState())) { [unowned self] present in
            switch present {
            case .success(let states): self.restoreProcesses(checkpoint, rollback: states, then: finish)
            case .failure(let error): finish(.failure(error))
            }
        }
    }

    /// Restores RAM, then every process (a hart reads the bytes of its decoded code from RAM), then the
    /// sequencer; on a refusal, puts RAM and `rollback` back.
    private func restoreProcesses(_ checkpoint: CheckpointHandle, rollback: ProcessStates?,
                                  then completion: @escaping (Result<Void, Error>) -> Void) {
        let ramUndo: RAMCheckpoints.Undo
        do {
            ramUndo = try ram.restoreUndoably(checkpoint.ram)
        } catch {
            return completion(.failure(TimelineError("cannot restore the checkpoint at G=\(checkpoint.g): \(error)")))
        }
        let undo = { [unowned self] (error: Error) in
            self.ram.undo(ramUndo)
            guard let rollback else { return completion(.failure(error)) }
            self.collect(restoring: rollback) { _ in completion(.failure(error)) }
        }
        collect(restoring: checkpoint) { [unowned self] restored in
            if case .failure(let error) = restored { return undo(error) }
            do {
                try self.sequencer.restoreState(checkpoint.sequencer)
            } catch {
                return undo(TimelineError("cannot restore the checkpoint at G=\(checkpoint.g): \(error)"))
            }
            self.statistics.pagesWrittenBack += ramUndo.written
            completion(.success(()))
        }
    }

    /// `checkpoint` as one self-contained message (RAM: every non-zero page), e.g. to move the machine.
    public func message(_ checkpoint: CheckpointHandle) -> Rrvm_Checkpoint {
        .with {
            $0.formatVersion = checkpointFormatVersion
            $0.g = checkpoint.g
            $0.sequencer = checkpoint.sequencer
            $0.harts = checkpoint.harts
            $0.devices = checkpoint.devices
            $0.ram = ram.message(checkpoint.ram)
        }
    }

    /// A checkpoint of this machine from its message (`message`), to `restore`; refused if it does not fit.
    public func checkpoint(from message: Rrvm_Checkpoint) throws -> CheckpointHandle {
        guard message.formatVersion == checkpointFormatVersion else {
            throw CheckpointError("checkpoint format \(message.formatVersion) cannot be read: this rrvm reads format "
                                  + "\(checkpointFormatVersion) only (its harts' caches, where each sends its next check and what it holds unsent are part of the state)")
        }
        guard message.harts.count == Int(config.harts), message.devices.count == config.devices.count,
              message.inTransit.isEmpty else {
            throw CheckpointError("the checkpoint is not one of this machine at a checkpoint point")
        }
        // Decoded here so that a state that does not decode is refused before anything changes.
        _ = try message.harts.map { try HartSnapshot($0) }
        _ = try message.devices.map { try DeviceState($0) }
        let handle = CheckpointHandle(id: nextID, g: message.g, sequencer: message.sequencer, harts: message.harts,
                                      devices: message.devices, ram: try ram.checkpoint(from: message.ram))
        nextID += 1
        return handle
    }

    // MARK: - Automatic checkpoints and seeking

    /// Takes a checkpoint every `policy.interval` of G while the machine runs forward, within `policy.budget`
    /// bytes. Fails (one line) if the budget cannot hold even one checkpoint of this machine: then no
    /// automatic checkpoints are taken.
    public func enableAutomaticCheckpoints(_ policy: CheckpointPolicy) {
        self.policy = policy
    }

    /// The latest automatic checkpoint at or before `g`.
    public func nearestCheckpoint(atOrBefore g: UInt64) -> CheckpointHandle? {
        automatic.last { $0.g <= g }
    }

    /// Moves the machine to G == `target`, forward or back: back to the nearest earlier checkpoint and forward
    /// from there; forward from the present when that is nearer.
    public func seek(toG target: UInt64, then completion: @escaping (Result<Void, Error>) -> Void) {
        if let endG, target > endG {
            return completion(.failure(TimelineError("G=\(target) is beyond the end of the log (G=\(endG))")))
        }
        let nearest = nearestCheckpoint(atOrBefore: target)
        if target >= g, nearest.map({ $0.g <= g }) ?? true {
            return run(toG: target, then: completion)
        }
        guard let nearest else {
            return completion(.failure(TimelineError("no checkpoint at or before G=\(target)")))
        }
        restore(nearest) { [unowned self] result in
            guard case .success = result else { return completion(result) }
            self.run(toG: target, then: completion)
        }
    }

    /// The fingerprint of the stopped machine (each process's state, RAM, console): two arrivals at the same G
    /// must give the same one.
    public func fingerprint(then completion: @escaping (Result<MachineFingerprint, Error>) -> Void) {
        guard begin(completion) else { return }
        collect(.saveState(Rrvm_SaveState())) { [unowned self] result in
            self.end(completion, result.flatMap { states in
                Result {
                    let sequencerState = try self.sequencer.saveState()
                    return MachineFingerprint(
                        g: self.g, sequencer: digest(try sequencerState.serializedBytes()),
                        harts: try states.harts.map { digest(try $0.serializedBytes()) },
                        devices: try states.devices.map { digest(try $0.serializedBytes()) },
                        ram: digest(memory: self.ram.ram, count: self.ram.size),
                        consoleBytes: sequencerState.consoleBytes, consoleDigest: sequencerState.consoleDigest)
                }
            })
        }
    }

    private func takeAutomatic(then completion: @escaping (Result<CheckpointHandle, Error>) -> Void) {
        capture { [unowned self] result in
            guard case .success(let checkpoint) = result, let policy = self.policy else { return completion(result) }
            self.lastAutomaticG = checkpoint.g
            let index = self.automatic.firstIndex { $0.g >= checkpoint.g } ?? self.automatic.count
            if index < self.automatic.count && self.automatic[index].g == checkpoint.g { return completion(result) }
            self.automatic.insert(checkpoint, at: index)
            let memory = self.memoryBytes
            if self.automatic.count == 1 && memory > policy.budget {
                self.automatic = []
                self.policy = nil
                return completion(.failure(TimelineError(
                    "the checkpoint budget (\(formatBytes(policy.budget))) cannot hold one checkpoint of this machine "
                    + "(\(formatBytes(memory))): give at least that much, or no --checkpoint-budget")))
            }
            while self.memoryBytes > policy.budget,
                  let victim = CheckpointThinning.victim(gs: self.automatic.map(\.g), present: self.g) {
                self.automatic.remove(at: victim)
                self.statistics.thinned += 1
            }
            completion(result)
        }
    }

    /// One line for RRVM_STATS and the benchmark: automatic checkpoints kept and taken, their memory (a
    /// hart's state on average), and the average host time of a checkpoint and a restore.
    public var summary: String {
        let stats = statistics
        func average(_ total: UInt64, _ count: Int) -> String {
            count == 0 ? "-" : fixedPoint(Double(total) / Double(count) / 1e6, decimals: 1)
        }
        let kept = automatic.isEmpty ? "no automatic checkpoints kept, "
            : "\(automatic.count) automatic checkpoints kept (G \(automatic.map { "\($0.g)" }.joined(separator: ", "))), "
        let hartStates = automatic.reduce(0) { $0 + $1.harts.count }
        let perHart = hartStates == 0 ? "" : " (a hart's state \(automatic.reduce(0) { $0 + $1.hartStateBytes } / hartStates) bytes)"
        return kept + "\(stats.checkpoints) checkpoints taken, \(stats.thinned) thinned, \(formatBytes(memoryBytes)) held"
            + perHart + (policy.map { " of a \(formatBytes($0.budget)) budget, one every \($0.interval) G" } ?? "")
            + "; checkpoint \(average(stats.checkpointNanoseconds, stats.checkpoints)) ms, restore "
            + "\(average(stats.restoreNanoseconds, stats.restores)) ms on average (\(stats.restores) restores, "
            + "\(stats.pagesWrittenBack) pages written back)"
    }

    /// Memory the automatic checkpoints hold: their RAM pages (each shared page once) and process states.
    public var memoryBytes: Int {
        RAMCheckpoints.memoryBytes(of: automatic.map(\.ram)) + automatic.reduce(0) { $0 + $1.stateBytes }
    }

    // MARK: - Collecting the processes' answers

    private struct ProcessStates {
        var harts: [Rrvm_HartState]
        var devices: [Rrvm_DeviceState]
    }

    /// Messages sent to every hart and device, and the answers coming back.
    private final class Collection {
        var waiting: Set<UInt32>
        var harts: [Rrvm_HartState?]
        var devices: [Rrvm_DeviceState?]
        var refusals: [String] = []
        let completion: (Result<ProcessStates, Error>) -> Void

        init(config: Rrvm_MachineConfig, completion: @escaping (Result<ProcessStates, Error>) -> Void) {
            waiting = Set((0..<Int(config.harts)).map(Endpoint.hart) + config.devices.indices.map(Endpoint.device))
            harts = Array(repeating: nil, count: Int(config.harts))
            devices = Array(repeating: nil, count: config.devices.count)
            self.completion = completion
        }

        func finish(_ result: Result<ProcessStates, Error>) { completion(result) }
    }

    /// A message from a hart or device process: true if it was an answer to the timeline (handled here).
    public func receive(_ envelope: Rrvm_Envelope) -> Bool {
        switch envelope.body {
        case .hartState?, .deviceState?, .stateRestored?, .stateRefused?: break
        default: return false
        }
        guard let collection = collecting, collection.waiting.remove(envelope.from) != nil else {
            runEnded(reason: "unexpected \(envelope.kindName) from \(Endpoint.describe(envelope.from, config: config))")
            return true
        }
        let who = Endpoint.describe(envelope.from, config: config)
        switch envelope.body {
        case .hartState(let state)? where Endpoint.isHart(envelope.from):
            collection.harts[Endpoint.hartIndex(envelope.from)] = state
        case .deviceState(var state)? where Endpoint.isDevice(envelope.from):
            state.device = UInt32(Endpoint.deviceIndex(envelope.from))
            collection.devices[Endpoint.deviceIndex(envelope.from)] = state
        case .stateRestored?:
            break
        case .stateRefused(let refused)?:
            collection.refusals.append("\(who) refused: \(refused.reason)")
        default:
            collection.refusals.append("\(who) answered \(envelope.kindName)")
        }
        if collection.waiting.isEmpty {
            collecting = nil
            if collection.refusals.isEmpty {
                collection.finish(.success(ProcessStates(harts: collection.harts.compactMap { $0 },
                                                         devices: collection.devices.compactMap { $0 })))
            } else {
                collection.finish(.failure(TimelineError(collection.refusals.joined(separator: "; "))))
            }
        }
        return true
    }

    /// Sends `body` to every hart and device and collects their answers.
    private func collect(_ body: Rrvm_Envelope.OneOf_Body, then completion: @escaping (Result<ProcessStates, Error>) -> Void) {
        collect({ _ in body }, then: completion)
    }

    private func collect(restoring checkpoint: CheckpointHandle, then completion: @escaping (Result<ProcessStates, Error>) -> Void) {
        collect(restoring: ProcessStates(harts: checkpoint.harts, devices: checkpoint.devices), then: completion)
    }

    private func collect(restoring states: ProcessStates, then completion: @escaping (Result<ProcessStates, Error>) -> Void) {
        collect({ endpoint in
            .restoreState(.with {
                if Endpoint.isHart(endpoint) {
                    $0.hart = states.harts[Endpoint.hartIndex(endpoint)]
                } else {
                    $0.device = states.devices[Endpoint.deviceIndex(endpoint)]
                }
            })
        }, then: completion)
    }

    private func collect(_ body: (UInt32) -> Rrvm_Envelope.OneOf_Body,
                         then completion: @escaping (Result<ProcessStates, Error>) -> Void) {
        let collection = Collection(config: config, completion: completion)
        collecting = collection
        for endpoint in collection.waiting.sorted() {
            var envelope = Rrvm_Envelope()
            envelope.g = g
            envelope.to = endpoint
            envelope.body = body(endpoint)
            host.sendToProcess(envelope)
        }
    }

    /// Takes a checkpoint of the stopped machine.
    private func capture(then completion: @escaping (Result<CheckpointHandle, Error>) -> Void) {
        guard sequencer.isStopped else {
            return completion(.failure(TimelineError("the machine is not stopped at a checkpoint point (G=\(g))")))
        }
        let started = monotonicNanoseconds()
        collect(.saveState(Rrvm_SaveState())) { [unowned self] result in
            completion(result.flatMap { states in
                Result {
                    let sequencerState = try self.sequencer.saveState()
                    let handle = CheckpointHandle(id: self.nextID, g: self.g, sequencer: sequencerState, harts: states.harts,
                                                  devices: states.devices, ram: self.ram.take())
                    self.nextID += 1
                    self.statistics.checkpoints += 1
                    self.statistics.checkpointNanoseconds &+= monotonicNanoseconds() &- started
                    return handle
                }
            })
        }
    }

    // MARK: - Operations

    /// Starts an operation. Only a restore may follow the run's end, and only where the processes are still
    /// there (the in-process machine; a cluster's processes leave when its run ends).
    private func begin<T>(_ completion: @escaping (Result<T, Error>) -> Void, evenAfterTheEnd: Bool = false) -> Bool {
        guard !busy else {
            completion(.failure(TimelineError("the timeline is busy with another operation")))
            return false
        }
        guard !sequencer.isFinished || evenAfterTheEnd else {
            completion(.failure(TimelineError("the run is over (G=\(sequencer.g))")))
            return false
        }
        busy = true
        return true
    }

    private func end<T>(_ completion: (Result<T, Error>) -> Void, _ result: Result<T, Error>) {
        busy = false
        completion(result)
    }
}
