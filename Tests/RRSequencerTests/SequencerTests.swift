import Foundation
import RRProto
import RRSequencer
import RVPlatform
import XCTest

/// Drives the sequencer in memory: sent messages are collected, and the test answers for the harts
/// and devices. Host time only moves when the test says so.
final class FakeTransport: SequencerTransport {
    var sent: [Rrvm_Envelope] = []
    var now: UInt64 = 0
    var wake: UInt64?
    var finished: (code: Int32, reason: String)?
    /// The devices asked to wake (they owe answers to writes sent without waking them).
    var woken: [UInt32] = []
    /// Each slice's hart and the one expected after it (`sliceStarts`).
    var turns: [(hart: Int, next: Int?)] = []

    func send(_ envelope: Rrvm_Envelope) { sent.append(envelope) }
    func wake(_ endpoint: UInt32) { woken.append(endpoint) }
    func hostNanoseconds() -> UInt64 { now }
    func wakeAfter(nanoseconds: UInt64?) { wake = nanoseconds }
    func finish(exitCode: Int32, reason: String) { finished = (exitCode, reason) }
    func sliceStarts(hart: Int, next: Int?) { turns.append((hart, next)) }

    func take() -> [Rrvm_Envelope] {
        defer { sent = [] }
        return sent
    }
}

func machine(harts: Int, quantum: UInt64 = 1000, shift: UInt32 = 2) -> Rrvm_MachineConfig {
    var config = Rrvm_MachineConfig()
    config.harts = UInt32(harts)
    config.quantum = quantum
    config.icountShift = shift
    config.devices = [
        .with { $0.kind = .clint; $0.base = 0x200_0000; $0.size = 0x10000 },
        .with { $0.kind = .plic; $0.base = 0xc00_0000; $0.size = 0x60_0000 },
        .with { $0.kind = .uart; $0.base = 0x1000_0000; $0.size = 0x100; $0.irq = 10 },
    ]
    return config
}

func envelope(from: UInt32, g: UInt64 = 0, _ body: Rrvm_Envelope.OneOf_Body) -> Rrvm_Envelope {
    var envelope = Rrvm_Envelope()
    envelope.from = from
    envelope.g = g
    envelope.body = body
    return envelope
}

func yield(_ executed: UInt64, wfi: Bool = false, hash: UInt64 = 0) -> Rrvm_Envelope.OneOf_Body {
    .yield(.with { $0.executed = executed; $0.reason = wfi ? .stopWfi : .stopBudget; $0.stateHash = hash; $0.wakeMask = 1 << 7 })
}

/// A hart's part of a check, sent from inside its slice after `executed` instructions of it.
func hartCheck(_ executed: UInt64, hash: UInt64) -> Rrvm_Envelope.OneOf_Body {
    .hartCheck(.with { $0.executed = executed; $0.stateHash = hash })
}

/// What a hart does in a slice of `executed` instructions under `run`: the checks it reaches (Run.check_at, then
/// every check_interval; its hash there is `hash(point)`), then its yield.
func runSlice(_ sequencer: Sequencer, hart: UInt32, _ run: Rrvm_Run, executed: UInt64,
              hash: (UInt64) -> UInt64 = { $0 }) {
    var point = run.checkAt
    while run.checkInterval > 0 && point <= executed {
        sequencer.receive(envelope(from: hart, hartCheck(point, hash: hash(point))))
        point += run.checkInterval
    }
    sequencer.receive(envelope(from: hart, yield(executed, hash: hash(executed))))
}

