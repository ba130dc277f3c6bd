#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRProto
import RRRoles
import RRSequencer

/// What the sequencer does with a log (the `--record`, `--replay` and related options of rrvm-sequencer).
struct LogOptions {
    var recordPath: String?
    var detail: Rrvm_LogDetail = .compact
    var checkInterval: UInt64 = defaultCheckInterval
    var replayPath: String?
    var excerpt: ReplayJournal.Excerpt?
    /// Replay, or a recording under gdb: take checkpoints automatically as this policy says (`--checkpoint-budget`).
    var checkpoints: CheckpointPolicy?
    /// Replay: check that many checkpoint round trips at random points (`--verify-checkpoints N --seed S`).
    var verifyCheckpoints: (rounds: Int, seed: UInt64)?
}

extension SequencerNode: ClusterDebuggerHost {
    func sendDebugRequest(_ request: Rrvm_DebugRequest, toHart hart: Int) {
        var envelope = Rrvm_Envelope()
        envelope.to = Endpoint.hart(hart)
        envelope.body = .debugRequest(request)
        connections[envelope.to]?.send(envelope)
    }

    var currentG: UInt64 { sequencer.g }
    var runningHart: Int? { sequencer.runningHartIndex }
    var debuggerTimeline: DebuggerTimeline? { replayTimeline }


    func openSlice(ofHart hart: Int) -> (startG: UInt64, retiredAtStart: UInt64)? {
        guard sequencer.runningHartIndex == hart else { return nil }
        return (sequencer.sliceStart(ofHart: hart), sequencer.executed(byHart: hart))
    }
}

/// The sequencer process: listens on the run directory's socket, admits the cluster's processes after
/// the handshake, and wires the bus to the deterministic `Sequencer`.
final class SequencerNode: SequencerTransport, TimelineHost {
    private let loop = EventLoop()
    private let runDirectory: RunDirectory
    private var config: Rrvm_MachineConfig
    private let credentials: Credentials
    private var listener: Listener?
    fileprivate var sequencer: Sequencer!
    /// `--gdb`: every hart a thread of one GDB session.
    private let gdbAddress: BusAddress?
    /// The sequencer and the devices start on another CPU than the harts' (rrctl's `--start-cpu`, a one-hart
    /// cluster): the hart may run while they start (see `mayBeginBeforeDevices`).
    private let devicesStartAside: Bool
    private let replayPath: String?
    private var debugger: ClusterDebugger?
    /// A replay or a recording under gdb: the timeline as the debugger drives it.
    fileprivate var replayTimeline: ReplayTimeline?
    /// A recording under gdb: the journal that replays the recording's past when the debugger goes back.
    private var timeTravel: TimeTravelJournal?
    /// The hart whose access started the device operation under way (for watchpoints hit by DMA), and its device.
    private var deviceOperationHart: Int?
    private var deviceOperationDevice: UInt32?
    private var journal: EventJournal?
    private var recordJournal: RecordJournal?
    private var consoleCapture: ConsoleCapture.Writer?
    fileprivate var connections: PeerTable
    private var pids: [UInt32: Int32] = [:]
    private var control: Connection?
    private var consoleBacklog: [UInt8] = []
    /// The Shutdown sent when the run ended (to rrctl too, should it join after).
    private var shutdownMessage: Rrvm_Envelope?
    private var controlJoined = false
    private var idleTimer: LoopTimer!
    private var flushTimer: LoopTimer!
    private var consoleTimer: LoopTimer!
    private var consoleFlushArmed = false
    private var signals: [SignalWatcher] = []
    private var exitCode: Int32 = 0
    private var finished = false
    private var loopStopped = false
    private var lastMessageAt: UInt64 = 0
    private var messageArrivedSinceCheck = false
    private var lanesCreated = 0
    /// The doorbell all lanes' peers ring (see `SequencerBell`), made with the first lane.
    private var laneBell: SequencerBell?
    /// A split cluster's harts poll for their turns on one CPU: whose turn comes next, for them (see `TurnBoard`).
    private var turnBoard: TurnBoard?
    /// When the run began (for RRVM_STATS=1).
    private var startedAt: UInt64?
    /// Time travel: checkpoints of the whole cluster taken from here, on guest RAM mapped here.
    private var ram: SharedRAM?
    private(set) var timeline: ClusterTimeline?
    private let options: LogOptions
    /// Console output shown so far: after going back, the replay shows only output beyond it (bytes the
    /// user has not seen yet), so a debugger session shows each byte once.
    private var consoleShown: UInt64 = 0
    /// Console output shown ahead of its time, as far as the console will have produced: a stopped hart's held
    /// output (`showHeldConsoleOutput`). It is captured when produced, but not shown again.
    private var consoleShownAhead: UInt64 = 0

    /// rrctl's pid when it started this process: when rrctl dies, the kernel sends SIGTERM (dieWithParent).
    private let supervisor: pid_t?

