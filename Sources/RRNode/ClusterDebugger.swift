#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRProto
import RVHart
import RVPlatform

/// What the cluster's debugger needs from the sequencer process.
protocol ClusterDebuggerHost: AnyObject {
    /// Sends a debug request to hart `hart` (outside the schedule: never stamped or logged).
    func sendDebugRequest(_ request: Rrvm_DebugRequest, toHart hart: Int)
    /// The global instruction count now.
    var currentG: UInt64 { get }
    /// The hart whose slice is under way, if any.
    var runningHart: Int? { get }
    /// Replay, or a recording, with checkpoints: the machine's timeline, for going back; nil where there is none
    /// (a live run that records nothing).
    var debuggerTimeline: DebuggerTimeline? { get }
    /// The slice `hart` is running (its start G and the hart's retired count then), if it is the running hart.
    func openSlice(ofHart hart: Int) -> (startG: UInt64, retiredAtStart: UInt64)?
    /// A stopped hart holds `bytes` of console output unsent, the next the console will produce: shows them now.
    func showHeldConsoleOutput(_ bytes: Data)
}

/// What reverse execution needs of the cluster's timeline (checkpoints and deterministic replay, kept by
/// the sequencer process): running forward with automatic checkpoints, positioning the whole machine at a G.
/// In a replay under the debugger, the machine moves forward only through `runForward` (so checkpoints are
/// taken on the way) or `run`/`seek`.
protocol DebuggerTimeline: AnyObject {
    /// Runs forward towards the end of the log, taking automatic checkpoints; the debugger's pauses stop the
    /// machine on the way, and the run stays under way until `takeOver` ends it.
    func runForward()
    /// The debugger holds the machine stopped at `g` (every hart paused for it): the run under way, if any, ends
    /// there (the running hart pauses there for the timeline too), then `done`. The debugger lets go of its
    /// harts right after this call.
    func takeOver(atG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void)
    /// Moves the machine (stopped by the timeline) to G == `g`, back through the nearest earlier checkpoint
    /// and forward by replay, or forward; stopped there.
    func seek(toG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void)
    /// Runs forward to G == `g`, stopped there.
    func run(toG g: UInt64, then done: @escaping (Result<Void, Error>) -> Void)
    /// The G of the latest checkpoint at or before `g`.
    func checkpointG(atOrBefore g: UInt64) -> UInt64?
    /// A recording in its past: where the recording stopped (nothing lies beyond it yet). Nil otherwise.
    var present: UInt64? { get }
    /// A recording at its present: the machine runs live, forward is the future.
    var isLive: Bool { get }
}

/// `rrctl up|replay --gdb`: every hart a thread of one GDB session, served from the sequencer process.
/// All-stop: a stop stops the machine. Only one hart runs at a time (the sequencer's running hart), so
/// stopping is: ask every hart to pause at its next instruction boundary (`HartRunner.pause(.debugger)`);
/// the harts between slices pause at once and hold their next Run, the running one pauses mid-slice where
/// it is, keeping its slice and reservation. The machine is stopped when every hart says so. Nothing of
/// this is guest-visible: G does not move while stopped, and a replay so debugged still matches.
///
/// Breakpoints go to every hart. A watchpoint is translated once, by the selected hart, to a physical
/// range; every hart then checks its own accesses to that range (see RVHart's Watchpoints.swift).
final class ClusterDebugger: GDBTarget {
    let hartCount: Int
    private unowned let host: ClusterDebuggerHost
    private var server: GDBServer?
    private let replaying: Bool