final class SequencerTests: XCTestCase {
    func testHartsRunRoundRobinAndGCountsRetiredInstructions() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 3), transport: transport, journal: nil)
        sequencer.start()
        var order: [UInt32] = []
        for _ in 0..<6 {
            let sent = transport.take()
            XCTAssertEqual(sent.count, 1)
            guard case .run(let run)? = sent.first?.body else { return XCTFail("expected Run, got \(sent)") }
            XCTAssertEqual(run.budget, 1000)
            XCTAssertEqual(sent[0].g, sequencer.g)
            order.append(sent[0].to)
            sequencer.receive(envelope(from: sent[0].to, yield(run.budget - 10)))
        }
        XCTAssertEqual(order, [100, 101, 102, 100, 101, 102])
        XCTAssertEqual(sequencer.g, 6 * 990)
    }

    /// Before each Run the sequencer names the hart expected after it (the harts' turn board): the hart that then runs
    /// while nothing changes, the next ready one when another waits, nobody when the hart runs alone.
    func testEachSliceNamesTheHartThatRunsAfterIt() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 3), transport: transport, journal: nil)
        sequencer.start()
        var order: [Int] = []
        for executed: UInt64 in [900, 900, 900] {
            guard let run = transport.take().first else { return XCTFail("no Run") }
            order.append(Int(run.to) - 100)
            sequencer.receive(envelope(from: run.to, yield(executed)))
        }
        XCTAssertEqual(order, [0, 1, 2])
        XCTAssertEqual(transport.turns.map(\.hart), [0, 1, 2, 0])
        XCTAssertEqual(transport.turns.map(\.next), [1, 2, 0, 1], "each names the hart whose Run came next")
        // Hart 0 waits for an interrupt: hart 1's slice names hart 2, hart 2's names hart 1.
        XCTAssertEqual(transport.take().first?.to, 100)
        sequencer.receive(envelope(from: 100, yield(900, wfi: true)))
        for _ in 0..<2 {
            guard let run = transport.take().first else { return XCTFail("no Run") }
            sequencer.receive(envelope(from: run.to, yield(900, wfi: run.to == 102)))
        }
        XCTAssertEqual(transport.turns.suffix(3).map(\.hart), [1, 2, 1])
        XCTAssertEqual(transport.turns.suffix(3).map(\.next), [2, 1, nil], "then hart 2 waits too: hart 1 runs alone")
    }

    func testALoneHartMayRunToTheNextEventAndHostInputCutsItsSlice() {
        let transport = FakeTransport()
        var config = machine(harts: 2)
        config.schedule = .loneHartToEvent
        let sequencer = Sequencer(config: config, transport: transport, journal: nil)
        sequencer.start()
        // Both harts can run: quantum slices.
        guard case .run(let first)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(first.budget, 1000)
        XCTAssertEqual(first.sliceLimit, 0, "another hart could run")
        sequencer.receive(envelope(from: 100, yield(1000, wfi: true)))
        // Hart 1 alone, mtimecmp[0] unset: no event ahead.
        let sent = transport.take()
        guard case .run(let lone)? = sent.first?.body, sent.first?.to == 101 else { return XCTFail("\(sent)") }
        XCTAssertEqual(lone.budget, 1000)
        XCTAssertGreaterThan(lone.sliceLimit, 1 << 40, "no event: as long as it only computes")
        XCTAssertEqual(lone.checkAt, 0, "a plain run takes no checks")
        // Host input while it runs: a Cut, once.
        sequencer.receiveHostInput([65])
        sequencer.receiveHostInput([66])
        let cuts = transport.take()
        XCTAssertEqual(cuts.count, 1)
        XCTAssertEqual(cuts.first?.to, 101)
        guard case .cut? = cuts.first?.body else { return XCTFail("expected a Cut, got \(cuts)") }
        XCTAssertEqual(sequencer.statistics.cuts, 1)
        // The cut slice's yield: the input goes to the UART at that G.
        sequencer.receive(envelope(from: 101, yield(123_456)))
        let delivered = transport.take()
        guard case .hostInput(let input)? = delivered.first?.body else { return XCTFail("\(delivered)") }
        XCTAssertEqual(delivered.first?.g, 1000 + 123_456)
        XCTAssertEqual(input.console, Data([65, 66]))
    }

    /// A check ends no slice: the lone hart sends its state hash where the harts have retired each multiple of the
    /// interval and runs on; the sequencer takes each check there without a turn of the hart.
    func testALoneHartsSliceGoesOnThroughThePeriodicChecks() {
        var config = machine(harts: 1)
        config.schedule = .loneHartToEvent
        let (transport, journal, sequencer) = checkingSequencer(config, checkInterval: 50_000)
        guard case .run(let run)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertGreaterThan(run.sliceLimit, 1 << 40, "no slice end for a check")
        XCTAssertEqual(run.checkAt, 50_000)
        XCTAssertEqual(run.checkInterval, 50_000)
        for point in [50_000, 100_000, 150_000] as [UInt64] {
            sequencer.receive(envelope(from: 100, hartCheck(point, hash: point + 1)))
        }
        XCTAssertTrue(transport.take().isEmpty, "the hart runs on: nothing is sent to it")
        XCTAssertEqual(journal.checks.map(\.retired), [0, 50_000, 100_000, 150_000])
        XCTAssertEqual(journal.checks.map(\.g), [0, 50_000, 100_000, 150_000])
        XCTAssertEqual(journal.checks.dropFirst().map { $0.harts[0] }, [50_001, 100_001, 150_001])
        XCTAssertEqual(sequencer.statistics.postedChecks, 3)
        XCTAssertEqual(sequencer.statistics.slices, 1)
        // The slice ends between two checks: the next slice's first check is where the count reaches the next multiple.
        sequencer.receive(envelope(from: 100, yield(170_000)))
        guard case .run(let next)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(next.checkAt, 30_000)
        XCTAssertEqual(journal.checks.count, 4, "no check at the boundary")
    }

    /// A hart that sends its check elsewhere than where it is due, or ends its slice past one without sending it,
    /// ends the run with a reason (a hart bug, which would otherwise make a log that no replay can match).
    func testACheckElsewhereThanDueOrSkippedEndsTheRun() {
        for (messages, expected) in [
            ([hartCheck(40_000, hash: 1)], "hart 0 sent a check after 40000 instructions of its slice, where the next is due after 50000"),
            ([yield(60_000)], "hart 0 ended its slice after 60000 instructions without sending the check due after 50000"),
            ([hartCheck(50_000, hash: 1), yield(100_000)],
             "hart 0 ended its slice after 100000 instructions without sending the check due after 100000"),
        ] as [([Rrvm_Envelope.OneOf_Body], String)] {
            let (transport, _, sequencer) = checkingSequencer(machine(harts: 1), checkInterval: 50_000)
            for body in messages { sequencer.receive(envelope(from: 100, body)) }
            XCTAssertEqual(transport.finished?.code, 1)
            XCTAssertEqual(transport.finished?.reason, expected)
        }
    }

    /// A check sent from inside a slice is taken after everything the hart sent before it: every device's hash is
    /// the one its answer to the operations before the check gave, the other harts' from their last yield.
    func testACheckFromInsideASliceComesAfterTheOperationsSentBeforeIt() {
        let (transport, journal, sequencer) = checkingSequencer(machine(harts: 2), checkInterval: 1500)
        guard case .run(let first)? = transport.take().first?.body else { return XCTFail() }
        runSlice(sequencer, hart: 100, first, executed: 1000, hash: { _ in 10 })
        guard case .run(let second)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(second.checkAt, 500)
        // Hart 1 posts a byte to the UART, then reaches the check before the UART has answered.
        sequencer.receive(envelope(from: 101, .mmioRequest(.with {
            $0.address = 0x1000_0000; $0.size = 1; $0.write = true; $0.value = 65; $0.executed = 200; $0.posted = true
        })))
        XCTAssertEqual(transport.take().map(\.to), [202], "the write goes to the UART")
        sequencer.receive(envelope(from: 101, hartCheck(500, hash: 21)))
        XCTAssertEqual(journal.checks.count, 1, "the check waits for the write before it")
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.stateHash = 99 })))
        XCTAssertEqual(journal.checks.count, 2)
        XCTAssertEqual(journal.checks.last, .with {
            $0.g = 1500; $0.retired = 1500; $0.harts = [10, 21]; $0.devices = [0, 0, 99]
        })
    }

    func testRecordingDoesNotChangeWhereSlicesEnd() {
        func runs(journal: CollectingJournal?) -> [Rrvm_Run] {
            let transport = FakeTransport()
            var config = machine(harts: 1)
            config.schedule = .loneHartToEvent
            let sequencer = Sequencer(config: config, transport: transport, journal: journal)
            sequencer.start()
            var runs: [Rrvm_Run] = []
            for _ in 0..<3 {
                guard case .run(let run)? = transport.take().first?.body else { return runs }
                runs.append(run)
                runSlice(sequencer, hart: 100, run, executed: 2_500_007)
            }
            return runs
        }
        let journal = CollectingJournal()
        journal.checkInterval = defaultCheckInterval
        let recorded = runs(journal: journal)
        XCTAssertEqual(recorded.count, 3)
        XCTAssertEqual(journal.checks.count, 8, "at 0 and every 1,000,000 up to 7,500,021")
        let plain = runs(journal: nil)
        XCTAssertEqual(plain.map(\.budget), recorded.map(\.budget))
        XCTAssertEqual(plain.map(\.sliceLimit), recorded.map(\.sliceLimit))
    }

    func testALoneHartsSliceEndsAtTheNextTimerCompare() {
        let transport = FakeTransport()
        var config = machine(harts: 1)
        config.schedule = .loneHartToEvent
        let sequencer = Sequencer(config: config, transport: transport, journal: nil)
        sequencer.start()
        guard case .run? = transport.take().first?.body else { return XCTFail() }
        // The hart sets its own mtimecmp to 5000 (G 20000) through the CLINT, waiting for the answer.
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0x200_4000; $0.size = 8; $0.write = true; $0.value = 5000; $0.executed = 10
        })))
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.timerCompares = [.with { $0.hart = 0; $0.mtimecmp = 5000 }] })))
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(1000)))
        guard case .run(let run)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(run.budget, 1000)
        XCTAssertEqual(run.sliceLimit, 20000 - 1000, "up to the timer compare's G")
    }

    func testTimerCompareLandsExactlyOnItsG() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 2), transport: transport, journal: nil)
        sequencer.start()
        // Hart 0 writes mtimecmp[1] = 600 (G = 600 << 2 = 2400) through the CLINT.
        guard case .run? = transport.take().first?.body else { return XCTFail() }
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0x200_4008; $0.size = 8; $0.write = true; $0.value = 600; $0.executed = 5; $0.posted = true
        })))
        let access = transport.take()
        XCTAssertEqual(access.first?.to, 200, "the CLINT is device 0")
        XCTAssertEqual(access.first?.g, 5)
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.timerCompares = [.with { $0.hart = 1; $0.mtimecmp = 600 }] })))
        XCTAssertTrue(transport.take().isEmpty, "a posted write is not answered")
        sequencer.receive(envelope(from: 100, yield(1000)))
        // Hart 1 runs next: its budget must end exactly at G = 2400 - 1000 = 1400 instructions.
        var runs: [(UInt32, UInt64, UInt64)] = []
        while sequencer.g < 2400 + 2000 {
            let sent = transport.take()
            guard let first = sent.first, case .run(let run)? = first.body else { return XCTFail("\(sent)") }
            runs.append((first.to, first.g, run.interruptLines))
            sequencer.receive(envelope(from: first.to, yield(run.budget)))
        }
        let boundaries = runs.map(\.1)
        XCTAssertTrue(boundaries.contains(2400), "a slice boundary falls on the timer's G: \(boundaries)")
        for (hart, g, lines) in runs where hart == 101 {
            XCTAssertEqual(lines & (1 << 7) != 0, g >= 2400, "MTIP of hart 1 at G=\(g)")
        }
    }

    func testDeviceConsequencesGoBeforeLaterRequests() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 1), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        // A posted UART write, then a PLIC read, arrive before the UART has answered.
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0x1000_0001; $0.size = 1; $0.write = true; $0.value = 2; $0.executed = 1; $0.posted = true
        })))
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0xc20_0004; $0.size = 4; $0.executed = 2
        })))
        XCTAssertEqual(transport.take().map(\.to), [202], "one device operation at a time")
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.sourceLevels = [.with { $0.source = 10; $0.level = true }] })))
        let next = transport.take()
        XCTAssertEqual(next.map(\.to), [201])
        guard case .sourceLevel? = next.first?.body else { return XCTFail("the UART's interrupt reaches the PLIC first: \(next)") }
        sequencer.receive(envelope(from: 201, .deviceDone(.with { $0.hartLines = [.with { $0.hart = 0; $0.mipBit = 11; $0.level = true }] })))
        let read = transport.take()
        guard case .deviceAccess(let access)? = read.first?.body else { return XCTFail("\(read)") }
        XCTAssertEqual(access.offset, 0x20_0004)
        sequencer.receive(envelope(from: 201, .deviceDone(.with { $0.value = 10 })))
        let reply = transport.take()
        guard case .mmioReply(let answer)? = reply.first?.body else { return XCTFail("\(reply)") }
        XCTAssertEqual(answer.value, 10)
        sequencer.receive(envelope(from: 100, yield(100)))
        guard case .run(let run)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(run.interruptLines, 1 << 11, "MEIP delivered at the next slice")
    }

    func testIdleSkipsToTheNextDeadlineAtOnceInReplayAndByHostTimeLive() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 1), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0x200_4000; $0.size = 8; $0.write = true; $0.value = 1_000; $0.executed = 0; $0.posted = true
        })))
        _ = transport.take()
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.timerCompares = [.with { $0.hart = 0; $0.mtimecmp = 1_000 }] })))
        sequencer.receive(envelope(from: 100, yield(10, wfi: true)))
        XCTAssertTrue(transport.take().isEmpty, "every hart waits: nothing runs")
        XCTAssertEqual(transport.wake, ((4_000 - 10) >> 2) * 100, "sleeps the host time until mtime 1000 (10 MHz)")
        transport.now = 1
        sequencer.idleTimerFired()
        XCTAssertEqual(sequencer.g, 4_000)
        guard case .run(let run)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(run.interruptLines, 1 << 7)
    }

    func testHostInputDuringIdleIsStampedAtTheElapsedHostTime() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 1), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(40, wfi: true)))
        XCTAssertNil(transport.wake, "no deadline: only input wakes it")
        transport.now = 1_000_000  // 1 ms = 10,000 ticks = 40,000 instructions at shift 2
        sequencer.receiveHostInput(Array("a".utf8))
        let sent = transport.take()
        XCTAssertEqual(sent.first?.to, 202)
        XCTAssertEqual(sent.first?.g, 40 + 40_000)
        guard case .hostInput(let input)? = sent.first?.body else { return XCTFail("\(sent)") }
        XCTAssertEqual(input.console, Data("a".utf8))
    }

    func testAPasteWaitsOnTheHostWhileTheUARTIsFullAndArrivesWholeInWindowSizedPieces() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 1), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        // Every hart waits for an external interrupt: input ends the idle period.
        sequencer.receive(envelope(from: 100, .yield(.with { $0.executed = 40; $0.reason = .stopWfi; $0.wakeMask = 1 << 11 })))
        let paste = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        var typed = 0, delivered: [UInt8] = [], flow: [Bool] = [], slices = 0
        var backlog: UInt32 = 16  // what the UART says it holds after each delivery
        var readsDue = 0  // the hart's next slice reads the UART's RBR, which empties it
        /// Plays the UART (its answer raises the hart's interrupt line) and the hart (a slice computes, or reads the
        /// UART first), and notes the flow messages to rrctl.
        func answer() {
            for sent in transport.take() {
                switch sent.body {
                case .inputFlow(let message)?:
                    flow.append(message.hold)
                case .hostInput(let input)?:
                    XCTAssertEqual(sent.to, 202)
                    XCTAssertLessThanOrEqual(input.console.count, 16, "no delivery is larger than the window")
                    delivered += input.console
                    sequencer.receive(envelope(from: 202, g: sent.g, .deviceDone(.with {
                        $0.inputBacklog = backlog
                        $0.hartLines = [.with { $0.hart = 0; $0.mipBit = 11; $0.level = true }]
                    })))
                case .run where readsDue > 0:
                    readsDue -= 1
                    sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0x1000_0000; $0.size = 1; $0.executed = 10 })))
                case .deviceAccess?:
                    sequencer.receive(envelope(from: 202, g: sent.g, .deviceDone(.with { $0.value = 65; $0.inputBacklog = 0 })))
                case .mmioReply?:
                    slices += 1
                    sequencer.receive(envelope(from: 100, yield(100)))
                case .run(let run)?:
                    slices += 1
                    sequencer.receive(envelope(from: 100, yield(run.budget)))
                default:
                    break
                }
            }
        }
        func type() {
            let piece = Array(paste[typed..<min(typed + 65_536, paste.count)])
            typed += piece.count
            sequencer.receiveHostInput(piece)  // rrctl reads 64 KiB at a time
        }
        type()
        XCTAssertEqual(flow, [], "under 64 KiB waiting")
        for _ in 0..<5 { answer() }
        type()
        for _ in 0..<5 { answer() }
        XCTAssertGreaterThan(slices, 5, "the hart runs")
        XCTAssertEqual(delivered.count, 16, "the guest read nothing: the UART got one window and no more")
        XCTAssertEqual(flow, [true], "rrctl is told to hold once 64 KiB wait")
        // The guest reads what the UART holds, and then keeps up: each boundary gives the next window.
        readsDue = 1
        backlog = 0
        var rounds = 0
        while delivered.count < paste.count && rounds < 20_000 {
            rounds += 1
            if flow.last == false && typed < paste.count { type() }
            answer()
        }
        XCTAssertNil(transport.finished)
        XCTAssertTrue(delivered == paste, "every byte in order: \(delivered.count) of \(paste.count) delivered")
        XCTAssertEqual(flow, [true, false], "and to go on once under half")
    }

    func testFinisherExitEndsTheRunWithTheGuestsStatus() {
        var config = machine(harts: 1)
        config.devices.append(.with { $0.kind = .finisher; $0.base = 0x10_0000; $0.size = 0x1000 })
        let (transport, sequencer) = startedSequencer(config)
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0x10_0000; $0.size = 4; $0.write = true; $0.value = 0x2A3333; $0.executed = 7; $0.posted = true
        })))
        _ = transport.take()
        sequencer.receive(envelope(from: 203, .deviceDone(.with { $0.exit = true; $0.exitCode = 42 })))
        XCTAssertEqual(transport.finished?.code, 42)
        XCTAssertTrue(sequencer.isFinished)
    }

    func testStableReadsAreAnsweredByTheSequencerOnlyWhileTheDeviceSaidSo() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 1), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        func read(_ offset: UInt64, size: UInt32 = 1) {
            sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0x1000_0000 + offset; $0.size = size })))
        }
        // Nothing declared yet: the read goes to the UART, whose answer declares LSR stable.
        read(5)
        XCTAssertEqual(transport.take().map(\.to), [202])
        sequencer.receive(envelope(from: 202, .deviceDone(.with {
            $0.value = 0x60
            $0.stableReads = [.with { $0.offset = 5; $0.size = 1; $0.value = 0x60 }]
        })))
        _ = transport.take()
        read(5)
        let cached = transport.take()
        XCTAssertEqual(cached.map(\.to), [100], "answered without asking the UART")
        XCTAssertEqual(cached.first?.mmioReply.value, 0x60)
        read(5, size: 4)
        XCTAssertEqual(transport.take().map(\.to), [202], "another size is not covered")
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.value = 0x61 })))
        _ = transport.take()
        read(5)
        XCTAssertEqual(transport.take().map(\.to), [202], "the UART's last answer declared nothing stable")
        XCTAssertEqual(sequencer.statistics.cachedReads, 1)
    }

    func testWritesSentAheadAreLoggedAsIfSentOneByOne() {
        // The same guest accesses, once with every answer arriving before the next access (one by one),
        // once with the hart posting all its writes before the UART has answered any (sent ahead).
        func run(answerAtOnce: Bool) -> (log: [Rrvm_Envelope], sentBeforeFirstAnswer: Int) {
            let (transport, journal, sequencer) = startedSequencer(harts: 1)
            var pendingAnswers: [Rrvm_Envelope] = []
            var sentBeforeFirstAnswer = 0
            func answer() {
                let operation = pendingAnswers.removeFirst()
                sequencer.receive(envelope(from: operation.to, .deviceDone(answerWhereTheUARTLineFollowsTheByte(operation))))
            }
            func collect() {
                for sent in transport.take() where Endpoint.isDevice(sent.to) { pendingAnswers.append(sent) }
            }
            for (index, byte) in [UInt8(0x41), 0x42, 0x43].enumerated() {
                sequencer.receive(envelope(from: 100, .mmioRequest(.with {
                    $0.address = 0x1000_0000; $0.size = 1; $0.write = true; $0.value = UInt64(byte)
                    $0.executed = UInt64(index + 1); $0.posted = true
                })))
                collect()
                if answerAtOnce { while !pendingAnswers.isEmpty { answer(); collect() } }
            }
            sentBeforeFirstAnswer = pendingAnswers.count
            while !pendingAnswers.isEmpty { answer(); collect() }
            sequencer.receive(envelope(from: 100, yield(10)))
            return (journal.events.map { var event = $0; event.seq = 0; return event }, sentBeforeFirstAnswer)
        }
        let oneByOne = run(answerAtOnce: true)
        let ahead = run(answerAtOnce: false)
        XCTAssertEqual(ahead.sentBeforeFirstAnswer, 3, "all three writes went to the UART at once")
        XCTAssertEqual(ahead.log, oneByOne.log)
        XCTAssertEqual(oneByOne.log.filter { $0.body.map { if case .sourceLevel = $0 { true } else { false } } ?? false }.count, 3,
                       "each write's interrupt change reaches the PLIC before the next write is logged")
    }

    /// A burst longer than the window of writes sent ahead (64 queued behind the one under way): each write goes to
    /// the UART exactly once and in order, at most the window ahead of its turn, and the log is as if they had gone
    /// one by one.
    func testALongBurstOfPostedWritesGoesAheadAWindowAtATimeEachOnce() {
        func run(answerAtOnce: Bool) -> (log: [Rrvm_Envelope], sentToTheUART: [UInt64], mostAtOnce: Int) {
            let (transport, journal, sequencer) = startedSequencer(harts: 1)
            var pendingAnswers: [Rrvm_Envelope] = []
            var sentToTheUART: [UInt64] = []
            var mostAtOnce = 0
            func collect() {
                for sent in transport.take() where Endpoint.isDevice(sent.to) {
                    pendingAnswers.append(sent)
                    if sent.to == 202 { sentToTheUART.append(sent.deviceAccess.value) }
                }
                mostAtOnce = max(mostAtOnce, pendingAnswers.filter { $0.to == 202 }.count)
            }
            func answer() {
                let operation = pendingAnswers.removeFirst()
                sequencer.receive(envelope(from: operation.to, .deviceDone(answerWhereTheUARTLineFollowsTheByte(operation))))
            }
            for index in 0..<200 {
                sequencer.receive(envelope(from: 100, .mmioRequest(.with {
                    $0.address = 0x1000_0000; $0.size = 1; $0.write = true; $0.value = UInt64(index)
                    $0.executed = UInt64(index + 1); $0.posted = true
                })))
                collect()
                if answerAtOnce { while !pendingAnswers.isEmpty { answer(); collect() } }
            }
            while !pendingAnswers.isEmpty { answer(); collect() }
            sequencer.receive(envelope(from: 100, yield(300)))
            return (journal.events.map { var event = $0; event.seq = 0; return event }, sentToTheUART, mostAtOnce)
        }
        let oneByOne = run(answerAtOnce: true)
        let ahead = run(answerAtOnce: false)
        XCTAssertEqual(ahead.sentToTheUART, (0..<200).map(UInt64.init), "each write once, in order")
        XCTAssertEqual(ahead.mostAtOnce, 65, "the one under way and the 64 behind it")
        XCTAssertEqual(oneByOne.mostAtOnce, 1)
        XCTAssertEqual(ahead.log, oneByOne.log)
    }

    /// Posted writes to the PLIC (Linux's priority writes) go ahead of their turn too, but never ahead of an interrupt
    /// change another device's answer queued for the PLIC: the PLIC gets every operation in the logged order.
    func testWritesSentAheadToThePLICStayBehindInterruptChanges() {
        func run(answerAtOnce: Bool) -> (log: [Rrvm_Envelope], plicOrder: [String], mostAtOnce: Int) {
            let (transport, journal, sequencer) = startedSequencer(harts: 1)
            var pendingAnswers: [Rrvm_Envelope] = []
            var plicOrder: [String] = []
            func answer() {
                let operation = pendingAnswers.removeFirst()
                sequencer.receive(envelope(from: operation.to, .deviceDone(answerWhereTheUARTLineFollowsTheByte(operation))))
            }
            func collect() {
                for sent in transport.take() where Endpoint.isDevice(sent.to) {
                    pendingAnswers.append(sent)
                    if sent.to == 201 {
                        plicOrder.append(sent.sourceLevel.source != 0 ? "level \(sent.sourceLevel.level)" : "write \(sent.deviceAccess.offset)")
                    }
                }
            }
            let writes: [(address: UInt64, value: UInt64)] = [(0x1000_0000, 0x41), (0xc00_0004, 1), (0xc00_0008, 1),
                                                               (0xc00_000c, 1), (0x1000_0000, 0x42), (0xc00_0010, 1)]
            for (index, write) in writes.enumerated() {
                sequencer.receive(envelope(from: 100, .mmioRequest(.with {
                    $0.address = write.address; $0.size = write.address >= 0x1000_0000 ? 1 : 4; $0.write = true
                    $0.value = write.value; $0.executed = UInt64(index + 1); $0.posted = true
                })))
                collect()
                if answerAtOnce { while !pendingAnswers.isEmpty { answer(); collect() } }
            }
            var mostAtOnce = pendingAnswers.count
            while !pendingAnswers.isEmpty { answer(); collect(); mostAtOnce = max(mostAtOnce, pendingAnswers.count) }
            sequencer.receive(envelope(from: 100, yield(10)))
            return (journal.events.map { var event = $0; event.seq = 0; return event }, plicOrder, mostAtOnce)
        }
        let oneByOne = run(answerAtOnce: true)
        let ahead = run(answerAtOnce: false)
        XCTAssertEqual(ahead.log, oneByOne.log)
        XCTAssertEqual(oneByOne.plicOrder, ["level true", "write 4", "write 8", "write 12", "level false", "write 16"])
        XCTAssertEqual(ahead.plicOrder, oneByOne.plicOrder)
        XCTAssertEqual(ahead.mostAtOnce, 4, "the interrupt change, then the three writes behind it, at once")
    }

    func testASpinHintEndsTheSliceOnlyWhileAnotherHartCanRun() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 2), transport: transport, journal: nil)
        sequencer.start()
        guard case .run(let first)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertTrue(first.spinHintsYield, "hart 1 is ready")
        // Hart 0 spins on a hint: hart 1 runs next, and hart 0 stays ready (it is not waiting for anything).
        sequencer.receive(envelope(from: 100, .yield(.with { $0.executed = 7; $0.reason = .stopSpinHint })))
        let second = transport.take()
        XCTAssertEqual(second.first?.to, 101)
        XCTAssertEqual(sequencer.state(ofHart: 0), .ready)
        // Hart 1 waits: hart 0 is alone, and its hints no longer end its slices.
        sequencer.receive(envelope(from: 101, yield(5, wfi: true)))
        guard case .run(let alone)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertFalse(alone.spinHintsYield)
    }

    /// A Run carries the declarations its hart does not hold: every device's in its first (an empty one where a device
    /// declares nothing), then those that changed since it got them, and those of devices it has accessed since
    /// (other than by reads it answered).
    func testARunCarriesOnlyTheDeclarationsItsHartDoesNotHold() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 2), transport: transport, journal: nil)
        sequencer.start()
        func nextRun(of hart: UInt32) -> [Rrvm_DeviceStableReads]? {
            guard case .run(let run)? = transport.take().first(where: { $0.to == hart })?.body else { return nil }
            return run.stableReads
        }
        XCTAssertEqual(nextRun(of: 100), [0, 1, 2].map { device in .with { $0.device = device } })
        let lineStatus: Rrvm_StableRead = .with { $0.offset = 5; $0.size = 1; $0.value = 0x60; $0.keptByWritesTo = [0, 7] }
        // Hart 0 reads IIR: the UART's answer declares LSR, and the reply brings it to hart 0.
        sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0x1000_0002; $0.size = 1 })))
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.value = 1; $0.stableReads = [lineStatus] })))
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(10)))
        let uart: [Rrvm_DeviceStableReads] = [.with { $0.device = 2; $0.reads = [lineStatus] }]
        XCTAssertEqual(nextRun(of: 101), [.with { $0.device = 0 }, .with { $0.device = 1 }] + uart)
        sequencer.receive(envelope(from: 101, yield(10)))
        XCTAssertEqual(nextRun(of: 100), [], "hart 0 holds the UART's declaration from its reply")
        // Hart 0 writes THR (posted): the UART declares the same again, yet hart 0 gets it in its next Run.
        sequencer.receive(envelope(from: 100, g: 20, .mmioRequest(.with {
            $0.address = 0x1000_0000; $0.size = 1; $0.write = true; $0.value = 0x41; $0.executed = 1; $0.posted = true
        })))
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.stableReads = [lineStatus] })))
        sequencer.receive(envelope(from: 100, yield(10)))
        XCTAssertEqual(nextRun(of: 101), [], "unchanged")
        sequencer.receive(envelope(from: 101, yield(10)))
        XCTAssertEqual(nextRun(of: 100), uart, "hart 0 accessed the UART")
        // A changed declaration reaches every hart; one that ends reaches them as an empty one.
        sequencer.receive(envelope(from: 100, g: 40, .mmioRequest(.with {
            $0.address = 0x1000_0001; $0.size = 1; $0.write = true; $0.value = 1; $0.executed = 1; $0.posted = true
        })))
        sequencer.receive(envelope(from: 202, .deviceDone(.with { _ in })))
        sequencer.receive(envelope(from: 100, yield(10)))
        XCTAssertEqual(nextRun(of: 101), [.with { $0.device = 2 }])
    }

    func testHartsGetTheDeclarationsAndTheReadsTheyAnswerAreLoggedAndChecked() {
        let (transport, journal, sequencer) = startedSequencer(harts: 1)
        let lineStatus: Rrvm_StableRead = .with { $0.offset = 5; $0.size = 1; $0.value = 0x60; $0.keptByWritesTo = [0, 7] }
        // A read of the IIR: the UART's answer declares LSR stable, and the reply hands that on to the hart.
        sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0x1000_0002; $0.size = 1 })))
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.value = 1; $0.stableReads = [lineStatus] })))
        XCTAssertEqual(transport.take().first { $0.to == 100 }?.mmioReply.stableReads, [lineStatus])
        // The next slice's Run carries no declaration: the hart holds the one the reply brought.
        sequencer.receive(envelope(from: 100, yield(10)))
        guard case .run(let run)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertEqual(run.stableReads, [])

        // The hart writes a byte and answers its LSR read itself: nothing goes back to it, and the read
        // is logged after the write, as if the sequencer had answered it.
        sequencer.receive(envelope(from: 100, g: 10, .mmioRequest(.with {
            $0.address = 0x1000_0000; $0.size = 1; $0.write = true; $0.value = 0x41; $0.executed = 1; $0.posted = true
        })))
        sequencer.receive(envelope(from: 100, g: 10, .mmioRequest(.with {
            $0.address = 0x1000_0005; $0.size = 1; $0.value = 0x60; $0.executed = 2; $0.posted = true; $0.answered = true
        })))
        XCTAssertFalse(transport.take().contains { $0.to == 100 })
        sequencer.receive(envelope(from: 202, .deviceDone(.with { $0.stableReads = [lineStatus] })))
        let kinds = journal.events.suffix(3).map { "\($0.kindName) \($0.deviceAccess.offset)\($0.deviceAccess.cached ? " cached" : "")" }
        XCTAssertEqual(kinds, ["device_access 0", "device_done 0", "device_access 5 cached"])
        XCTAssertEqual(sequencer.statistics.answeredByHarts, 1)

        // A hart's answer that the device's declaration does not back stops the run, naming both.
        sequencer.receive(envelope(from: 100, g: 10, .mmioRequest(.with {
            $0.address = 0x1000_0005; $0.size = 1; $0.value = 0x61; $0.executed = 3; $0.posted = true; $0.answered = true
        })))
        XCTAssertEqual(transport.finished?.code, 1)
        XCTAssertTrue(transport.finished?.reason.contains("hart 0 read 97 at offset 5 of device 2") ?? false,
                      transport.finished?.reason ?? "not finished")
    }

    func testASliceEndsSoonAfterItsHartSendsAnIPI() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 2), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        func writeMSIP(of target: UInt32, line: Rrvm_HartLine) -> Rrvm_MmioReply? {
            sequencer.receive(envelope(from: 100, .mmioRequest(.with {
                $0.address = 0x200_0000 + UInt64(target) * 4; $0.size = 4; $0.write = true; $0.value = 1
            })))
            _ = transport.take()
            sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.hartLines = [line] })))
            return transport.take().first { $0.to == 100 }?.mmioReply
        }
        let toOther = writeMSIP(of: 1, line: .with { $0.hart = 1; $0.mipBit = 3; $0.level = true })
        XCTAssertEqual(toOther?.sliceLeft, 1000, "hart 1 should get to answer soon")
        let toSelf = writeMSIP(of: 0, line: .with { $0.hart = 0; $0.mipBit = 3; $0.level = true })
        XCTAssertEqual(toSelf?.sliceLeft, 0, "an IPI to itself needs no other hart")
    }

    /// A write a hart posted as setting a declared register (an IPI) raises the target's line at its turn; a device
    /// whose answer does not declare the value written stops the run, naming the write.
    func testPostedWritesToRegistersSetByWritesAreCheckedAgainstTheDevicesAnswer() {
        var config = machine(harts: 2)
        config.devices[0].writesWait = true
        let (transport, sequencer) = startedSequencer(config)
        func msip(_ hart: UInt32, _ value: UInt64) -> Rrvm_StableRead {
            .with { $0.offset = UInt64(hart) * 4; $0.size = 4; $0.value = value; $0.setByWriteMask = 1; $0.lineMipBit = 3; $0.lineHart = hart }
        }
        // The sequencer holds no declaration yet: the write goes to the device, whose answer brings it.
        sequencer.receive(envelope(from: 100, .mmioRequest(.with {
            $0.address = 0x200_0000 + 4; $0.size = 4; $0.write = true; $0.value = 1; $0.executed = 5; $0.posted = true
        })))
        sequencer.receive(envelope(from: 200, .deviceDone(.with {
            $0.hartLines = [.with { $0.hart = 1; $0.mipBit = 3; $0.level = true }]
            $0.stableReads = [msip(0, 0), msip(1, 1)]
        })))
        XCTAssertFalse(transport.take().contains { $0.to == 100 }, "nothing goes back to the hart that posted")
        XCTAssertNil(transport.finished)
        sequencer.receive(envelope(from: 100, yield(10)))
        guard case .run(let run)? = transport.take().first(where: { $0.to == 101 })?.body else { return XCTFail("hart 1 runs") }
        XCTAssertEqual(run.interruptLines & InterruptNumber.mask(InterruptNumber.machineSoftware), 8, "hart 1's MSIP is up")
        sequencer.receive(envelope(from: 101, .mmioRequest(.with {
            $0.address = 0x200_0000; $0.size = 4; $0.write = true; $0.value = 1; $0.executed = 2; $0.posted = true
        })))
        // Foretold now (the declaration is known), and kept: hart 1's read of mtime sends it, and the device answers
        // otherwise than foretold.
        sequencer.receive(envelope(from: 101, .mmioRequest(.with { $0.address = 0x200_bff8; $0.size = 8; $0.executed = 3 })))
        XCTAssertNil(transport.finished)
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.stableReads = [msip(0, 0), msip(1, 1)] })))
        XCTAssertEqual(transport.finished?.code, 1)
        XCTAssertTrue(transport.finished?.reason.contains("hart 1 posted a write of 1 to offset 0 of device 0 (clint)") ?? false,
                      transport.finished?.reason ?? "not finished")
    }

    /// A write a hart posts to a register whose declaration names the line it drives (the CLINT's msip and mtimecmp)
    /// is foretold: applied at its turn, kept for the device, and the next hart runs at once with the line and the
    /// declaration the answer will bring. The next other operation for that device first sends it the writes kept
    /// (the last to each register, without waking it) and waits until it has answered them (without its declaration,
    /// as foretold); the log holds every write, and none of their answers.
    func testWritesTheirDeclarationForetellsDoNotWaitForTheDevice() {
        let transport = FakeTransport()
        let journal = CollectingJournal()
        let sequencer = Sequencer(config: machine(harts: 2), transport: transport, journal: journal)
        sequencer.start()
        _ = transport.take()
        learnCLINTDeclaration(sequencer, transport, clintDeclaration(msip: [0, 0], mtimecmp: [.max, .max]))
        postToCLINT(sequencer, from: 100, offset: 4, size: 4, value: 1, executed: 2)          // an IPI to hart 1
        postToCLINT(sequencer, from: 100, offset: 0x4000, size: 8, value: 50, executed: 3)   // hart 0's next timer
        postToCLINT(sequencer, from: 100, offset: 0x4000, size: 8, value: 100, executed: 4)  // and again
        XCTAssertTrue(transport.take().isEmpty, "kept until the device is needed")
        XCTAssertEqual(sequencer.statistics.foretold, 3)
        sequencer.receive(envelope(from: 100, yield(10)))
        guard case .run(let run)? = transport.take().first(where: { $0.to == 101 })?.body else { return XCTFail("hart 1 runs at once") }
        let msipMask = InterruptNumber.mask(InterruptNumber.machineSoftware)
        XCTAssertEqual(run.interruptLines & msipMask, msipMask, "hart 1's MSIP is up")
        XCTAssertEqual(run.stableReads.first { $0.device == 0 }?.reads, clintDeclaration(msip: [0, 1], mtimecmp: [100, .max]))
        XCTAssertEqual(run.budget, 100 << 2 - 10, "the slice ends at hart 0's new timer compare")

        // Hart 1 reads mtime: the CLINT must see that read after the foretold writes, so it waits for their answers.
        sequencer.receive(envelope(from: 101, .mmioRequest(.with { $0.address = 0x200_bff8; $0.size = 8; $0.executed = 1 })))
        let writes = transport.take()
        XCTAssertEqual(writes.map(\.to), [200, 200])
        XCTAssertEqual(writes.map(\.deviceAccess.foretold), [true, true])
        XCTAssertEqual(writes.map(\.deviceAccess.value), [1, 100], "the last write to each register, in turn order")
        XCTAssertEqual(transport.woken, [200])
        sequencer.receive(envelope(from: 200, .deviceDone(.with {
            $0.hartLines = [.with { $0.hart = 1; $0.mipBit = 3; $0.level = true }]
        })))
        XCTAssertTrue(transport.take().isEmpty, "one answer is still owed")
        sequencer.receive(envelope(from: 200, .deviceDone(.with {
            $0.timerCompares = [.with { $0.hart = 0; $0.mtimecmp = 100 }]
        })))
        XCTAssertEqual(transport.take().map(\.deviceAccess.offset), [0xbff8])
        XCTAssertNil(transport.finished)
        XCTAssertEqual(journal.events.map(\.kindName).filter { $0.hasPrefix("device") },
                       ["device_access", "device_done", "device_access", "device_access", "device_access", "device_access"],
                       "the foretold writes are logged, their answers are not")
    }

    /// A check holds every device's state hash: where one is due, the sequencer first takes the answers still owed
    /// for foretold writes (the last one's hash is the check's).
    func testACheckWaitsForTheAnswersOfForetoldWrites() {
        let (transport, journal, sequencer) = checkingSequencer(machine(harts: 2), checkInterval: 5)
        _ = transport.take()
        learnCLINTDeclaration(sequencer, transport, clintDeclaration(msip: [0, 0], mtimecmp: [.max, .max]))
        postToCLINT(sequencer, from: 100, offset: 4, size: 4, value: 1, executed: 2)
        XCTAssertTrue(transport.take().isEmpty, "the write is kept until the device is needed")
        sequencer.receive(envelope(from: 100, hartCheck(5, hash: 3)))
        sequencer.receive(envelope(from: 100, yield(7)))
        XCTAssertEqual(transport.take().map(\.deviceAccess.foretold), [true], "no slice before the check: the write goes")
        XCTAssertEqual(transport.woken, [200])
        XCTAssertEqual(journal.checks.count, 1)
        sequencer.receive(envelope(from: 200, .deviceDone(.with {
            $0.hartLines = [.with { $0.hart = 1; $0.mipBit = 3; $0.level = true }]
            $0.stateHash = 7
        })))
        XCTAssertEqual(journal.checks.last?.g, 5)
        XCTAssertEqual(journal.checks.last?.devices.first, 7)
        XCTAssertEqual(transport.take().first?.to, 101, "then hart 1 runs")
    }

    /// A device answers the foretold writes its runner found as foretold together (DeviceDone.foretold_answers): the
    /// sequencer takes that many, the state hash the last's. An answer for more than the device owes, or one holding
    /// anything else, stops the run with a clear error.
    func testForetoldWritesAnsweredTogether() {
        func owingSequencer() -> (FakeTransport, CollectingJournal, Sequencer) {
            let (transport, journal, sequencer) = checkingSequencer(machine(harts: 2), checkInterval: 5)
            _ = transport.take()
            learnCLINTDeclaration(sequencer, transport, clintDeclaration(msip: [0, 0], mtimecmp: [.max, .max]))
            postToCLINT(sequencer, from: 100, offset: 4, size: 4, value: 1, executed: 2)
            postToCLINT(sequencer, from: 100, offset: 0x4000, size: 8, value: 100, executed: 3)
            _ = transport.take()
            sequencer.receive(envelope(from: 100, hartCheck(5, hash: 3)))
            sequencer.receive(envelope(from: 100, yield(7)))
            XCTAssertEqual(transport.take().map(\.to), [200, 200], "the check waits for the answers to the writes sent")
            return (transport, journal, sequencer)
        }
        let (transport, journal, sequencer) = owingSequencer()
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.foretoldAnswers = 1; $0.stateHash = 6 })))
        XCTAssertTrue(transport.take().isEmpty, "one answer is still owed")
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.foretoldAnswers = 1; $0.stateHash = 7 })))
        XCTAssertEqual(journal.checks.last?.devices.first, 7)
        XCTAssertEqual(transport.take().first?.to, 101, "then hart 1 runs")
        XCTAssertNil(transport.finished)

        let (_, together, inOne) = owingSequencer()
        inOne.receive(envelope(from: 200, .deviceDone(.with { $0.foretoldAnswers = 2; $0.stateHash = 9 })))
        XCTAssertEqual(together.checks.last?.devices.first, 9)

        let (tooMany, _, overanswered) = owingSequencer()
        overanswered.receive(envelope(from: 200, .deviceDone(.with { $0.foretoldAnswers = 3 })))
        XCTAssertEqual(tooMany.finished?.code, 1)
        XCTAssertTrue(tooMany.finished?.reason.contains("answered 3 foretold writes when it owed 2") ?? false,
                      tooMany.finished?.reason ?? "not finished")

        let (holdingMore, _, answeredWithALine) = owingSequencer()
        answeredWithALine.receive(envelope(from: 200, .deviceDone(.with {
            $0.foretoldAnswers = 2; $0.hartLines = [.with { $0.hart = 1; $0.mipBit = 3; $0.level = true }]
        })))
        XCTAssertEqual(holdingMore.finished?.code, 1)
        XCTAssertTrue(holdingMore.finished?.reason.contains("hart_lines") ?? false, holdingMore.finished?.reason ?? "not finished")
    }

    /// A foretold write to one register of a declared array (every hart's msip in one entry) sets that register, and
    /// a hart that got the declaration before it gets that register's new value with its next Run.
    func testAForetoldWriteToARegisterOfAnArrayReachesTheHartsThatHeldTheDeclarationBefore() {
        let (transport, _, sequencer) = startedSequencer(harts: 2)
        let before: [Rrvm_StableRead] = [.with {
            $0.offset = 0; $0.size = 4; $0.value = 0; $0.moreValues = [0]; $0.stride = 4; $0.setByWriteMask = 1
            $0.lineMipBit = InterruptNumber.machineSoftware; $0.lineHart = 0
        }]
        learnCLINTDeclaration(sequencer, transport, before)
        sequencer.receive(envelope(from: 100, yield(10)))
        guard case .run(let first)? = transport.take().first(where: { $0.to == 101 })?.body else { return XCTFail("hart 1 runs") }
        XCTAssertEqual(first.stableReads.first { $0.device == 0 }?.reads, before)
        sequencer.receive(envelope(from: 101, yield(10)))
        XCTAssertEqual(transport.take().first?.to, 100, "then hart 0 runs")
        postToCLINT(sequencer, from: 100, offset: 4, size: 4, value: 1, executed: 2)  // hart 1's msip: register 1
        XCTAssertTrue(transport.take().isEmpty, "foretold, kept until the device is needed")
        XCTAssertEqual(sequencer.statistics.foretold, 1)
        sequencer.receive(envelope(from: 100, yield(10)))
        guard case .run(let second)? = transport.take().first(where: { $0.to == 101 })?.body else { return XCTFail("hart 1 runs") }
        XCTAssertTrue(second.stableReads.isEmpty)
        XCTAssertEqual(second.declaredValues, [.with { $0.device = 0; $0.entry = 0; $0.index = 1; $0.value = 1 }])
        let msipMask = InterruptNumber.mask(InterruptNumber.machineSoftware)
        XCTAssertEqual(second.interruptLines & msipMask, msipMask, "hart 1's MSIP is up")
    }

    /// A hart that holds a device's declaration gets only the registers foretold writes set since (each once, at its
    /// newest value; its own writes among them), and the whole declaration once the device's answer replaced it.
    func testAHartGetsTheRegistersSetSinceTheDeclarationItHolds() {
        let (transport, _, sequencer) = startedSequencer(harts: 2)
        learnCLINTDeclaration(sequencer, transport, clintDeclaration(msip: [0, 0], mtimecmp: [.max, .max]))
        func runOf(_ hart: UInt32) -> Rrvm_Run? {
            guard case .run(let run)? = transport.take().first(where: { $0.to == hart })?.body else { return nil }
            return run
        }
        sequencer.receive(envelope(from: 100, yield(10)))
        XCTAssertEqual(runOf(101)?.stableReads.first?.reads, clintDeclaration(msip: [0, 0], mtimecmp: [.max, .max]))
        postToCLINT(sequencer, from: 101, offset: 0, size: 4, value: 1, executed: 1)          // an IPI to hart 0
        postToCLINT(sequencer, from: 101, offset: 0x4008, size: 8, value: 500, executed: 2)  // its own timer
        postToCLINT(sequencer, from: 101, offset: 0x4008, size: 8, value: 700, executed: 3)  // and again
        _ = transport.take()
        sequencer.receive(envelope(from: 101, yield(10)))
        let first = runOf(100)
        XCTAssertEqual(first?.stableReads, [])
        XCTAssertEqual(first?.declaredValues, [
            .with { $0.device = 0; $0.entry = 3; $0.value = 700 },
            .with { $0.device = 0; $0.entry = 0; $0.value = 1 },
        ])
        postToCLINT(sequencer, from: 100, offset: 0, size: 4, value: 0, executed: 1)          // hart 0 takes its IPI
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(10)))
        XCTAssertEqual(runOf(101)?.declaredValues, [.with { $0.device = 0; $0.entry = 0; $0.value = 0 },
                                                    .with { $0.device = 0; $0.entry = 3; $0.value = 700 }],
                       "hart 1's own writes among them")
        // The device's answer to a read brings another declaration: every hart gets it whole.
        sequencer.receive(envelope(from: 101, .mmioRequest(.with { $0.address = 0x200_bff8; $0.size = 8; $0.executed = 1 })))
        // The device gets the last write to each register: hart 0's msip (0) and hart 1's mtimecmp (700).
        let sent = transport.take().filter { $0.to == 200 }.map(\.deviceAccess)
        XCTAssertEqual(sent.map(\.offset), [0x4008, 0])
        XCTAssertEqual(sent.map(\.value), [700, 0])
        XCTAssertEqual(sent.map(\.foretold), [true, true])
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.foretoldAnswers = 2; $0.stateHash = 1 })))
        let replaced = clintDeclaration(msip: [0, 0], mtimecmp: [800, 700])
        sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.stableReads = replaced; $0.stateHash = 2 })))
        _ = transport.take()
        sequencer.receive(envelope(from: 101, yield(10)))
        let whole = runOf(100)
        XCTAssertEqual(whole?.stableReads.first?.reads, replaced)
        XCTAssertEqual(whole?.declaredValues, [])
        XCTAssertNil(transport.finished)
    }

    /// The check of a posted write applies to each register of a declared array (the PLIC's priorities): the answer
    /// must declare the value written in that register's place.
    func testPostedWritesToAnArrayOfRegistersAreCheckedRegisterByRegister() {
        var config = machine(harts: 1)
        config.devices[0].writesWait = true
        let (transport, sequencer) = startedSequencer(config)
        func priorities(_ values: [UInt64]) -> [Rrvm_StableRead] {
            [.with { $0.offset = 4; $0.size = 4; $0.value = values[0]; $0.moreValues = Array(values.dropFirst()); $0.stride = 4; $0.setByWriteMask = 7 }]
        }
        func postPriority(of source: UInt64, _ value: UInt64, executed: UInt64, answer: [UInt64]) {
            sequencer.receive(envelope(from: 100, .mmioRequest(.with {
                $0.address = 0x200_0000 + source * 4; $0.size = 4; $0.write = true; $0.value = value
                $0.executed = executed; $0.posted = true
            })))
            sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.stableReads = priorities(answer) })))
        }
        postPriority(of: 3, 9, executed: 5, answer: [0, 0, 1])
        XCTAssertNil(transport.finished, "9 & 7 = 1 in the third register")
        postPriority(of: 2, 1, executed: 6, answer: [1, 0, 1])
        XCTAssertEqual(transport.finished?.code, 1)
        XCTAssertTrue(transport.finished?.reason.contains("hart 0 posted a write of 1 to offset 8 of device 0 (clint)") ?? false,
                      transport.finished?.reason ?? "not finished")
        XCTAssertTrue(transport.finished?.reason.contains("declares 0 (mask 7)") ?? false, transport.finished?.reason ?? "")
    }

    /// A write a hart posted as one that keeps the declaration (a PLIC completion) must find the device declaring the
    /// same again; otherwise the run stops, naming the write.
    func testPostedWritesThatKeepTheDeclarationAreCheckedAgainstTheDevicesAnswer() {
        var config = machine(harts: 1)
        config.devices[1].writesWait = true
        let (transport, sequencer) = startedSequencer(config)
        let priority: Rrvm_StableRead = .with { $0.offset = 4; $0.size = 4; $0.value = 1; $0.setByWriteMask = 7; $0.keptByWritesTo = [0x20_0004] }
        // A claim (waited) brings the declaration.
        sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0xc20_0004; $0.size = 4; $0.executed = 1 })))
        sequencer.receive(envelope(from: 201, .deviceDone(.with { $0.value = 10; $0.stableReads = [priority] })))
        func complete(executed: UInt64, answer: Rrvm_StableRead) {
            sequencer.receive(envelope(from: 100, .mmioRequest(.with {
                $0.address = 0xc20_0004; $0.size = 4; $0.write = true; $0.value = 10; $0.executed = executed; $0.posted = true
            })))
            sequencer.receive(envelope(from: 201, .deviceDone(.with { $0.stableReads = [answer] })))
        }
        complete(executed: 2, answer: priority)
        XCTAssertNil(transport.finished)
        var changed = priority
        changed.value = 2
        complete(executed: 3, answer: changed)
        XCTAssertEqual(transport.finished?.code, 1)
        XCTAssertTrue(transport.finished?.reason.contains("hart 0 posted a write to offset 2097156 of device 1 (plic) as one that keeps")
                      ?? false, transport.finished?.reason ?? "not finished")
    }

    func testUnmappedAddressIsAFaultNotACrash() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: machine(harts: 1), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0x4000_0000; $0.size = 4 })))
        guard case .mmioReply(let reply)? = transport.take().first?.body else { return XCTFail() }
        XCTAssertTrue(reply.fault)
    }
}