    init(runDirectory: RunDirectory, options: LogOptions, consoleCapturePath: String? = nil,
         supervisor: pid_t? = nil, gdbAddress: BusAddress? = nil, devicesStartAside: Bool = false) throws {
        self.gdbAddress = gdbAddress
        self.devicesStartAside = devicesStartAside
        replayPath = options.replayPath
        self.runDirectory = runDirectory
        self.supervisor = supervisor
        self.options = options
        consoleCapture = try consoleCapturePath.map { try ConsoleCapture.Writer(path: $0) }
        config = try runDirectory.readConfig()
        connections = PeerTable(harts: Int(config.harts), devices: config.devices.count)
        held = Array(repeating: [], count: config.devices.count)
        credentials = try runDirectory.credentials()
        if let replayPath = options.replayPath {
            config.replay = true
            journal = try ReplayJournal(path: replayPath, excerpt: options.excerpt)
        } else if let recordPath = options.recordPath {
            let header = Rrvm_LogHeader.with {
                $0.formatVersion = logFormatVersion
                $0.rrvmVersion = rrvmVersion
                $0.config = config
                $0.recordedAtNs = config.startWallTimeNs
                $0.detail = options.detail
                $0.checkInterval = options.checkInterval
            }
            let record = RecordJournal(writer: try LogWriter(path: recordPath, header: header), detail: options.detail,
                                       checkInterval: options.checkInterval)
            recordJournal = record
            journal = record
            if gdbAddress != nil {
                // Under gdb a recording can go back: in its past it replays the log written so far.
                let timeTravel = TimeTravelJournal(record: record)
                self.timeTravel = timeTravel
                journal = timeTravel
            }
        }
        sequencer = Sequencer(config: config, transport: self, journal: journal)
        // A replay under gdb keeps checkpoints too: reverse execution goes back through them.
        if options.replayPath != nil && (options.checkpoints != nil || options.verifyCheckpoints != nil || gdbAddress != nil) {
            // The sequencer maps guest RAM too (the memfd rrctl made, by its /proc path, as the harts do), to
            // snapshot it while every hart is paused: pages changed since the previous checkpoint, found by
            // comparison (RAMCheckpoints says why not copy-on-write or write tracking).
            let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
            self.ram = ram
            timeline = ClusterTimeline(sequencer: sequencer, ram: ram.base, host: self)
            timeline?.endG = try LogSummary(path: options.replayPath!).lastG
            if gdbAddress != nil, let timeline {
                timeline.enableAutomaticCheckpoints(options.checkpoints ?? CheckpointPolicy(interval: CheckpointPolicy.debuggerInterval))
                replayTimeline = ReplayTimeline(timeline: timeline, sequencer: sequencer)
            }
        } else if let timeTravel {
            // A recording under gdb keeps checkpoints as a replay under gdb does, to go back through them.
            let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
            self.ram = ram
            let timeline = ClusterTimeline(sequencer: sequencer, ram: ram.base, host: self)
            self.timeline = timeline
            timeline.enableAutomaticCheckpoints(options.checkpoints ?? CheckpointPolicy(interval: CheckpointPolicy.debuggerInterval))
            let replayTimeline = ReplayTimeline(timeline: timeline, sequencer: sequencer, recording: timeTravel)
            replayTimeline.onPresentChange = { line in report("rrvm-sequencer", line) }
            self.replayTimeline = replayTimeline
        }
        idleTimer = LoopTimer(loop: loop)
        flushTimer = LoopTimer(loop: loop)
        consoleTimer = LoopTimer(loop: loop)
    }