    /// `reversing`: a timeline operation (going back, or forward to a point) is under way; hart stops then are
    /// hits to note (reverse-continue) or points to pass.
    private enum State { case running, stopping, stopped, reversing }
    private var state = State.stopping
    /// The thread the debugger resumed alone, if it did (see `GDBTarget.resume`).
    private var reportingOnly: Int?
    /// Where each hart stopped, since the machine last ran.
    private var stoppedAt: [Int: Rrvm_DebugStopped] = [:]
    /// The stop being gathered (the first hart's reason), and the last one reported.
    private var cause: GDBStop?
    private var lastStop = GDBStop(kind: .trap, hart: 0)
    private var waitingForStop: [(GDBStop) -> Void] = []
    /// DEBUG_RESUME requests sent to each hart (a stop tagged with fewer is stale).
    private var resumesSent: [UInt32]
    private var nextID: UInt32 = 1
    /// Requests waiting for their reply, by id: to which hart, what, and what to do with the reply.
    private var pending: [UInt32: (hart: Int, action: Rrvm_DebugAction, done: (Rrvm_DebugReply) -> Void)] = [:]
    /// Harts that have joined the cluster (the debugger answers nothing until all have, and have stopped).
    private var joined: Set<Int> = []
    /// Whether the machine has been whole and stopped once (every hart joined and stopped for the debugger).
    private var assembled = false
    /// The debugger left when the machine could not be let go (going back, or not assembled yet): it is once it stops.
    private var detachPending = false

    private var breakpoints: Set<UInt64> = []
    private struct Watch {
        var kind: WatchKind
        var address: UInt64
        var length: UInt64
        var physical: UInt64
    }
    private var watches: [Watch] = []
    /// Each hart's slices, for going back by instructions of one hart.
    var slices: SliceHistory
    /// Watchpoints at once: each is checked on every slow-path access to its pages, by every hart.
    static let watchpointLimit = 8

    /// Replay: the G the log ends at (a seek goes no further).
    private let logEndG: UInt64?
    /// A `monitor seek` under way: its answer once the machine is there.
    private var seekDone: ((String) -> Void)?

    init(host: ClusterDebuggerHost, hartCount: Int, replaying: Bool, logEndG: UInt64? = nil) {
        self.host = host
        self.logEndG = logEndG
        self.hartCount = hartCount
        self.replaying = replaying
        resumesSent = Array(repeating: 0, count: hartCount)
        slices = SliceHistory(harts: hartCount)
    }

    /// Starts listening; returns what to type in gdb.
    func listen(loop: EventLoop, address: BusAddress) throws -> String {
        // Packets wait until the machine is whole and stopped (see `receive`): a request to a hart that has not
        // joined yet would go nowhere, and its answer (a breakpoint is set on every hart) would never come.
        let server = try GDBServer(loop: loop, address: address, target: self, answersAtOnce: false)
        self.server = server
        return server.targetRemote
    }

    func close() {
        server?.close()
    }

    /// A hart joined: it starts stopped (the machine waits for the debugger before its first instruction).
    func hartJoined(_ hart: Int) {
        joined.insert(hart)
        send(.with { $0.action = .debugStop }, to: hart)
    }

    /// The run is over.
    func runEnded(exitCode: Int32) {
        server?.reportExit(exitCode)
    }

    /// A DebugReply from hart `hart`.
    func receive(_ reply: Rrvm_DebugReply, fromHart hart: Int) {
        guard reply.hasStopped else {
            pending.removeValue(forKey: reply.id)?.done(reply)
            return
        }
        guard hart < hartCount, reply.id == resumesSent[hart] else { return }  // stale: from before a resume
        if state == .reversing {
            // The timeline moves the machine (the harts note hits rather than stop; a stop from before that is passed).
            resumesSent[hart] &+= 1
            return send(.with { $0.action = .debugResume }, to: hart)
        }
        if state == .running, let only = reportingOnly, only != hart, reply.stopped.reason != .debugStoppedRequested {
            // The debugger resumed another thread alone: this one goes on past its breakpoint or watchpoint.
            resumesSent[hart] &+= 1
            return send(.with { $0.action = .debugResume }, to: hart)
        }
        stoppedAt[hart] = reply.stopped
        if !reply.stopped.heldConsoleOutput.isEmpty { host.showHeldConsoleOutput(reply.stopped.heldConsoleOutput) }
        if state == .running {
            // The first hart to stop names the reason; the others are stopped where they are.
            state = .stopping
            cause = stop(reply.stopped, hart: hart)
            for other in 0..<hartCount where stoppedAt[other] == nil { send(.with { $0.action = .debugStop }, to: other) }
        }
        guard state == .stopping, stoppedAt.count == hartCount else { return }
        state = .stopped
        lastStop = cause ?? GDBStop(kind: .trap, hart: host.runningHart ?? 0)
        cause = nil
        // The first stop: every hart has joined and waits for the debugger, which is answered from now on (last, once
        // this stop is all done: a packet held meanwhile may resume the machine at once). If the one that attached
        // left meanwhile, the machine runs freely from here (and another one that came is answered).
        let firstStop = !assembled
        assembled = true
        defer { if firstStop { server?.startAnswering() } }
        if firstStop && detachPending { return letGo() }
        if let done = seekDone {
            // A seek is answered as a monitor command: gdb asked for no stop.
            seekDone = nil
            reportingOnly = nil
            done("rrvm: at G=\(machineG)\n")
        }
        server?.reportStop(lastStop)
        let waiting = waitingForStop
        waitingForStop = []
        for done in waiting { done(lastStop) }
    }

