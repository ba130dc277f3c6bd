import Foundation
import RRProto
import RRRoles
import RVHart
import RVPlatform
import XCTest

/// A few RV64 encodings, enough for the programs below.
enum Assemble {
    static func iType(_ opcode: UInt32, _ funct3: UInt32, rd: UInt32, rs1: UInt32, _ imm: Int32) -> UInt32 {
        (UInt32(bitPattern: imm) & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
    }
    static func addi(_ rd: UInt32, _ rs1: UInt32, _ imm: Int32) -> UInt32 { iType(0x13, 0, rd: rd, rs1: rs1, imm) }
    static func slli(_ rd: UInt32, _ rs1: UInt32, _ shift: Int32) -> UInt32 { iType(0x13, 1, rd: rd, rs1: rs1, shift) }
    static func lui(_ rd: UInt32, _ upper: UInt32) -> UInt32 { upper << 12 | rd << 7 | 0x37 }
    static func lbu(_ rd: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 { iType(0x03, 4, rd: rd, rs1: rs1, offset) }
    static func lw(_ rd: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 { iType(0x03, 2, rd: rd, rs1: rs1, offset) }
    static func ld(_ rd: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 { iType(0x03, 3, rd: rd, rs1: rs1, offset) }
    static func store(_ funct3: UInt32, _ rs2: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 {
        let imm = UInt32(bitPattern: offset) & 0xfff
        return (imm >> 5) << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12 | (imm & 0x1f) << 7 | 0x23
    }
    static func sb(_ rs2: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 { store(0, rs2, offset, rs1) }
    static func sw(_ rs2: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 { store(2, rs2, offset, rs1) }
    static func sd(_ rs2: UInt32, _ offset: Int32, _ rs1: UInt32) -> UInt32 { store(3, rs2, offset, rs1) }
    /// csrrs rd, csr, x0.
    static func csrr(_ rd: UInt32, _ csr: UInt32) -> UInt32 { csr << 20 | 2 << 12 | rd << 7 | 0x73 }
    /// bne rs1, rs2, offset.
    static func bne(_ rs1: UInt32, _ rs2: UInt32, _ offset: Int32) -> UInt32 {
        let imm = UInt32(bitPattern: offset)
        return ((imm >> 12) & 1) << 31 | ((imm >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | 1 << 12
            | ((imm >> 1) & 0xf) << 8 | ((imm >> 11) & 1) << 7 | 0x63
    }
    /// jal x0, offset (a jump back or forward by `offset` bytes).
    static func jump(_ offset: Int32) -> UInt32 {
        let imm = UInt32(bitPattern: offset)
        return ((imm >> 20) & 1) << 31 | ((imm >> 1) & 0x3ff) << 21 | ((imm >> 11) & 1) << 20 | ((imm >> 12) & 0xff) << 12 | 0x6f
    }
    static func lrD(_ rd: UInt32, _ rs1: UInt32) -> UInt32 { 0b00010 << 27 | rs1 << 15 | 3 << 12 | rd << 7 | 0x2f }
    static func scD(_ rd: UInt32, _ rs2: UInt32, _ rs1: UInt32) -> UInt32 {
        0b00011 << 27 | rs2 << 20 | rs1 << 15 | 3 << 12 | rd << 7 | 0x2f
    }
    static let pause: UInt32 = 0x0100_000f

    static func bytes(_ words: [UInt32]) -> Data {
        Data(words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } })
    }
}

/// An in-memory transport that records what the hart sends and when it pauses.
final class RecordingHartTransport: HartTransport {
    var sent: [Rrvm_Envelope] = []
    var pauses: [PauseReason] = []
    var awaited = 0
    var finished: (code: Int32, reason: String?)?
    /// Answers a waited access at once, from inside `awaitReply`, when set.
    var answer: ((Rrvm_MmioRequest) -> Rrvm_MmioReply)?
    weak var runner: HartRunner?

    func send(_ envelope: Rrvm_Envelope) { sent.append(envelope) }

    func awaitReply() {
        awaited += 1
        guard let answer, case .mmioRequest(let request)? = sent.last?.body else { return }
        runner?.receive(reply(answer(request)))
    }

    func paused(for reason: PauseReason) { pauses.append(reason) }
    /// Called at each poll of a long slice, with the retired count then.
    var onPoll: ((UInt64) -> Void)?
    func pollDuringSlice() { onPoll?(runner?.hart.retired ?? 0) }
    func finish(exitCode: Int32, reason: String?) { finished = (exitCode, reason) }

    func reply(_ reply: Rrvm_MmioReply) -> Rrvm_Envelope {
        var envelope = Rrvm_Envelope()
        envelope.body = .mmioReply(reply)
        return envelope
    }

    var yields: [Rrvm_Yield] { sent.compactMap { if case .yield(let yield)? = $0.body { return yield } else { return nil } } }
    var requests: [Rrvm_MmioRequest] {
        sent.compactMap { if case .mmioRequest(let request)? = $0.body { return request } else { return nil } }
    }
}

final class HartRunnerTests: XCTestCase {
    static let postedWindow: UInt64 = 0x1000_0000   // device 0: writes posted
    static let waitedWindow: UInt64 = 0x0200_0000   // device 1: writes wait

    var ram: UnsafeMutableRawPointer!
    let transport = RecordingHartTransport()

    override func setUp() {
        ram = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 20)
    }

    override func tearDown() { ram.deallocate() }

    /// A hart whose boot ROM holds `program`.
    func runner(_ program: [UInt32], waitedDeviceChangesRAM: Bool = false) -> HartRunner {
        let runner = HartRunner(index: 0, config: runnerConfig(program, waitedDeviceChangesRAM: waitedDeviceChangesRAM),
                                ram: ram, transport: transport)
        transport.runner = runner
        return runner
    }

    /// The machine of `runner(_:)`: one hart, a posted window (device 0) and a waited one (device 1).
    func runnerConfig(_ program: [UInt32], waitedDeviceChangesRAM: Bool = false) -> Rrvm_MachineConfig {
        var config = Rrvm_MachineConfig()
        config.harts = 1
        config.ramSize = 1 << 20
        config.bootRom = Assemble.bytes(program)
        config.devices = [
            .with { $0.kind = .uart; $0.base = Self.postedWindow; $0.size = 0x100 },
            .with { $0.kind = .clint; $0.base = Self.waitedWindow; $0.size = 0x10000; $0.writesWait = true; $0.dma = waitedDeviceChangesRAM },
        ]
        return config
    }

    func run(_ runner: HartRunner, budget: UInt64, g: UInt64 = 0, configure: (inout Rrvm_Run) -> Void = { _ in }) {
        var envelope = Rrvm_Envelope()
        envelope.g = g
        var run = Rrvm_Run()
        run.budget = budget
        configure(&run)
        envelope.body = .run(run)
        runner.receive(envelope)
    }

    static let countingLoop: [UInt32] = [Assemble.addi(1, 1, 1), Assemble.jump(-4)]

    func testASliceEndsExactlyAtItsBudget() {
        let runner = runner(Self.countingLoop)
        run(runner, budget: 101)
        XCTAssertEqual(transport.yields.map(\.executed), [101])
        XCTAssertEqual(transport.yields.first?.reason, .stopBudget)
        XCTAssertEqual(runner.hart.register(1), 51)
        XCTAssertFalse(runner.sliceActive)
        run(runner, budget: 100, g: 101)
        XCTAssertEqual(transport.yields.map(\.executed), [101, 100], "each slice counts its own instructions")
    }

    func testALoneSliceRunsOnAQuantumAtATimeUpToItsLimitWhileItOnlyComputes() {
        let runner = runner(Self.countingLoop)
        run(runner, budget: 100) { $0.sliceLimit = 1050 }
        XCTAssertEqual(transport.yields.map(\.executed), [1050], "one slice, to its limit")
        XCTAssertEqual(transport.yields.first?.reason, .stopBudget)
        XCTAssertEqual(runner.statistics.extensions, 10)
        run(runner, budget: 100, g: 1050)
        XCTAssertEqual(transport.yields.map(\.executed), [1050, 100], "no limit: one quantum")
    }

    /// Where a check is due (Run.check_at, then every check_interval) the hart sends its state hash, the one it has
    /// there, and runs on: the slice ends where it would without checks, after the check due at its last instruction.
    func testChecksAreSentFromInsideTheSliceWhichRunsOn() {
        let runner = runner(Self.countingLoop)
        run(runner, budget: 100) { $0.sliceLimit = 1050; $0.checkAt = 300; $0.checkInterval = 250 }
        let checks = checks(sentFrom: 0)
        XCTAssertEqual(checks.map(\.executed), [300, 550, 800, 1050])
        XCTAssertEqual(transport.sent.map(\.kindName), ["hart_check", "hart_check", "hart_check", "hart_check", "yield"])
        XCTAssertEqual(transport.yields.map(\.executed), [1050], "one slice, to its limit")
        XCTAssertEqual(checks.last?.stateHash, transport.yields.first?.stateHash)
        XCTAssertEqual(runner.statistics.checks, 4)
        // The hash a hart has after 300 instructions (its Yield's, in a run with checks).
        let other = RecordingHartTransport()
        let stopped = HartRunner(index: 0, config: runnerConfig(Self.countingLoop), ram: ram, transport: other)
        var envelope = Rrvm_Envelope()
        envelope.body = .run(.with { $0.budget = 300; $0.checkAt = 1000; $0.checkInterval = 1000 })
        stopped.receive(envelope)
        XCTAssertEqual(checks.first?.stateHash, other.yields.first?.stateHash)
        XCTAssertEqual(other.yields.first?.stateHash, stopped.hart.stateHash())
        XCTAssertNotEqual(checks[0].stateHash, checks[1].stateHash)
    }

    /// A run without checks (no log) reads no hart's hash: its Yields leave it out, saving the hash's work at every
    /// slice's end; the next slice of a run with checks carries it again.
    func testAYieldCarriesTheStateHashOnlyInARunWithChecks() {
        let runner = runner(Self.countingLoop)
        run(runner, budget: 100)
        XCTAssertEqual(transport.yields.last?.stateHash, 0)
        run(runner, budget: 100) { $0.checkAt = 10_000; $0.checkInterval = 10_000 }
        XCTAssertEqual(transport.yields.last?.stateHash, runner.hart.stateHash())
        XCTAssertNotEqual(runner.hart.stateHash(), 0)
    }

    /// A check due where the hart is about to access a device goes before the access (the state before it).
    func testACheckDueAtAnAccessGoesBeforeIt() {
        var program = [Assemble.lui(5, 0x10000)]
        program += Array(repeating: Assemble.addi(1, 1, 1), count: 249)
        program += [Assemble.sw(0, 0, 5)] + Self.countingLoop
        let runner = runner(program)
        run(runner, budget: 1000) { $0.checkAt = 250; $0.checkInterval = 1000 }
        XCTAssertEqual(transport.sent.map(\.kindName), ["hart_check", "mmio_request", "yield"])
        XCTAssertEqual(transport.requests.map(\.executed), [250])
    }

    func testALoneSliceEndsAtTheEndOfTheQuantumInWhichItAccessedADevice() {
        // 250 instructions of counting, then a posted write to the UART, then counting again.
        var program = [Assemble.lui(5, 0x10000)]
        program += Array(repeating: Assemble.addi(1, 1, 1), count: 249)
        program += [Assemble.sw(0, 0, 5)] + Self.countingLoop
        let runner = runner(program)
        run(runner, budget: 100) { $0.sliceLimit = 100_000 }
        XCTAssertEqual(transport.requests.map(\.executed), [250])
        XCTAssertEqual(transport.yields.map(\.executed), [300], "the write was in the third quantum")
    }

    func testACutEndsALongSliceAtTheNextInstructionBoundary() {
        let runner = runner(Self.countingLoop)
        var cutAt: UInt64?
        transport.onPoll = { retired in
            guard cutAt == nil else { return }
            cutAt = retired
            var cut = Rrvm_Envelope()
            cut.body = .cut(Rrvm_Cut())
            runner.receive(cut)
        }
        run(runner, budget: 1000) { $0.sliceLimit = 1 << 40 }
        XCTAssertEqual(cutAt, HartRunner.pollInterval, "polled once a poll interval ran")
        XCTAssertEqual(transport.yields.map(\.executed), [HartRunner.pollInterval], "cut where the Cut arrived")
        XCTAssertEqual(transport.yields.first?.reason, .stopBudget)
        XCTAssertEqual(runner.statistics.cuts, 1)
        XCTAssertTrue(transport.pauses.isEmpty, "a cut holds nothing")
        // A Cut that comes after its slice ended changes nothing; the next slice runs as given.
        var late = Rrvm_Envelope()
        late.body = .cut(Rrvm_Cut())
        runner.receive(late)
        transport.onPoll = nil
        run(runner, budget: 100, g: HartRunner.pollInterval)
        XCTAssertEqual(transport.yields.map(\.executed), [HartRunner.pollInterval, 100])
        XCTAssertNil(transport.finished)
    }

    func testACutRunsAtLeastOneInstructionOfItsSlice() {
        let runner = runner(Self.countingLoop)
        runner.pause(.debugger)
        run(runner, budget: 100) { $0.sliceLimit = 10_000 }
        XCTAssertTrue(transport.yields.isEmpty, "held by the debugger")
        var cut = Rrvm_Envelope()
        cut.body = .cut(Rrvm_Cut())
        runner.receive(cut)
        runner.resume(.debugger)
        XCTAssertEqual(transport.yields.map(\.executed), [1], "past the slice's start, where a replay can end it too")
    }

    func testWritesArePostedOrWaitedForAsTheDeviceSays() {
        let runner = runner([
            Assemble.lui(5, 0x10000), Assemble.lui(6, 0x2000), Assemble.addi(7, 0, 65),
            Assemble.sw(7, 0, 5),    // posted: the hart goes on
            Assemble.sw(7, 4, 6),    // waits
            Assemble.addi(8, 0, 1), Assemble.jump(0),
        ])
        run(runner, budget: 50)
        XCTAssertEqual(transport.requests.map(\.posted), [true, false])
        XCTAssertEqual(transport.requests.map(\.executed), [3, 4])
        XCTAssertEqual(transport.awaited, 1)
        XCTAssertTrue(runner.awaitingReply, "stopped at the waited write")
        XCTAssertTrue(transport.yields.isEmpty)
        XCTAssertEqual(runner.hart.register(8), 0)
        runner.receive(transport.reply(.with { $0.interruptLines = 0 }))
        XCTAssertEqual(runner.hart.register(8), 1, "the answer lets the slice go on")
        XCTAssertEqual(transport.yields.map(\.executed), [50])
    }

    func testAReplyCanShortenTheSlice() {
        let runner = runner([Assemble.lui(6, 0x2000), Assemble.lw(7, 0, 6)] + Self.countingLoop)
        transport.answer = { _ in .with { $0.value = 3; $0.sliceLeft = 10 } }
        run(runner, budget: 1000)
        XCTAssertEqual(runner.hart.register(7), 3)
        XCTAssertEqual(transport.yields.map(\.executed), [12], "2 instructions, then the 10 the answer left")
    }

    func testStableReadsAreAnsweredHereUntilAWriteElsewhere() {
        let runner = runner([
            Assemble.lui(5, 0x10000),
            Assemble.lbu(10, 5, 5),  // answered from the declaration
            Assemble.sw(0, 0, 5),    // a write the declaration survives
            Assemble.lbu(11, 5, 5),  // still answered here
            Assemble.sw(0, 8, 5),    // a write elsewhere ends it
            Assemble.lbu(12, 5, 5),  // waits
            Assemble.jump(0),
        ])
        run(runner, budget: 100) { run in
            run.stableReads = [.with {
                $0.device = 0
                $0.reads = [.with { $0.offset = 5; $0.size = 1; $0.value = 0x60; $0.keptByWritesTo = [0] }]
            }]
        }
        XCTAssertEqual(runner.hart.register(10), 0x60)
        XCTAssertEqual(runner.hart.register(11), 0x60)
        XCTAssertEqual(transport.requests.map(\.answered), [true, false, true, false, false])
        XCTAssertEqual(transport.requests.map(\.posted), [true, true, true, true, false])
        XCTAssertEqual(runner.statistics.answeredHere, 2)
        XCTAssertTrue(runner.awaitingReply)
    }

    /// Writes to registers declared set by writes (the CLINT's msip words) are posted and keep the declaration, with
    /// the value written: the hart's own MSIP follows its msip at once, and raising another hart's ends the slice
    /// `Schedule.sliceLeftAfterIPI` instructions later (as the answer to a waited IPI did).
    func testWritesToRegistersSetByWritesArePostedAndKeepTheDeclaration() {
        let runner = runner([
            Assemble.lui(6, 0x2000), Assemble.addi(7, 0, 1),
            Assemble.sw(7, 4, 6),    // msip of hart 1: an IPI, posted
            Assemble.sw(0, 0, 6),    // this hart clears its own msip: posted, MSIP drops here
            Assemble.lw(10, 4, 6),   // answered from the declaration, with the value written
            Assemble.lw(11, 0, 6),
        ] + Self.countingLoop)
        let msip = InterruptNumber.mask(InterruptNumber.machineSoftware)
        run(runner, budget: 100_000) { run in
            run.interruptLines = msip
            run.stableReads = [.with {
                $0.device = 1
                // As the CLINT declares them: one array, register k driving hart k's MSIP.
                $0.reads = [.with {
                    $0.offset = 0; $0.size = 4; $0.value = 1; $0.moreValues = [0]; $0.stride = 4
                    $0.setByWriteMask = 1; $0.lineMipBit = InterruptNumber.machineSoftware; $0.lineHart = 0
                }]
            }]
        }
        XCTAssertEqual(transport.awaited, 0, "nothing waited")
        XCTAssertEqual(transport.requests.map(\.posted), [true, true, true, true])
        XCTAssertEqual(transport.requests.map(\.write), [true, true, false, false])
        XCTAssertEqual(transport.requests.map(\.answered), [false, false, true, true])
        XCTAssertEqual(runner.hart.register(10), 1)
        XCTAssertEqual(runner.hart.register(11), 0)
        XCTAssertEqual((runner.hart.readCSR(0x344) ?? 0) & msip, 0, "the hart's own MSIP follows its write")
        XCTAssertEqual(transport.yields.map(\.executed), [3 + Schedule.sliceLeftAfterIPI])
    }

    /// 64-bit writes to the mtimecmp words (declared set by writes, their line a timer compare) are posted: the hart
    /// sets its own MTIP from mtime at the write's G, after the instruction, as the answer to the waited write did,
    /// and another hart's write leaves its lines alone. A 32-bit write to a half still waits.
    func testWritesToTimerComparesArePostedAndSetTheHartsOwnTimerLine() {
        let runner = runner([
            Assemble.lui(6, 0x2004), Assemble.addi(7, 0, 1010),
            Assemble.sd(7, 0, 6),         // G 1002 < 1010: MTIP drops
            Assemble.csrr(10, 0x344),
            Assemble.addi(7, 0, 1004),
            Assemble.sd(7, 0, 6),         // G 1005 >= 1004: MTIP rises
            Assemble.csrr(11, 0x344),
            Assemble.ld(12, 0, 6),        // answered from the declaration, with the value written
            Assemble.sd(0, 8, 6),         // hart 1's mtimecmp: posted, this hart's MTIP stays
            Assemble.csrr(13, 0x344),
            Assemble.sw(0, 4, 6),         // a 32-bit half: waits
        ] + Self.countingLoop)
        let mtip = InterruptNumber.mask(InterruptNumber.machineTimer)
        run(runner, budget: 100, g: 1000) { run in
            run.interruptLines = mtip
            run.stableReads = [.with {
                $0.device = 1
                $0.reads = (0..<2).map { hart in .with {
                    $0.offset = 0x4000 + UInt64(hart) * 8; $0.size = 8; $0.value = .max; $0.setByWriteMask = .max
                    $0.lineMipBit = InterruptNumber.machineTimer; $0.lineHart = UInt32(hart); $0.lineIsTimerCompare = true
                } }
            }]
        }
        XCTAssertEqual(runner.hart.register(10) & mtip, 0, "mtime 1002 is before the compare 1010")
        XCTAssertEqual(runner.hart.register(11) & mtip, mtip, "mtime 1005 is at or after the compare 1004")
        XCTAssertEqual(runner.hart.register(12), 1004)
        XCTAssertEqual(runner.hart.register(13) & mtip, mtip)
        XCTAssertEqual(transport.requests.map(\.executed), [2, 5, 7, 8, 10])
        XCTAssertEqual(transport.requests.map(\.posted), [true, true, true, true, false])
        XCTAssertEqual(transport.requests.map(\.answered), [false, false, true, false, false])
        XCTAssertEqual(transport.awaited, 1)
        XCTAssertTrue(runner.awaitingReply, "stopped at the 32-bit write")
    }

    /// A declared array of registers (the PLIC's priorities: StableRead.more_values, `stride` apart): a write to any of
    /// them is posted and sets its value, reads of each are answered with its own value, and an offset between two of
    /// them is not declared (the write waits).
    func testRegistersDeclaredAsAnArrayArePostedAndAnsweredOneByOne() {
        let runner = runner([
            Assemble.lui(6, 0x2000), Assemble.addi(7, 0, 13),
            Assemble.sw(7, 0x20, 6),  // the second register: posted, sets 13 & 7
            Assemble.lw(10, 0x20, 6),
            Assemble.lw(11, 0x30, 6),
            Assemble.lw(12, 0x10, 6),
            Assemble.sw(7, 0x18, 6),  // between two registers: waits
        ] + Self.countingLoop)
        run(runner, budget: 100) { run in
            run.stableReads = [.with {
                $0.device = 1
                $0.reads = [.with { $0.offset = 0x10; $0.size = 4; $0.value = 1; $0.moreValues = [2, 3]; $0.stride = 0x10; $0.setByWriteMask = 7 }]
            }]
        }
        XCTAssertEqual([10, 11, 12].map { runner.hart.register($0) }, [5, 3, 1])
        XCTAssertEqual(transport.requests.map(\.posted), [true, true, true, true, false])
        XCTAssertEqual(transport.requests.map(\.answered), [false, true, true, true, false])
        XCTAssertEqual(transport.requests.map(\.address), [0x200_0020, 0x200_0020, 0x200_0030, 0x200_0010, 0x200_0018])
        XCTAssertEqual(transport.awaited, 1)
        XCTAssertTrue(runner.awaitingReply)
    }

    /// A Run's declared values (the registers foretold writes set since the declaration the hart holds) set those
    /// registers in what it holds, and its reads are answered with them; one the hart cannot set (no such entry)
    /// leaves it holding no declaration for that device, and its next read there waits for the device.
    func testDeclaredValuesSetRegistersOfTheDeclarationHeld() {
        let runner = runner([Assemble.lui(6, 0x2000), Assemble.lw(10, 4, 6), Assemble.jump(-4)])
        run(runner, budget: 10) { run in
            run.stableReads = [.with {
                $0.device = 1
                $0.reads = [.with {
                    $0.offset = 0; $0.size = 4; $0.value = 0; $0.moreValues = [0]; $0.stride = 4
                    $0.setByWriteMask = 1; $0.lineMipBit = InterruptNumber.machineSoftware; $0.lineHart = 0
                }]
            }]
        }
        XCTAssertEqual(runner.hart.register(10), 0)
        run(runner, budget: 10) { run in
            run.declaredValues = [.with { $0.device = 1; $0.entry = 0; $0.index = 1; $0.value = 1 }]
        }
        XCTAssertEqual(runner.hart.register(10), 1, "hart 1's msip as set since")
        XCTAssertEqual(transport.awaited, 0)
        run(runner, budget: 10) { run in
            run.declaredValues = [.with { $0.device = 1; $0.entry = 3; $0.index = 0; $0.value = 7 }]
        }
        XCTAssertEqual(transport.awaited, 1, "no declaration held: the read waits")
        XCTAssertTrue(runner.awaitingReply)
        XCTAssertNil(transport.finished)
    }

    /// A write that every entry of the declaration says keeps it (the PLIC's completions) is posted to a device whose
    /// writes otherwise wait, and the declaration stays; a write elsewhere waits.
    func testWritesThatKeepTheDeclarationArePosted() {
        let runner = runner([
            Assemble.lui(6, 0x2000), Assemble.addi(7, 0, 10),
            Assemble.sw(7, 0x24, 6),  // a completion: posted
            Assemble.lw(10, 0x10, 6), // still answered here
            Assemble.sw(7, 0x28, 6),  // waits
        ] + Self.countingLoop)
        run(runner, budget: 100) { run in
            run.stableReads = [.with {
                $0.device = 1
                $0.reads = [.with { $0.offset = 0x10; $0.size = 4; $0.value = 3; $0.keptByWritesTo = [0x24] }]
            }]
        }
        XCTAssertEqual(runner.hart.register(10), 3)
        XCTAssertEqual(transport.requests.map(\.posted), [true, true, false])
        XCTAssertEqual(transport.requests.map(\.answered), [false, true, false])
        XCTAssertEqual(transport.awaited, 1)
    }

    /// A device that changes guest RAM gets every write it waits for, whatever it declares.
    func testWritesToADeviceThatChangesRAMWaitWhateverItDeclares() {
        let runner = runner([Assemble.lui(6, 0x2000), Assemble.addi(7, 0, 1), Assemble.sw(7, 0, 6)] + Self.countingLoop,
                            waitedDeviceChangesRAM: true)
        run(runner, budget: 100) { run in
            run.stableReads = [.with {
                $0.device = 1
                $0.reads = [.with { $0.offset = 0; $0.size = 4; $0.setByWriteMask = 1 }]
            }]
        }
        XCTAssertEqual(transport.requests.map(\.posted), [false])
        XCTAssertTrue(runner.awaitingReply)
    }

    /// The UART's declaration while THR is output only: LSR reads 0x60, kept by THR writes.
    static let consoleDeclaration: [Rrvm_DeviceStableReads] = [.with {
        $0.device = 0
        $0.reads = [.with { $0.offset = 5; $0.size = 1; $0.value = 0x60; $0.keptByWritesTo = [0]; $0.outputWritesTo = [0] }]
    }]

    func testAnsweredReadsAndOutputOnlyWritesGoOutAsOneBatchBeforeAnythingElse() {
        let runner = runner([
            Assemble.lui(5, 0x10000), Assemble.addi(7, 0, 65),
            Assemble.lbu(10, 5, 5), Assemble.sb(7, 0, 5),                          // poll LSR, write THR
            Assemble.lbu(10, 5, 5), Assemble.addi(7, 7, 1), Assemble.sb(7, 0, 5),
            Assemble.lui(6, 0x2000), Assemble.sw(0, 0, 6),                         // a waited write elsewhere
            Assemble.jump(0),
        ])
        run(runner, budget: 100) { $0.stableReads = Self.consoleDeclaration }
        XCTAssertEqual(transport.requests.count, 2, "the batch, then the waited write")
        let batch = transport.requests[0]
        XCTAssertTrue(batch.answered && batch.posted)
        XCTAssertEqual(batch.answeredReads, 2)
        XCTAssertEqual(batch.address, 0x1000_0005)
        XCTAssertEqual(batch.value, 0x60)
        XCTAssertEqual(batch.output, Data([65, 66]))
        XCTAssertEqual(batch.outputAddress, 0x1000_0000)
        XCTAssertEqual(batch.executed, 6, "the last access's count")
        XCTAssertEqual(transport.requests[1].address, 0x200_0000)
        XCTAssertEqual(runner.hart.register(10), 0x60)
        XCTAssertEqual(runner.statistics.outputHere, 2)
        XCTAssertTrue(runner.awaitingReply)
    }

    /// A polling console driver's loop runs inside the interpreter (the hart's device shortcut), yet its batches
    /// are those of one stop per access: full at `batchLimit` bytes, each stamped with its last access's count.
    func testAPollingLoopGoesOutInFullBatchesStampedAtTheirLastAccess() {
        let runner = runner([
            Assemble.lui(5, 0x10000), Assemble.addi(7, 0, 0), Assemble.lui(8, 2), Assemble.addi(8, 8, 1808),  // 10,000 bytes
            Assemble.lbu(10, 5, 5), Assemble.sb(7, 0, 5), Assemble.addi(7, 7, 1), Assemble.bne(7, 8, -12),    // poll, write
            Assemble.lui(6, 0x2000), Assemble.sw(0, 0, 6),                                                    // a waited write
            Assemble.jump(0),
        ])
        run(runner, budget: 100_000) { $0.stableReads = Self.consoleDeclaration }
        let requests = transport.requests
        XCTAssertEqual(requests.map(\.output.count), [4096, 4096, 1808, 0])
        XCTAssertEqual(requests.map(\.answeredReads), [4096, 4096, 1808, 0])
        // Byte k is written after 4 + 4k + 1 instructions.
        let lastWrites: [UInt64] = [4095, 8191, 9999]
        XCTAssertEqual(requests.map(\.executed), lastWrites.map { 4 * $0 + 5 } + [40_005])
        XCTAssertEqual(requests[1].output.first, UInt8(4096 & 0xff))
        XCTAssertEqual(Array(requests[2].output.suffix(2)), [UInt8(9998 & 0xff), UInt8(9999 & 0xff)])
        XCTAssertEqual(requests[3].address, 0x200_0000)
        XCTAssertEqual(runner.hart.register(10), 0x60)
        XCTAssertEqual(runner.statistics.answeredHere, 10_000)
        XCTAssertEqual(runner.statistics.outputHere, 10_000)
    }

    func testASpinHintEndsTheSliceOnlyWhenAnotherHartCouldRun() {
        let runner = runner([Assemble.addi(1, 1, 1), Assemble.pause, Assemble.jump(-8)])
        run(runner, budget: 30) { $0.spinHintsYield = false }
        XCTAssertEqual(transport.yields.last?.reason, .stopBudget)
        run(runner, budget: 30, g: 30) { $0.spinHintsYield = true }
        XCTAssertEqual(transport.yields.last?.reason, .stopSpinHint)
        XCTAssertLessThan(transport.yields.last!.executed, 30)
    }

    /// x7 = RAM base, the word there 1 (a lock held by a hart that is not running), then `wait` (at instruction 4).
    static func waitingOnAHeldLock(_ wait: [UInt32]) -> [UInt32] {
        [Assemble.addi(7, 0, 1), Assemble.slli(7, 7, 31), Assemble.addi(9, 0, 1), Assemble.sw(9, 0, 7)] + wait
    }

    /// A hart spinning on a lock word (a load or LR and a branch back, no PAUSE) that no other hart can release
    /// while it runs ends its slice at the next look for spin loops (every `Hart.spinCheckInterval` instructions of
    /// G, wherever the slice began) when another hart could run, and spins out its budget when none could.
    func testASpinLoopEndsTheSliceAtTheNextLookWhenAnotherHartCouldRun() {
        let interval = Hart.spinCheckInterval
        for wait in [[Assemble.lw(10, 0, 7), Assemble.bne(10, 0, -4)], [Assemble.lrD(10, 7), Assemble.bne(10, 0, -4)]] {
            transport.sent = []
            let runner = runner(Self.waitingOnAHeldLock(wait))
            run(runner, budget: 1_000_000, g: 10_000) { $0.spinHintsYield = true }
            XCTAssertEqual(transport.yields.last?.reason, .stopSpinHint)
            XCTAssertEqual(transport.yields.last?.executed, interval - 10_000, "at the first multiple of the interval")
            XCTAssertEqual(runner.hart.counters.spinLoopsLeft, 1)
            // Resumed with no other hart to run, it spins on to its budget.
            run(runner, budget: 100_000, g: interval) { $0.spinHintsYield = false }
            XCTAssertEqual(transport.yields.last?.reason, .stopBudget)
            XCTAssertEqual(transport.yields.last?.executed, 100_000)
        }
    }

    /// A debugger's breakpoint elsewhere at the page offset of a loop's instruction (the loop's page holds a breakpoint
    /// slot there, which runs the instruction) does not hide the loop from the look: the slice ends where it ends
    /// without the breakpoint (else a replay under a debugger diverged from its recording).
    func testABreakpointAtTheSameOffsetElsewhereDoesNotHideASpinLoop() {
        let runner = runner(Self.waitingOnAHeldLock([Assemble.lw(10, 0, 7), Assemble.bne(10, 0, -4)]))
        runner.hart.addBreakpoint(0x8000_0010)  // RAM, never run: the lw's page offset
        run(runner, budget: 1_000_000, g: 10_000) { $0.spinHintsYield = true }
        XCTAssertEqual(transport.yields.last?.reason, .stopSpinHint)
        XCTAssertEqual(transport.yields.last?.executed, Hart.spinCheckInterval - 10_000)
    }

    /// Loops that can end, or that change memory, are not spin loops: a count, a store in the loop, a register
    /// carried from one time round to the next (a pointer chased).
    func testLoopsThatMakeProgressRunTheirBudget() {
        let programs = [
            Self.countingLoop,
            Self.waitingOnAHeldLock([Assemble.sw(9, 0, 7), Assemble.lw(10, 0, 7), Assemble.bne(10, 0, -8)]),
            Self.waitingOnAHeldLock([Assemble.sd(7, 8, 7), Assemble.ld(7, 8, 7), Assemble.bne(7, 0, -4)]),
        ]
        for program in programs {
            transport.sent = []
            let runner = runner(program)
            run(runner, budget: 100_000) { $0.spinHintsYield = true }
            XCTAssertEqual(transport.yields.last?.reason, .stopBudget)
            XCTAssertEqual(runner.hart.counters.spinLoopsLeft, 0)
        }
    }

    /// A pause inside the slice (a checkpoint) moves no look for spin loops: the slice ends where it ends unpaused.
    func testAPauseDoesNotMoveWhereASpinLoopEndsTheSlice() {
        let program = Self.waitingOnAHeldLock([Assemble.lw(10, 0, 7), Assemble.bne(10, 0, -4)])
        let plain = runner(program)
        run(plain, budget: 1_000_000, g: 5) { $0.spinHintsYield = true }
        let expected = transport.yields.last!
        transport.sent = []
        let paused = runner(program)
        paused.pause(.checkpoint, afterRetired: 7_777)
        run(paused, budget: 1_000_000, g: 5) { $0.spinHintsYield = true }
        XCTAssertEqual(paused.hart.retired, 7_777)
        paused.resume(.checkpoint)
        XCTAssertEqual(transport.yields.last?.reason, .stopSpinHint)
        XCTAssertEqual(transport.yields.last?.executed, expected.executed)
        XCTAssertEqual(transport.yields.last?.stateHash, expected.stateHash)
    }

    /// The pause point is invisible: the same slice, paused at some instructions and resumed, ends with the
    /// same state, count and hash as without pauses, and keeps its LR/SC reservation across the pause.
    func testThePausePointChangesNothingTheGuestCanSee() {
        let program = [
            Assemble.addi(7, 0, 1), Assemble.slli(7, 7, 31),  // x7 = RAM base
            Assemble.lrD(8, 7),
            Assemble.addi(9, 0, 42),
            Assemble.scD(10, 9, 7),                            // x10 = 0: the reservation held
        ] + Self.countingLoop

        let plain = runner(program)
        run(plain, budget: 40)
        let expected = transport.yields.last!
        XCTAssertEqual(plain.hart.register(10), 0)

        transport.sent = []
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 20)  // the SC wrote 42 there
        let paused = runner(program)
        paused.pause(.checkpoint, afterRetired: 3)  // between the LR and the SC
        run(paused, budget: 40)
        XCTAssertEqual(transport.pauses, [.checkpoint])
        XCTAssertEqual(paused.hart.retired, 3, "stopped exactly there")
        XCTAssertTrue(paused.sliceActive, "the slice is not ended")
        XCTAssertTrue(transport.yields.isEmpty, "the sequencer hears nothing")
        paused.pause(.debugger)  // a second holder, while paused: reached at once
        paused.resume(.checkpoint)
        XCTAssertEqual(paused.hart.retired, 3, "still held by the debugger")
        paused.resume(.debugger, thenPauseAfter: 1)  // a single step
        XCTAssertEqual(paused.hart.retired, 4)
        paused.resume(.debugger)
        XCTAssertEqual(paused.hart.register(10), 0, "the SC after the pause still holds the reservation")
        XCTAssertEqual(transport.yields.count, 1)
        XCTAssertEqual(transport.yields.last?.executed, expected.executed)
        XCTAssertEqual(transport.yields.last?.stateHash, expected.stateHash)
        XCTAssertEqual(transport.yields.last?.pc, expected.pc)
    }

    func testAPauseBetweenSlicesHoldsTheNextRun() {
        let runner = runner(Self.countingLoop)
        runner.pause(.debugger)
        XCTAssertEqual(transport.pauses, [.debugger], "reached at once: nothing runs")
        run(runner, budget: 10)
        XCTAssertEqual(runner.hart.retired, 0)
        XCTAssertTrue(transport.yields.isEmpty)
        runner.resume(.debugger)
        XCTAssertEqual(transport.yields.map(\.executed), [10])
    }

    func testAPauseAtAGlobalCountStopsInTheSliceThatReachesIt() {
        let runner = runner(Self.countingLoop)
        runner.pause(.debugger, atG: 250)
        run(runner, budget: 100, g: 0)
        XCTAssertEqual(transport.yields.map(\.executed), [100], "G 0-100: not yet")
        run(runner, budget: 100, g: 200)
        XCTAssertEqual(transport.pauses, [.debugger])
        XCTAssertEqual(runner.currentG, 250)
        XCTAssertEqual(runner.hart.retired, 150, "50 instructions into the slice that began at G=200")
        runner.resume(.debugger)
        XCTAssertEqual(transport.yields.map(\.executed), [100, 100], "the slice goes on to its end as if nothing happened")
        XCTAssertNil(runner.currentG)
    }

    func testAPauseAskedForWhileAwaitingAnAnswerIsReachedRightAfterIt() {
        let runner = runner([Assemble.lui(6, 0x2000), Assemble.lw(7, 0, 6)] + Self.countingLoop)
        run(runner, budget: 100)
        XCTAssertTrue(runner.awaitingReply)
        runner.pause(.debugger)
        XCTAssertTrue(transport.pauses.isEmpty, "the load is half done: not a boundary")
        runner.receive(transport.reply(.with { $0.value = 9 }))
        XCTAssertEqual(transport.pauses, [.debugger])
        XCTAssertEqual(runner.hart.retired, 2, "the load completed, nothing after it ran")
        XCTAssertEqual(runner.hart.register(7), 9)
    }

    func testMessagesOutOfTurnEndTheHartWithAReason() {
        let runner = runner(Self.countingLoop)
        runner.receive(transport.reply(.with { $0.value = 1 }))
        XCTAssertEqual(transport.finished?.code, 1)
        XCTAssertTrue(transport.finished?.reason?.contains("unexpected MMIO reply") == true)
    }
}