    func run() -> Int32 {
        if TurnBoard.serves(harts: Int(config.harts)) {
            do {
                turnBoard = try TurnBoard.create(path: runDirectory.turnBoardPath, harts: Int(config.harts))
            } catch {
                // Only a hint for the host's scheduling: the harts poll without it.
                report("rrvm-sequencer", "the harts take their turns without a turn board: \(error)")
            }
        }
        do {
            listener = try Listener(loop: loop, address: runDirectory.busAddress) { [unowned self] connection in
                self.admit(connection)
            }
        } catch {
            report("rrvm-sequencer", "\(error)")
            return 1
        }
        if let gdbAddress {
            // Replay: where the log ends, the furthest a seek may go.
            let logEnd = replayPath.flatMap { try? LogSummary(path: $0) }.map { $0.end?.g ?? $0.lastG }
            let debugger = ClusterDebugger(host: self, hartCount: Int(config.harts), replaying: config.replay, logEndG: logEnd)
            do {
                let remote = try debugger.listen(loop: loop, address: gdbAddress)
                report("rrvm-sequencer", "the machine waits for a debugger (every hart a thread): gdb-multiarch -ex '\(remote)'")
            } catch {
                report("rrvm-sequencer", "--gdb: \(error)")
                return 1
            }
            // Guest RAM mapped here too (as the timeline does), to see device writes into watched ranges.
            if ram == nil { ram = try? SharedRAM.open(path: config.ramPath, size: Int(config.ramSize)) }
            debugger.guestRAM = ram.map { ($0.base, config.ramSize) }
            self.debugger = debugger
            // `kill -USR1 PID` (a test whose debugger session hangs does it): where the debugger stands, what it waits for.
            signals.append(SignalWatcher(loop: loop, signal: SIGUSR1) { [unowned self] _ in
                report("rrvm-sequencer", "state dump (SIGUSR1):\n" + self.debuggerStateDescription)
            })
        }
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] {
            signals.append(SignalWatcher(loop: loop, signal: signalNumber) { [unowned self] number in
                self.finish(exitCode: 128 + number, reason: self.supervisorIsGone
                    ? "rrctl (pid \(self.supervisor ?? 0)) died at G=\(self.sequencer.g)"
                    : "stopped by signal \(number) at G=\(self.sequencer.g)")
            })
        }
        // rrctl may have died before the watchers were in place (its SIGTERM was ignored then).
        if supervisorIsGone { finish(exitCode: 128 + SIGTERM, reason: "rrctl (pid \(supervisor ?? 0)) died before the run started") }
        if let recordJournal {
            // A killed sequencer loses at most the last half second of the log.
            flushTimer.start(milliseconds: 500, repeatMilliseconds: 500) { recordJournal.flush() }
        }
        // While a device operation is under way, or a hart is in a burst of device accesses, the next
        // message usually comes within a millisecond, and waking from sleep costs about as much as a hop:
        // poll for 1 ms after each message, then sleep. A guest that only computes costs no polling here
        // (`Sequencer.isBusy`), so one computing hart keeps one host CPU busy, not two.
        // Kept to one host CPU with the harts and devices (`HostCPU`), it polls only for 30 µs after each
        // message, yielding the CPU at every round (`EventLoop.poll`): the hart it just handed a slice (or the
        // device an operation) runs at once, and a short slice's Yield (a contending hart's: smp-contend's
        // median slice is 2,000 instructions) is found at the next round, without the hart ringing and the
        // sequencer waking (smp-contend, 25 alternated runs: median 40 -> 38 µs per slice). A longer slice
        // outlasts the 30 µs: the sequencer then sleeps at the first round the scheduler gives it back, and
        // the cluster stays on its one CPU.
        // In a split cluster (the harts on another CPU, `HostCPU`) it also polls while a slice runs that another
        // hart waits to follow (`Sequencer.sliceIsContended`), so that the Yield ending it is seen without a
        // wake-up across CPUs, for `splitSpin` after each message (100 µs, `RRVM_SEQUENCER_SPIN_US=N` sets it).
        // RRVM_SEQUENCER_SPIN=0 turns polling off (slower, for measuring or a crowded host).
        loop.defersDoorbells = HostCPU.isAlone
        let environment = ProcessInfo.processInfo.environment
        let splitSpin = UInt64(environment["RRVM_SEQUENCER_SPIN_US"].flatMap { UInt64($0) } ?? 100) * 1000
        let spinNanoseconds: UInt64 = environment["RRVM_SEQUENCER_SPIN"] == "0" ? 0
            : loop.defersDoorbells ? 30_000 : HostCPU.isSplit ? splitSpin : 1_000_000
        let pollsWhileIdle = loop.defersDoorbells
        let pollsWhileContended = HostCPU.isSplit
        loop.run(pollingWhile: {
            // A message is timed here, at the first check after it, not as it arrives: one clock read per round.
            let messageArrived = messageArrivedSinceCheck
            messageArrivedSinceCheck = false
            let busy = sequencer.isBusy
            guard busy || pollsWhileIdle || (pollsWhileContended && sequencer.sliceIsContended) else { return false }
            // Split, the devices share this CPU: they can have work only while an operation is under way.
            loop.yieldsWhilePolling = !pollsWhileContended || busy
            let now = EventLoop.monotonicNanoseconds()
            if messageArrived { lastMessageAt = now }
            return now &- lastMessageAt < spinNanoseconds
        }, until: { loopStopped })
        return exitCode
    }

    private var supervisorIsGone: Bool { supervisor.map { getppid() != $0 } ?? false }

    /// The debugger's state, the timeline's, and each hart as the sequencer sees it.
    private var debuggerStateDescription: String {
        var lines = [debugger?.stateDescription ?? "no debugger"]
        if let replayTimeline { lines.append(replayTimeline.stateDescription) }
        let harts = (0..<Int(config.harts)).map { hart in
            connections[Endpoint.hart(hart)] == nil ? "absent" : "\(sequencer.state(ofHart: hart)) (\(sequencer.executed(byHart: hart)) executed)"
        }
        let devicesJoined = config.devices.indices.filter { connections[Endpoint.device($0)] != nil }.count
        lines.append("sequencer: G=\(sequencer.g), harts: " + harts.joined(separator: ", ")
                     + ", \(devicesJoined) of \(config.devices.count) devices joined")
        return lines.flatMap { $0.split(separator: "\n") }.map { "  " + $0 }.joined(separator: "\n")
    }

    // MARK: - Admission

    /// Peers connected but not admitted yet: each must send Hello, in a frame of at most
    /// `FrameCodec.handshakeFrameLimit` bytes, within `helloDeadlineMilliseconds`, and at most
    /// `maximumWaitingPeers` may wait at once. Strangers so cost little memory and no file descriptors.
    private var peersWaitingForHello = 0
    private var connectionLimitReported = false
    static let helloDeadlineMilliseconds: UInt64 = 5_000
    static let maximumWaitingPeers = 32

    private func admit(_ connection: Connection) {
        guard peersWaitingForHello < Self.maximumWaitingPeers else {
            if !connectionLimitReported {
                connectionLimitReported = true
                report("rrvm-sequencer", "refusing peers: \(Self.maximumWaitingPeers) connections are already waiting for their handshake")
            }
            return connection.close(.refused("too many connections waiting for their handshake"))
        }
        peersWaitingForHello += 1
        connection.maximumFrameSize = FrameCodec.handshakeFrameLimit
        let deadline = LoopTimer(loop: loop)
        var waiting = true
        let settle = { [unowned self] in
            guard waiting else { return }
            waiting = false
            self.peersWaitingForHello -= 1
            deadline.close()
        }
        deadline.start(milliseconds: Self.helloDeadlineMilliseconds) { [unowned self, unowned connection] in
            self.refuse(connection, "no Hello within \(Self.helloDeadlineMilliseconds / 1000) s")
        }
        connection.onClose = { _ in settle() }
        connection.onEnvelope { [unowned self, unowned connection] envelope in
            settle()
            connection.maximumFrameSize = FrameCodec.maximumFrameSize
            guard case .hello(let hello)? = envelope.body else {
                return self.refuse(connection, "the first message must be Hello, not \(envelope.kindName)")
            }
            if let refusal = self.credentials.refusal(for: hello) { return self.refuse(connection, refusal) }
            let endpoint: UInt32
            switch hello.role {
            case .hart where hello.index < self.config.harts:
                endpoint = Endpoint.hart(Int(hello.index))
            case .device where hello.index < self.config.devices.count:
                endpoint = Endpoint.device(Int(hello.index))
            case .control:
                return self.admitControl(connection, hello: hello)
            default:
                return self.refuse(connection, "no \(hello.role) with index \(hello.index) in this machine")
            }
            guard self.connections[endpoint] == nil else {
                return self.refuse(connection, "\(Endpoint.describe(endpoint, config: self.config)) has already joined")
            }
            connection.name = Endpoint.describe(endpoint, config: self.config)
            self.connections[endpoint] = connection
            self.pids[endpoint] = hello.pid
            self.welcome(connection, endpoint: endpoint, hello: hello)
            if hello.role == .hart { self.debugger?.hartJoined(Int(hello.index)) }
            if hello.role == .device { self.deviceJoined(Int(hello.index), connection) }
            connection.onMessage(from: endpoint) { [unowned self] header, body in self.receive(header, body, from: endpoint) }
            connection.onClose = { [unowned self] reason in
                self.connections[endpoint] = nil
                if !self.finished {
                    self.timeline?.lost(endpoint: endpoint, reason: "\(reason)")
                    self.sequencer.lost(endpoint: endpoint, reason: "\(reason)")
                }
            }
            let everyone = self.connections.count == Int(self.config.harts) + self.config.devices.count
            if self.startedAt == nil && (everyone || self.mayBeginBeforeDevices && self.allHartsJoined) {
                // Beside the harts from the first slice on (a started aside sequencer: see `devicesStartAside`), so
                // that a hart waiting for an answer never waits for a wake-up across CPUs.
                HostCPU.settle()
                HostCPU.useShortSlices()
                self.startedAt = EventLoop.monotonicNanoseconds()
                self.begin()
            }
        }
    }

    /// Whether the run may begin once the harts have joined, before the devices: where the devices start aside
    /// (`devicesStartAside`), in a live run or a replay without checkpoints, and with no debugger. A device takes
    /// part only in operations the sequencer sends it, and those wait for it (`held`), so when it joins changes
    /// nothing the guest sees; a hart waiting for one waits longer. The guest then does not wait for the devices
    /// to start (a one-hart run began 11 ms after rrctl's start instead of 23-28). Checkpoints (a state from every
    /// device) and a debugger's first stop wait for everyone; so does a split cluster, where the devices start on
    /// the sequencer's CPU: hand-overs between harts there were 1.3x slower while they started.
    private var mayBeginBeforeDevices: Bool { devicesStartAside && timeline == nil && debugger == nil }

    private var allHartsJoined: Bool {
        (0..<Int(config.harts)).allSatisfy { connections[Endpoint.hart($0)] != nil }
    }

    /// What the sequencer sent each device before it joined, in order (see `mayBeginBeforeDevices`); nil once
    /// it has joined. At most a few operations wait: a hart waits for each read's answer, and at most 64 writes go
    /// ahead of their turn (`Sequencer.sendAhead`); `heldLimit` only guards against a bug.
    private var held: [[(header: EnvelopeHeader, body: Rrvm_Envelope.OneOf_Body, waking: Bool)]?]
    static let heldLimit = 4096

    /// A device joined: what waited for it leaves, then, if the run has ended meanwhile, the Shutdown.
    private func deviceJoined(_ index: Int, _ connection: Connection) {
        for message in held[index] ?? [] { connection.send(message.header, message.body, wakingPeer: message.waking) }
        held[index] = nil
        if let shutdownMessage { connection.send(shutdownMessage) }
    }

    /// The run begins (everyone has joined, or the harts: see `mayBeginBeforeDevices`); in replay, with automatic
    /// checkpoints or the checkpoint round trips asked for.
    private func begin() {
        // Under gdb the machine waits for the debugger; in replay its first continue starts the timeline's run.
        if replayTimeline != nil { return }
        guard let timeline else { return sequencer.start() }
        if let verify = options.verifyCheckpoints {
            // The round trips, then the rest of the replay as without them: its end says whether it matched.
            CheckpointVerifier(timeline: timeline, rounds: verify.rounds, seed: verify.seed) { line in
                report("rrvm-sequencer", line)
            }.run { [unowned self] result in
                switch result {
                case .success(let summary):
                    report("rrvm-sequencer", summary)
                    self.replayToTheEnd(timeline)
                case .failure(let error): self.finish(exitCode: 3, reason: "\(error)")
                }
            }
            return
        }
        if let policy = options.checkpoints { timeline.enableAutomaticCheckpoints(policy) }
        replayToTheEnd(timeline)
    }

    /// Replays on from where the timeline stands to the log's end, where the sequencer ends the run.
    private func replayToTheEnd(_ timeline: ClusterTimeline) {
        timeline.run(toG: timeline.endG ?? .max) { [unowned self] result in
            // The run usually ends before (the log's end, the guest's power-off): the sequencer says so.
            if case .failure(let error) = result, !self.sequencer.isFinished {
                return self.finish(exitCode: 2, reason: "\(error)")
            }
            if case .success = result { self.sequencer.run(untilG: nil) }
        }
    }

    /// A message from an admitted hart or device, its body apart from the envelope's other fields (each is a method
    /// call, so that the per-message path takes its reference to the node once; the body is never copied: each move
    /// of one in and out of an Envelope costs a few hundred instructions).
    private func receive(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, from endpoint: UInt32) {
        messageArrivedSinceCheck = true
        if debugger == nil, Endpoint.isHart(endpoint), case .debugReply(let reply) = body {
            // A hart served by its own debugger (`--gdb-hart`) stopped holding console output: shown now.
            return showHeldConsoleOutput(reply.stopped.heldConsoleOutput)
        }
        if let debugger {
            if Endpoint.isHart(endpoint) {
                if case .debugReply(let reply) = body { return debugger.receive(reply, fromHart: Endpoint.hartIndex(endpoint)) }
                if case .yield(let yield) = body, let slice = openSlice(ofHart: Endpoint.hartIndex(endpoint)) {
                    debugger.slices.record(hart: Endpoint.hartIndex(endpoint),
                                           .init(startG: slice.startG, retiredAtStart: slice.retiredAtStart, length: yield.executed))
                }
            }
            if endpoint == deviceOperationDevice, case .deviceDone = body {
                // Before the sequencer moves on (and sends the next operation): did the device write a watched range?
                debugger.deviceOperationEnded(startedBy: deviceOperationHart)
            }
        }
        switch body {
        case .echo(let echo):
            // Bus tests and benchmarks: carried to its addressee, stamped, outside the schedule.
            var header = header
            header.g = sequencer.g
            connections[echo.to]?.send(header, body)
            return
        case .hartState, .deviceState, .stateRestored, .stateRefused:
            // Answers to the timeline (checkpoints).
            if timeline?.receive(header.envelope(body)) == true { return }
        default:
            break
        }
        guard SliceTimes.isOn, case .yield = body else { return sequencer.receive(body, from: endpoint) }
        SliceTimes.note(.yieldArrived, tag: Endpoint.hartIndex(endpoint))
        sequencer.receive(body, from: endpoint)
        SliceTimes.note(.yieldHandled)
    }

    private func admitControl(_ connection: Connection, hello: Rrvm_Hello) {
        connection.name = "rrctl"
        welcome(connection, endpoint: Endpoint.control, hello: hello)
        // Index 0 is the supervisor that owns the console; others (rrctl ps) only ask for status.
        if hello.index == 0 && control == nil {
            control = connection
            controlJoined = true
            flushConsole()
            // A short run (a replay of a few slices) can end before rrctl has joined: it still hears how.
            if let shutdownMessage { connection.send(shutdownMessage) }
        }
        connection.onEnvelope { [unowned self, unowned connection] envelope in
            switch envelope.body {
            case .hostInput(let input)?:
                self.sequencer.receiveHostInput([UInt8](input.console))
            case .statusRequest?:
                var reply = Rrvm_Envelope()
                reply.g = self.sequencer.g
                reply.body = .statusReply(self.status())
                connection.send(reply)
            case .shutdown(let shutdown)?:
                self.finish(exitCode: shutdown.exitCode, reason: shutdown.reason)
            default:
                connection.close(.malformedMessage("unexpected \(envelope.kindName) from rrctl"))
            }
        }
        connection.onClose = { [unowned self, unowned connection] _ in
            if self.control === connection { self.control = nil }
        }
    }

    /// Sends Welcome; a local peer that asked for a shared lane gets one, and every later frame uses it.
    private func welcome(_ connection: Connection, endpoint: UInt32, hello: Rrvm_Hello) {
        var lane: SharedLane?
        // Not for a member joining after the run's end (told to stop at once): the lane would be removed with the
        // others before it could open it.
        if hello.sharedLane && connection.isLocal && !finished {
            lanesCreated += 1
            do {
                if laneBell == nil { laneBell = try SequencerBell.create(path: runDirectory.path + "/lane-bell") }
                lane = try SharedLane.create(path: runDirectory.path + "/lane-\(lanesCreated)", bell: laneBell!)
            } catch {
                // The socket alone still works: say why, and go on without the lane.
                report("rrvm-sequencer", "\(connection.name) gets no shared lane: \(error)")
            }
        }
        var envelope = Rrvm_Envelope()
        envelope.to = endpoint
        envelope.body = .welcome(.with {
            $0.config = config
            $0.endpoint = endpoint
            $0.sharedLanePath = lane?.path ?? ""
        })
        connection.send(envelope)
        if let lane { connection.attachLane(lane) }
    }

    /// Refusals so far: the first few are reported on standard error, the rest only counted, so that a
    /// stranger who keeps connecting cannot flood the user's terminal.
    private var refusals = 0
    static let reportedRefusals = 3

    private func refuse(_ connection: Connection, _ reason: String) {
        refusals += 1
        if refusals <= Self.reportedRefusals {
            report("rrvm-sequencer", "refused a peer: \(reason)"
                   + (refusals == Self.reportedRefusals ? " (further refusals are not reported)" : ""))
        }
        var envelope = Rrvm_Envelope()
        envelope.body = .refused(.with { $0.reason = reason })
        connection.send(envelope)
        connection.close(.refused(reason))
    }

    private func status() -> Rrvm_StatusReply {
        var reply = Rrvm_StatusReply()
        reply.g = sequencer.g
        reply.processes.append(.with {
            $0.endpoint = Endpoint.sequencer
            $0.role = "sequencer"
            $0.pid = getpid()
            $0.state = finished ? "finished" : "running"
        })
        for hart in 0..<Int(config.harts) {
            let endpoint = Endpoint.hart(hart)
            reply.processes.append(.with {
                $0.endpoint = endpoint
                $0.role = Endpoint.describe(endpoint, config: config)
                $0.pid = pids[endpoint] ?? 0
                $0.state = connections[endpoint] == nil ? "absent" : "\(sequencer.state(ofHart: hart))"
                $0.executed = sequencer.executed(byHart: hart)
            })
        }
        for device in config.devices.indices {
            let endpoint = Endpoint.device(device)
            reply.processes.append(.with {
                $0.endpoint = endpoint
                $0.role = Endpoint.describe(endpoint, config: config)
                $0.pid = pids[endpoint] ?? 0
                $0.state = connections[endpoint] == nil ? "absent" : "ready"
            })
        }
        return reply
    }

    // MARK: - SequencerTransport

    func send(_ envelope: Rrvm_Envelope) {
        if envelope.to == Endpoint.control {
            if case .consoleOutput(let output)? = envelope.body {
                // Only output beyond what was shown already (the sequencer counted this output in), and on the
                // terminal not what a stopped hart's held output showed ahead.
                let start = sequencer.consoleBytes &- UInt64(output.data.count)
                let captured = Self.bytes(of: output.data, from: start, beyond: consoleShown)
                guard !captured.isEmpty else { return }
                let shown = Self.bytes(of: output.data, from: start, beyond: max(consoleShown, consoleShownAhead))
                consoleShown = sequencer.consoleBytes
                consoleCapture?.output(g: envelope.g, bytes: captured)
                if !shown.isEmpty { sendConsole(shown) }
            } else if case .inputFlow? = envelope.body {
                control?.send(envelope)
            }
            return
        }
        sendApart(envelope, waking: true)
    }

    /// A foretold write (DeviceAccess.foretold): the device takes it when next woken. Such a device writes no RAM,
    /// so the debugger does not watch its answer.
    func sendWithoutWaking(_ envelope: Rrvm_Envelope) {
        sendApart(envelope, waking: false)
    }

    /// `envelope` sent as its header and body (see `send(_:_:waking:)`).
    private func sendApart(_ envelope: Rrvm_Envelope, waking: Bool) {
        guard let body = envelope.body else { return connections[envelope.to]?.send(envelope, wakingPeer: waking) ?? () }
        send(EnvelopeHeader(envelope), body, waking: waking)
    }

    /// Messages to the harts and devices; `waking: false` for a foretold write (see `sendWithoutWaking`).
    func send(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, waking: Bool) {
        guard header.to != Endpoint.control else { return send(header.envelope(body)) }
        if waking, let debugger, Endpoint.isDevice(header.to) {
            deviceOperationHart = Endpoint.isHart(header.from) ? Endpoint.hartIndex(header.from) : nil
            deviceOperationDevice = header.to
            debugger.deviceOperationBegins()
        }
        deliver(header, body, waking: waking)
    }

    func wake(_ endpoint: UInt32) {
        connections[endpoint]?.wakePeer()
    }

    func sliceStarts(hart: Int, next: Int?) {
        turnBoard?.sliceStarts(hart: hart, next: next)
    }

    private func deliver(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, waking: Bool) {
        var header = header
        if let timeTravel, !timeTravel.isLive, Endpoint.isDevice(header.to) {
            // The past is re-executed: the device does not repeat what it sent towards the host then.
            header.past = true
        }
        guard let connection = connections[header.to] else { return hold(header, body, waking: waking) }
        connection.send(header, body, wakingPeer: waking)
    }

    /// A message for a device that has not joined yet waits for it (`held`); for one that left, it is dropped (the
    /// sequencer has been told, see `admit`).
    private func hold(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, waking: Bool) {
        guard Endpoint.isDevice(header.to), case let device = Endpoint.deviceIndex(header.to), held.indices.contains(device),
              held[device] != nil else { return }
        guard held[device]!.count < Self.heldLimit else {
            return finish(exitCode: 1, reason: "\(Endpoint.describe(header.to, config: config)) has not joined the cluster, "
                          + "and \(Self.heldLimit) messages wait for it")
        }
        held[device]!.append((header, body, waking))
    }

    func sendToProcess(_ envelope: Rrvm_Envelope) {
        if connections[envelope.to] == nil, let body = envelope.body {
            // A checkpoint's request to a device that has not joined yet (a debugger's first command can come first).
            return hold(EnvelopeHeader(envelope), body, waking: true)
        }
        connections[envelope.to]?.send(envelope)
    }

    /// The bytes of `data`, console output from position `start` on, beyond position `shown`.
    private static func bytes(of data: Data, from start: UInt64, beyond shown: UInt64) -> [UInt8] {
        [UInt8](data.dropFirst(Int(min(UInt64(data.count), shown > start ? shown - start : 0))))
    }

    func showHeldConsoleOutput(_ bytes: Data) {
        let start = sequencer.consoleBytes
        let shown = Self.bytes(of: bytes, from: start, beyond: max(consoleShown, consoleShownAhead))
        consoleShownAhead = max(consoleShownAhead, start &+ UInt64(bytes.count))
        if !shown.isEmpty { sendConsole(shown) }
    }

    /// Console output leaves in batches: a guest writes one byte per MMIO store, and waking rrctl for
    /// each byte costs a host CPU that the cluster needs. A batch leaves after 5 ms or at 4 KiB.
    private func sendConsole(_ bytes: [UInt8]) {
        consoleBacklog += bytes
        if consoleBacklog.count >= 4096 {
            flushConsole()
        } else if !consoleFlushArmed {
            consoleFlushArmed = true
            consoleTimer.start(milliseconds: 5) { [unowned self] in self.flushConsole() }
        }
    }

    /// Sends what is pending to rrctl (kept until rrctl has joined).
    private func flushConsole() {
        consoleTimer.stop()
        consoleFlushArmed = false
        guard let control, !consoleBacklog.isEmpty else { return }
        var envelope = Rrvm_Envelope()
        envelope.body = .consoleOutput(.with { $0.data = Data(consoleBacklog) })
        consoleBacklog = []
        control.send(envelope)
    }

    func hostNanoseconds() -> UInt64 { EventLoop.monotonicNanoseconds() }

    func wakeAfter(nanoseconds: UInt64?) {
        idleTimer.stop()
        guard let nanoseconds else { return }
        let milliseconds = min(nanoseconds / 1_000_000, 3_600_000)
        idleTimer.start(milliseconds: milliseconds) { [unowned self] in self.sequencer.idleTimerFired() }
    }

    func finish(exitCode: Int32, reason: String) {
        guard !finished else { return }
        finished = true
        self.exitCode = exitCode
        // A run that ended from within (the guest's end, or the sequencer's own failure; one stopped from outside did
        // not) can end before a device has joined: it is waited for, to be told (`deviceJoined`), so that it ends as
        // the others do rather than being killed by rrctl.
        let endedFromWithin = sequencer.isFinished
        timeline?.runEnded(reason: reason)
        if !sequencer.isFinished {
            // Stopped from outside (a signal, rrctl): the sequencer's own ending writes the log's end.
            sequencer.stop(exitCode: exitCode, reason: reason)
        }
        recordJournal?.flush()
        flushConsole()
        let instructions = (0..<Int(config.harts)).reduce(UInt64(0)) { $0 + sequencer.executed(byHart: $1) }
        consoleCapture?.end(g: sequencer.g, instructions: instructions, exitCode: exitCode)
        var shutdown = Rrvm_Envelope()
        shutdown.g = sequencer.g
        shutdown.body = .shutdown(.with { $0.exitCode = exitCode; $0.reason = reason })
        shutdownMessage = shutdown
        control?.send(shutdown)
        for connection in connections.values { connection.send(shutdown) }
        debugger?.runEnded(exitCode: exitCode)
        if ProcessInfo.processInfo.environment["RRVM_STATS"] == "1" {
            let stats = sequencer.statistics
            report("rrvm-sequencer", "G=\(sequencer.reachedG), \(stats.slices) slices, \(stats.deviceOperations) device operations, \(stats.cachedReads) reads answered from cache "
                   + "(\(stats.answeredByHarts) by the harts), \(stats.outputByHarts) output bytes batched by the harts, \(stats.sentAhead) writes sent ahead, "
                   + "\(stats.foretold) writes foretold, "
                   + "\(stats.idlePeriods) idle periods: \(stats.idleHostNanoseconds / 1_000_000) ms of host time "
                   + "for \(stats.idleSkippedG) G skipped, \(stats.longSlices) long slices, \(stats.cuts) cuts, \(stats.postedChecks) checks sent by running harts, "
                   + "\(startedAt.map { (EventLoop.monotonicNanoseconds() &- $0) / 1000 } ?? 0) us from start to end")
            if let timeline, timeline.statistics.checkpoints > 0 {
                report("rrvm-sequencer", timeline.summary)
            }
        }
        // Let the shutdown messages (and the console's last bytes) leave, then close everything so the
        // loop ends: checked every millisecond, for at most a second.
        let outputTimer = LoopTimer(loop: loop)
        let deadline = EventLoop.monotonicNanoseconds() + 1_000_000_000
        outputTimer.start(milliseconds: 0, repeatMilliseconds: 1) { [unowned self] in
            // rrctl, which started this process, is waited for until it has joined and read the end (it would
            // otherwise see this process exit before the Shutdown, and could not say why the run ended).
            let pending = self.connections.values.contains { $0.hasPendingOutput } || self.control?.hasUnreadOutput == true
                || (self.supervisor != nil && !self.controlJoined && !self.supervisorIsGone)
                || (endedFromWithin && self.held.contains { $0 != nil } && !self.supervisorIsGone)
            if pending && EventLoop.monotonicNanoseconds() < deadline { return }
            outputTimer.close()
            // With rrctl attached, rrctl says why the run ended (one line); alone, the sequencer says it.
            if exitCode != 0 && self.control == nil { report("rrvm-sequencer", reason) }
            for connection in self.connections.values { connection.close(.peerClosed) }
            self.control?.close(.peerClosed)
            self.listener?.close()
            self.debugger?.close()
            self.idleTimer.close()
            self.flushTimer.close()
            self.consoleTimer.close()
            for watcher in self.signals { watcher.close() }
            self.loopStopped = true
            self.loop.stop()
        }
    }
}