    private func stop(_ stopped: Rrvm_DebugStopped, hart: Int) -> GDBStop {
        guard stopped.reason == .debugStoppedWatchpoint else { return GDBStop(kind: .trap, hart: hart) }
        // Reported at the address the debugger set, as it knows the watchpoint.
        let address = stopped.watchAddress
        guard let watch = watches.first(where: { address >= $0.physical && address &- $0.physical < $0.length }) else {
            return GDBStop(kind: .trap, hart: hart)
        }
        return GDBStop(kind: .watch(watch.kind, address: watch.address &+ (address &- watch.physical)), hart: hart)
    }

    // MARK: - Requests to the harts

    private func send(_ request: Rrvm_DebugRequest, to hart: Int, done: ((Rrvm_DebugReply) -> Void)? = nil) {
        var request = request
        if let done {
            request.id = nextID
            pending[nextID] = (hart, request.action, done)
            nextID = nextID == .max ? 1 : nextID + 1
        }
        host.sendDebugRequest(request, toHart: hart)
    }

    /// Sends `request` to every hart; `done` once all have answered (with the first error, if any).
    private func broadcast(_ request: Rrvm_DebugRequest, done: @escaping (String?) -> Void) {
        gather(request) { replies in done(replies.first { !$0.error.isEmpty }?.error) }
    }

    /// Sends `request` to every hart; `done` with the replies, in hart order, once all have answered.
    private func gather(_ request: Rrvm_DebugRequest, done: @escaping ([Rrvm_DebugReply]) -> Void) {
        var replies = [Rrvm_DebugReply?](repeating: nil, count: hartCount)
        var left = hartCount
        for hart in 0..<hartCount {
            send(request, to: hart) { reply in
                replies[hart] = reply
                left -= 1
                if left == 0 { done(replies.map { $0 ?? Rrvm_DebugReply() }) }
            }
        }
    }

    private func valid(_ hart: Int) -> Int { (0..<hartCount).contains(hart) ? hart : 0 }

    // MARK: - GDBTarget

    var reverseRefusal: String? {
        guard host.debuggerTimeline == nil else { return nil }
        return replaying ? "rrvm: this replay keeps no checkpoints, so it cannot go back"
            : "rrvm: going back needs a log: run rrctl up --record LOG --gdb PORT (or rrctl replay LOG --gdb PORT)"
    }

    func readRegisters(hart: Int, done: @escaping ([UInt64]?) -> Void) {
        send(.with { $0.action = .debugReadRegisters }, to: valid(hart)) { reply in
            done(reply.error.isEmpty ? reply.registers : nil)
        }
    }

    func writeRegister(hart: Int, number: Int, value: UInt64, done: @escaping (Bool) -> Void) {
        send(.with {
            $0.action = .debugWriteRegister
            $0.address = UInt64(number)
            $0.value = value
        }, to: valid(hart)) { done($0.error.isEmpty) }
    }

    func readMemory(hart: Int, address: UInt64, count: Int, done: @escaping ([UInt8]?) -> Void) {
        send(.with {
            $0.action = .debugReadMemory
            $0.address = address
            $0.value = UInt64(count)
        }, to: valid(hart)) { reply in done(reply.error.isEmpty ? [UInt8](reply.data) : nil) }
    }