/// The CLINT's declaration (device 0 of `machine`): each hart's msip word, then its mtimecmp word.
func clintDeclaration(msip: [UInt64], mtimecmp: [UInt64]) -> [Rrvm_StableRead] {
    msip.indices.map { hart in
        .with {
            $0.offset = UInt64(hart) * 4; $0.size = 4; $0.value = msip[hart]; $0.setByWriteMask = 1
            $0.lineMipBit = InterruptNumber.machineSoftware; $0.lineHart = UInt32(hart)
        }
    } + mtimecmp.indices.map { hart in
        .with {
            $0.offset = 0x4000 + UInt64(hart) * 8; $0.size = 8; $0.value = mtimecmp[hart]; $0.setByWriteMask = .max
            $0.lineMipBit = InterruptNumber.machineTimer; $0.lineHart = UInt32(hart); $0.lineIsTimerCompare = true
        }
    }
}

/// Hart 0 reads mtime (a waited read) in the slice under way, and the CLINT answers with `declaration`.
func learnCLINTDeclaration(_ sequencer: Sequencer, _ transport: FakeTransport, _ declaration: [Rrvm_StableRead]) {
    sequencer.receive(envelope(from: 100, .mmioRequest(.with { $0.address = 0x200_bff8; $0.size = 8; $0.executed = 1 })))
    sequencer.receive(envelope(from: 200, .deviceDone(.with { $0.stableReads = declaration; $0.stateHash = 1 })))
    _ = transport.take()
}