/// The admitted harts' and devices' connections by endpoint, in an array (harts, then devices): looked up for every
/// message the sequencer sends, where a dictionary hashed the endpoint each time.
struct PeerTable {
    private var slots: [Connection?]
    private let hartCount: Int

    init(harts: Int, devices: Int) {
        slots = Array(repeating: nil, count: harts + devices)
        hartCount = harts
    }

    private func slot(_ endpoint: UInt32) -> Int? {
        if Endpoint.isHart(endpoint) {
            let hart = Endpoint.hartIndex(endpoint)
            return hart < hartCount ? hart : nil
        }
        guard Endpoint.isDevice(endpoint) else { return nil }
        let slot = hartCount + Endpoint.deviceIndex(endpoint)
        return slot < slots.count ? slot : nil
    }

    subscript(endpoint: UInt32) -> Connection? {
        get { slot(endpoint).flatMap { slots[$0] } }
        set {
            // Only endpoints the handshake checked against the machine's configuration are stored.
            guard let slot = slot(endpoint) else { preconditionFailure("endpoint \(endpoint) is not one of this machine's peers") }
            slots[slot] = newValue
        }
    }

    var count: Int { slots.lazy.filter { $0 != nil }.count }
    var values: [Connection] { slots.compactMap { $0 } }
}