    /// A write changes the run from here on: a replay so changed no longer matches its recording.
    func writeMemory(hart: Int, address: UInt64, bytes: [UInt8], done: @escaping (Bool) -> Void) {
        send(.with {
            $0.action = .debugWriteMemory
            $0.address = address
            $0.data = Data(bytes)
        }, to: valid(hart)) { done($0.error.isEmpty) }
    }

    func setBreakpoint(_ address: UInt64, insert: Bool, done: @escaping (Bool) -> Void) {
        if insert { breakpoints.insert(address) } else { breakpoints.remove(address) }
        broadcast(.with {
            $0.action = insert ? .debugSetBreakpoint : .debugClearBreakpoint
            $0.address = address
        }) { done($0 == nil) }
    }

    func setWatchpoint(_ kind: WatchKind, address: UInt64, length: UInt64, insert: Bool, hart: Int,
                       done: @escaping (String?) -> Void) {
        guard insert else {
            watches.removeAll { $0.kind == kind && $0.address == address && $0.length == length }
            return broadcastWatchpoints(done: done)
        }
        guard watches.count < Self.watchpointLimit else {
            return done("at most \(Self.watchpointLimit) watchpoints at once; delete one first")
        }
        send(.with {
            $0.action = .debugTranslate
            $0.address = address
            $0.value = length
        }, to: valid(hart)) { [weak self] reply in
            guard let self else { return }
            guard reply.error.isEmpty else { return done("cannot watch: \(reply.error)") }
            self.watches.append(Watch(kind: kind, address: address, length: length, physical: reply.physical))
            self.broadcastWatchpoints(done: done)
        }
    }

    private func broadcastWatchpoints(done: @escaping (String?) -> Void) {
        broadcast(.with {
            $0.action = .debugSetWatchpoints
            $0.watchpoints = watches.map { watch in
                .with {
                    $0.physical = watch.physical
                    $0.length = watch.length
                    $0.kind = Rrvm_DebugWatchKind(rawValue: Int(watch.kind.rawValue)) ?? .debugWatchAccess
                }
            }
        }) { done($0) }
    }

    func haltReason(done: @escaping (GDBStop) -> Void) {
        if state == .stopped { return done(lastStop) }
        waitingForStop.append(done)
        // A debugger attaching to a machine that runs freely (after an earlier one detached) stops it.
        if state == .running { stopAll(cause: GDBStop(kind: .interrupt, hart: host.runningHart ?? 0)) }
    }

    func resume(step hart: Int?, only: Int?, reverse: Bool) {
        guard state == .stopped else { return }
        if reverse { return goBack(step: hart) }
        state = .running
        reportingOnly = only
        defer { host.debuggerTimeline?.runForward() }
        stoppedAt = [:]
        for index in 0..<hartCount {
            resumesSent[index] &+= 1
            send(.with {
                $0.action = .debugResume
                $0.value = index == hart ? 1 : 0
            }, to: index)
        }
    }

    func interrupt() {
        if state == .reversing { reverseInterrupted = true }
        guard state == .running else { return }
        stopAll(cause: GDBStop(kind: .interrupt, hart: host.runningHart ?? 0))
    }

    private func stopAll(cause: GDBStop) {
        state = .stopping
        self.cause = cause
        for hart in 0..<hartCount where stoppedAt[hart] == nil { send(.with { $0.action = .debugStop }, to: hart) }
    }

    /// G where the machine is stopped: inside the running hart's slice, or at the sequencer's boundary.
    private var machineG: UInt64 { stoppedAt.values.first(where: \.inSlice)?.g ?? host.currentG }

    func monitor(_ command: String, done: @escaping (String) -> Void) {
        let words = command.split(separator: " ")
        switch words.first {
        case "seek"? where words.count == 2:
            guard let g = UInt64(words[1]) else { return done("rrvm: seek wants a G (a decimal instruction count), not '\(words[1])'\n") }
            seek(to: g, done: done)
        case "when"?:
            var text = "G=\(machineG)\n"
            for hart in 0..<hartCount {
                text += "hart \(hart): \(stoppedAt[hart].map { String($0.retired) } ?? "?") instructions retired\n"
            }
            done(text)
        default:
            done("rrvm monitor commands: when (G and each hart's retired instructions), seek G\n")
        }
    }