/// A write a hart posts to the CLINT (device 0 of `machine`).
func postToCLINT(_ sequencer: Sequencer, from hart: UInt32, offset: UInt64, size: UInt32, value: UInt64, executed: UInt64) {
    sequencer.receive(envelope(from: hart, .mmioRequest(.with {
        $0.address = 0x200_0000 + offset; $0.size = size; $0.write = true; $0.value = value; $0.executed = executed
        $0.posted = true
    })))
}

/// A device's answer that depends only on the operation, as every device's must: the UART's (device 2) interrupt
/// line (source 10) follows the low bit of the byte written.
func answerWhereTheUARTLineFollowsTheByte(_ operation: Rrvm_Envelope) -> Rrvm_DeviceDone {
    var done = Rrvm_DeviceDone()
    if operation.to == 202 {
        done.sourceLevels = [.with { $0.source = 10; $0.level = operation.deviceAccess.value & 1 == 1 }]
    }
    return done
}

/// A sequencer of `config`, without a journal, that has started (its first Run taken), with its transport.
func startedSequencer(_ config: Rrvm_MachineConfig) -> (FakeTransport, Sequencer) {
    let transport = FakeTransport()
    let sequencer = Sequencer(config: config, transport: transport, journal: nil)
    sequencer.start()
    _ = transport.take()
    return (transport, sequencer)
}