    /// Moves the whole machine to the first instruction boundary at G >= `g` (see DEBUG_STOP_AT_G), passing
    /// over breakpoints and watchpoints.
    private func seek(to g: UInt64, done: @escaping (String) -> Void) {
        guard state == .stopped else { return done("rrvm: the machine is not stopped\n") }
        if let end = logEndG, g > end {
            return done("rrvm: G=\(g) is beyond the end of the log (G=\(end)); the machine stays at G=\(machineG)\n")
        }
        var g = g, note = ""
        if let present = host.debuggerTimeline?.present, g > present {
            // A recording's past: nothing lies beyond the present yet; it goes there (and records again from there).
            note = "rrvm: G=\(g) is beyond the present of the recording (G=\(present)); going to the present\n"
            g = present
        }
        if g == machineG { return done(note + "rrvm: at G=\(g)\n") }
        if let timeline = host.debuggerTimeline, !(timeline.isLive && g > machineG) {
            // Back or forward, through the timeline (forward too, so that it takes its checkpoints on the way); a
            // recording at its present goes forward live, as a run without a timeline does (below).
            seekDone = { done(note + $0) }
            let hart = lastStop.hart
            return handOver { [unowned self] in self.go(to: g, stop: GDBStop(kind: .trap, hart: hart)) }
        }
        guard g > machineG else {
            return done("rrvm: going back to G=\(g) needs checkpoints, which this run does not keep; the machine stays at G=\(machineG)\n")
        }
        seekDone = done
        for hart in 0..<hartCount { send(.with { $0.action = .debugStopAtG; $0.value = g }, to: hart) }
        resume(step: nil, only: -1, reverse: false)
    }

    func detach() {
        // What waited for a stop was the debugger's that left (a `?` of the next one must not be dropped later).
        waitingForStop = []
        if state == .reversing || !assembled {
            // Left in the middle of going back, or before every hart had joined: once the machine is at a point (where
            // the timeline puts it, or its first stop), it runs freely.
            detachPending = true
            return
        }
        letGo()
    }

    /// The debugger has left: breakpoints and watchpoints go, the machine runs freely.
    private func letGo() {
        detachPending = false
        breakpoints = []
        watches = []
        state = .running
        stoppedAt = [:]
        for hart in 0..<hartCount {
            resumesSent[hart] &+= 1
            send(.with { $0.action = .debugDetach }, to: hart)
        }
        host.debuggerTimeline?.runForward()
        // A debugger that attached while the machine could not be let go yet asked where it is stopped: it stops again.
        if !waitingForStop.isEmpty { stopAll(cause: GDBStop(kind: .interrupt, hart: host.runningHart ?? 0)) }
    }

    // MARK: - State dump