/// A sequencer whose journal checks every `checkInterval` retired instructions, started (its first Run still in the
/// transport), with its transport and journal.
func checkingSequencer(_ config: Rrvm_MachineConfig, checkInterval: UInt64) -> (FakeTransport, CollectingJournal, Sequencer) {
    let transport = FakeTransport()
    let journal = CollectingJournal()
    journal.checkInterval = checkInterval
    let sequencer = Sequencer(config: config, transport: transport, journal: journal)
    sequencer.start()
    return (transport, journal, sequencer)
}

/// A sequencer of `harts` harts that has started (its first Run taken), with its transport and journal.
func startedSequencer(harts: Int) -> (FakeTransport, CollectingJournal, Sequencer) {
    let transport = FakeTransport()
    let journal = CollectingJournal()
    let sequencer = Sequencer(config: machine(harts: harts), transport: transport, journal: journal)
    sequencer.start()
    _ = transport.take()
    return (transport, journal, sequencer)
}

/// Keeps every event the sequencer notes, in order.
final class CollectingJournal: EventJournal {
    var events: [Rrvm_Envelope] = []
    func note(_ envelope: Rrvm_Envelope) -> JournalStop? {
        events.append(envelope)
        return nil
    }
    var checkInterval: UInt64 = 0
    var checks: [Rrvm_LogCheck] = []
    func check(_ check: Rrvm_LogCheck) -> JournalStop? {
        checks.append(check)
        return nil
    }
    func input(at g: UInt64, live: Rrvm_HostInput?, idleFrom: UInt64?) -> Result<Rrvm_HostInput?, JournalStop> {
        .success(live)
    }
    func nextRecordedInputG() -> UInt64? { nil }
    func stopAtBoundary(g: UInt64) -> JournalStop? { nil }
    func end(_ end: Rrvm_LogEnd) -> JournalStop? { nil }
}

final class DeviceKindWireTests: XCTestCase {
    /// Every kind survives the wire, and a number this build does not know is no kind at all.
    func testEveryKindMapsBothWays() throws {
        for kind in DeviceKind.allCases {
            let spec = Rrvm_DeviceSpec.with { $0.kind = Rrvm_DeviceKind(kind) }
            let decoded = try Rrvm_DeviceSpec(serializedBytes: try spec.serializedBytes() as [UInt8])
            XCTAssertEqual(decoded.kind.platformKind, kind)
            XCTAssertEqual(decoded.kindName, kind.name)
        }
        XCTAssertNil(Rrvm_DeviceKind.unspecified.platformKind)
        XCTAssertNil(Rrvm_DeviceKind(rawValue: 999)?.platformKind)
    }
}

final class NetworkInputTests: XCTestCase {
    /// machine(harts: 1) plus a network card: device 3, endpoint 203.
    func netMachine() -> Rrvm_MachineConfig {
        var config = machine(harts: 1)
        config.devices.append(.with { $0.kind = .virtioNet; $0.base = 0x1000_3000; $0.size = 0x1000; $0.irq = 3; $0.dma = true })
        return config
    }

    let frame = Data([UInt8](repeating: 0xff, count: 6) + [0x52, 0x55, 10, 0, 2, 2, 0x08, 0x06] + [UInt8](repeating: 7, count: 28))