    /// Where the debugger and its harts stand, a few lines (for `kill -USR1` of the sequencer, and a test that
    /// times out): what it waits for is what a hang waits for.
    var stateDescription: String {
        var lines = [server?.stateDescription ?? "gdb server: not listening"]
        var summary = "debugger: \(state), G=\(host.currentG), running hart \(host.runningHart.map { String($0) } ?? "none"), last stop "
            + "\(lastStop.kind) on hart \(lastStop.hart)"
        if joined.count < hartCount {
            summary += ", harts not joined yet: \((0..<hartCount).filter { !joined.contains($0) }.map { String($0) }.joined(separator: " "))"
        }
        if let reportingOnly { summary += ", reporting hart \(reportingOnly) only" }
        if !waitingForStop.isEmpty { summary += ", \(waitingForStop.count) waiting for a stop" }
        if seekDone != nil { summary += ", a seek under way" }
        if reverseInterrupted { summary += ", reverse execution interrupted" }
        if detachPending { summary += ", a detach waiting for the machine to stop" }
        summary += ", \(breakpoints.count) breakpoints, \(watches.count) watchpoints"
        lines.append(summary)
        for hart in 0..<hartCount {
            var line = "hart \(hart): "
            if let stopped = stoppedAt[hart] {
                line += "stopped (\(stopped.reason)) at pc 0x\(String(stopped.pc, radix: 16)), \(stopped.retired) retired"
                    + (stopped.inSlice ? ", G=\(stopped.g) in its slice" : "")
            } else {
                line += joined.contains(hart) ? "not stopped" : "not joined"
            }
            line += ", \(resumesSent[hart]) resumes sent"
            let unanswered = pending.filter { $0.value.hart == hart }.sorted { $0.key < $1.key }
            if !unanswered.isEmpty {
                line += ", unanswered: " + unanswered.map { "#\($0.key) \($0.value.action)" }.joined(separator: " ")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - DMA into watched ranges

    /// Guest RAM as this process maps it, to see device writes (DMA) into watched ranges.
    var guestRAM: (base: UnsafeMutableRawPointer, size: UInt64)?
    /// The watched bytes when the device operation under way began.
    private var beforeDevice: [[UInt8]]?

    /// A device operation begins (the sequencer sends it to its device).
    func deviceOperationBegins() {
        beforeDevice = watches.isEmpty || guestRAM == nil ? nil : watches.map(watchedBytes)
    }

    /// The device answered: a write or access watchpoint whose bytes it changed (DMA) stops the machine, reported
    /// on the thread of the hart that started the operation (else the running hart's), at the first changed byte.
    func deviceOperationEnded(startedBy hart: Int?) {
        guard let before = beforeDevice else { return }
        beforeDevice = nil
        guard state == .running, before.count == watches.count else { return }
        for (index, watch) in watches.enumerated() where watch.kind != .read {
            let now = watchedBytes(watch)
            guard let offset = now.indices.first(where: { $0 < before[index].count && now[$0] != before[index][$0] }) else { continue }
            let address = watch.address &+ UInt64(offset)
            return stopAll(cause: GDBStop(kind: .watch(watch.kind, address: address), hart: hart ?? host.runningHart ?? lastStop.hart))
        }
    }

    private func watchedBytes(_ watch: Watch) -> [UInt8] {
        let offset = watch.physical &- MemoryMap.ramBase
        guard let ram = guestRAM, watch.physical >= MemoryMap.ramBase, offset < ram.size, watch.length <= ram.size - offset else {
            return []
        }
        return Array(UnsafeRawBufferPointer(start: ram.base + Int(offset), count: Int(watch.length)))
    }

    // MARK: - Going back (replay with checkpoints)

    private var reverseInterrupted = false

    /// `bs` (with `step`: to where that hart had retired one instruction fewer) or `bc` (back to the last
    /// breakpoint or watchpoint hit before the present, on any hart). The timeline takes the machine over from
    /// the debugger's stop, puts it there, and the debugger stops every hart again at that point.
    private func goBack(step hart: Int?) {
        let present = machineG
        guard let hart else {
            return handOver { [unowned self] in self.scanBack(before: present, hart: self.lastStop.hart) }
        }
        let retired = stoppedAt[hart]?.retired ?? 0
        let target = retired == 0 ? nil
            : slices.g(hart: hart, beforeInstruction: retired - 1, current: host.openSlice(ofHart: hart))
        handOver { [unowned self] in
            // A hart that has not run yet is at the start of its history.
            guard let target else { return self.arrive(stop: GDBStop(kind: .historyBegin, hart: hart)) }
            self.go(to: target, stop: GDBStop(kind: .trap, hart: hart))
        }
    }

    /// Hands the stopped machine to the timeline (see `DebuggerTimeline.takeOver`), then `then`.
    private func handOver(then: @escaping () -> Void) {
        guard let timeline = host.debuggerTimeline else { return }
        state = .reversing
        reportingOnly = nil
        reverseInterrupted = false
        timeline.takeOver(atG: machineG) { [weak self] result in
            guard let self else { return }
            if case .failure(let error) = result { return self.arrive(failure: error) }
            then()
        }
        for index in 0..<hartCount {
            // While the timeline moves the machine, breakpoints and watchpoints are noted, not stopped at: a hit
            // costs no round trip (a breakpoint in a hot loop is hit millions of times).
            send(.with { $0.action = .debugNoteHits; $0.value = 1 }, to: index)
            resumesSent[index] &+= 1
            send(.with { $0.action = .debugResume }, to: index)
        }
    }

    /// Replays the interval from the latest checkpoint before `present` up to it, noting hits; goes to the last
    /// one, or to the interval before when there was none, or to the start of the log.
    private func scanBack(before present: UInt64, hart: Int) {
        guard let timeline = host.debuggerTimeline else { return }
        guard present > 0, let from = timeline.checkpointG(atOrBefore: present - 1) else {
            return go(to: 0, stop: GDBStop(kind: .historyBegin, hart: hart))
        }
        timeline.seek(toG: from) { [weak self] result in
            guard let self else { return }
            if case .failure(let error) = result { return self.arrive(failure: error) }
            // Noting afresh from here (a noted hit of the way to `from` does not count).
            self.gather(.with { $0.action = .debugNoteHits; $0.value = 1 }) { [weak self] _ in
                timeline.run(toG: present) { [weak self] result in
                    guard let self else { return }
                    if case .failure(let error) = result { return self.arrive(failure: error) }
                    self.gather(.with { $0.action = .debugNoteHits; $0.value = 1 }) { [weak self] replies in
                        self?.scanned(replies, from: from, present: present, hart: hart)
                    }
                }
            }
        }
    }

    /// An interval replayed: go to the last hit noted in it (on any hart), or further back.
    private func scanned(_ replies: [Rrvm_DebugReply], from: UInt64, present: UInt64, hart: Int) {
        let hits = replies.indices.filter { replies[$0].hasLastHit && replies[$0].lastHit.g < present }
        if let index = hits.max(by: { replies[$0].lastHit.g < replies[$1].lastHit.g }) {
            let hit = replies[index].lastHit
            let stop = stop(hit, hart: index)
            // A breakpoint is reported before its instruction. A watchpoint, going backwards, just after the
            // access: gdb (RISC-V watchpoints fire before the access) then steps back over it itself, compares the
            // values, and stops before the access.
            if case .watch = stop.kind { return go(to: hit.g + 1, stop: stop) }
            return go(to: hit.g, stop: stop)
        }
        if reverseInterrupted || detachPending {
            return arrive(stop: GDBStop(kind: .interrupt, hart: hart))  // at `present`, a consistent point
        }
        if from == 0 { return go(to: 0, stop: GDBStop(kind: .historyBegin, hart: hart)) }
        scanBack(before: from, hart: hart)
    }

    /// Moves the machine to `g` and stops there for the debugger. On the way nothing is noted, so the harts run
    /// without breakpoints and watchpoints (with them, the interpreter checks before every instruction).
    private func go(to g: UInt64, stop: GDBStop) {
        for hart in 0..<hartCount { send(.with { $0.action = .debugSuspendBreakpoints; $0.value = 1 }, to: hart) }
        host.debuggerTimeline?.seek(toG: g) { [weak self] result in
            guard let self else { return }
            for hart in 0..<self.hartCount { self.send(.with { $0.action = .debugSuspendBreakpoints; $0.value = 0 }, to: hart) }
            if case .failure(let error) = result { return self.arrive(failure: error) }
            self.arrive(stop: stop)
        }
    }

    /// The timeline holds the machine where reverse execution ends: every hart stops there for the debugger
    /// again, and the debugger is told (or, if it left meanwhile, the machine runs freely).
    private func arrive(stop: GDBStop) {
        for hart in 0..<hartCount { send(.with { $0.action = .debugNoteHits; $0.value = 0 }, to: hart) }
        if detachPending {
            state = .stopped
            return letGo()
        }
        stoppedAt = [:]
        stopAll(cause: stop)
    }

    /// A timeline operation failed: the machine is where the timeline left it, stopped; the debugger says why.
    private func arrive(failure: Error) {
        server?.console("rrvm: \(failure)\n")
        arrive(stop: GDBStop(kind: .trap, hart: lastStop.hart))
    }
}