    func testAFrameFromTheBackendIsStampedLoggedAndDeliveredToTheCard() {
        let transport = FakeTransport()
        let journal = CollectingJournal()
        let sequencer = Sequencer(config: netMachine(), transport: transport, journal: journal)
        sequencer.start()
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(40, wfi: true)))
        transport.now = 1_000_000  // 1 ms of idle = 40,000 instructions at shift 2
        sequencer.receive(envelope(from: 203, .hostInput(.with { $0.frame = frame })))
        let sent = transport.take()
        XCTAssertEqual(sent.first?.to, 203, "to the card that received it")
        XCTAssertEqual(sent.first?.g, 40 + 40_000, "at the G of the host time it came")
        guard case .hostInput(let input)? = sent.first?.body else { return XCTFail("\(sent)") }
        XCTAssertEqual(input.frame, frame)
        let logged = journal.events.last { if case .hostInput? = $0.body { return true } else { return false } }
        XCTAssertEqual(logged?.hostInput.frame, frame, "logged with its payload")
        XCTAssertEqual(logged?.g, 40 + 40_000)
    }

    /// Frames that came while a hart ran all go to the card at the next boundary, before any of them is answered (a
    /// burst costs one round trip, not one each), at that boundary's G, in the order they came and logged so; the next
    /// slice starts only once the card has answered every one.
    func testABurstOfFramesGoesToTheCardTogetherAndTheNextSliceWaitsForEveryAnswer() {
        let transport = FakeTransport()
        let journal = CollectingJournal()
        var config = netMachine()
        config.schedule = .loneHartToEvent  // rrvm's: host input cuts the slice under way
        let sequencer = Sequencer(config: config, transport: transport, journal: journal)
        sequencer.start()
        _ = transport.take()
        let frames = (1...3).map { frame + Data([UInt8($0)]) }
        for burst in frames { sequencer.receive(envelope(from: 203, .hostInput(.with { $0.frame = burst }))) }
        XCTAssertEqual(transport.take().map(\.to), [100], "one Cut for the running hart")
        sequencer.receive(envelope(from: 100, yield(500)))
        let sent = transport.take()
        XCTAssertEqual(sent.map(\.to), [203, 203, 203], "every frame before any answer")
        XCTAssertEqual(sent.map(\.hostInput.frame), frames)
        XCTAssertEqual(sent.map(\.g), [500, 500, 500])
        for answered in 0..<3 {
            XCTAssertTrue(transport.sent.isEmpty, "nothing more after \(answered) answers: \(transport.sent)")
            sequencer.receive(envelope(from: 203, .deviceDone(Rrvm_DeviceDone())))
        }
        XCTAssertEqual(transport.take().map(\.to), [100], "then the hart runs on")
        let logged = journal.events.filter { if case .hostInput? = $0.body { return true } else { return false } }
        XCTAssertEqual(logged.map(\.hostInput.frame), frames)
        XCTAssertEqual(logged.map(\.g), [500, 500, 500])
    }

    func testFramesOfImpossibleSizesAndFramesInReplayAreIgnored() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: netMachine(), transport: transport, journal: nil)
        sequencer.start()
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(40, wfi: true)))
        sequencer.receive(envelope(from: 203, .hostInput(.with { $0.frame = Data(repeating: 1, count: 13) })))
        sequencer.receive(envelope(from: 203, .hostInput(.with { $0.frame = Data(repeating: 1, count: 1519) })))
        XCTAssertTrue(transport.take().isEmpty)
        XCTAssertNil(transport.finished)

        var config = netMachine()
        config.replay = true
        let replay = Sequencer(config: config, transport: FakeTransport(), journal: RecordedFrameJournal(g: 1_000, frame: frame))
        replay.receiveHostFrame(frame)  // a live frame in replay: no backend should send one, and none is used
        XCTAssertEqual(replay.g, 0)
    }

    func testReplayTakesTheFrameFromTheLog() {
        let transport = FakeTransport()
        var config = netMachine()
        config.replay = true
        let sequencer = Sequencer(config: config, transport: transport, journal: RecordedFrameJournal(g: 1_000, frame: frame))
        sequencer.start()
        _ = transport.take()
        sequencer.receive(envelope(from: 100, yield(40, wfi: true)))
        let sent = transport.take()
        XCTAssertEqual(sent.first?.to, 203)
        XCTAssertEqual(sent.first?.g, 1_000, "at once, at the recorded G")
        XCTAssertEqual(sent.first?.hostInput.frame, frame)
    }

    func testOnlyTheCardMaySendFrames() {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: netMachine(), transport: transport, journal: nil)
        sequencer.start()
        sequencer.receive(envelope(from: 202, .hostInput(.with { $0.frame = frame })))
        XCTAssertNotNil(transport.finished, "a frame from the uart's process stops the run")
    }
}

/// A replay journal holding one recorded frame at `g`.
final class RecordedFrameJournal: EventJournal {
    let g: UInt64
    var frame: Data?
    init(g: UInt64, frame: Data) {
        self.g = g
        self.frame = frame
    }
    var checkInterval: UInt64 { 0 }
    func note(_ envelope: Rrvm_Envelope) -> JournalStop? { nil }
    func check(_ check: Rrvm_LogCheck) -> JournalStop? { nil }
    func input(at g: UInt64, live: Rrvm_HostInput?, idleFrom: UInt64?) -> Result<Rrvm_HostInput?, JournalStop> {
        guard g == self.g, let frame else { return .success(nil) }
        self.frame = nil
        return .success(.with { $0.frame = frame })
    }
    func nextRecordedInputG() -> UInt64? { frame == nil ? nil : g }
    func stopAtBoundary(g: UInt64) -> JournalStop? { nil }
    func end(_ end: Rrvm_LogEnd) -> JournalStop? { nil }
}
