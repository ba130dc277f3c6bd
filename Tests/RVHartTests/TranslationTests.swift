@testable import RVHart
import XCTest

/// The translating tier (`BlockTranslator`) against the interpreter: random loops of the instructions it
/// translates, run by a hart that translates every block it enters (`Translation.eager`) beside one that only
/// interprets, in budgets that end anywhere (inside blocks and their loops, in both dispatch modes), with loads,
/// stores and atomics that hit, cross a page, are misaligned, reach a device or fault, stores into the code itself and
/// breakpoints set and removed on the way. After every budget both harts must agree on pc, the instruction count,
/// every integer register, the whole architectural state (`stateHash`) and the stop reason; at the end, on memory.
final class TranslationTests: XCTestCase {
    static let code = TestMachine.ramBase
    static let handler = TestMachine.ramBase + 0x8000
    static let data = TestMachine.ramBase + 0x2_0000
    /// Registers the generated code reads as bases and never writes.
    static let dataBase: UInt32 = 20, deviceBase: UInt32 = 21, unmappedBase: UInt32 = 22, codeBase: UInt32 = 24
    static let counter: UInt32 = 23
    /// The address register of LR, SC and the AMOs (set just before each).
    static let atomicAddress: UInt32 = 16

    func testTranslatedBlocksRunAsTheInterpreterRunsThem() throws {
        try XCTSkipUnless(BlockTranslator.hostSupported, "no translating tier on this host")
        var translated = 0
        for seed in 1...300 {
            translated += compare(seed: UInt64(seed))
        }
        // The test is worth its name only if the tier ran: blocks were made.
        XCTAssertGreaterThan(translated, 500)
    }

    /// With an arena for a few blocks only, it fills again and again: every block is given up each time and the
    /// tier starts afresh (`Hart.restartTranslatedCode`), in the middle of the loops, and nothing of it shows.
    func testAFullArenaStartsAfreshAndChangesNothing() throws {
        try XCTSkipUnless(BlockTranslator.hostSupported, "no translating tier on this host")
        var restarts: UInt64 = 0, translated = 0
        for seed in 301...400 {
            translated += compare(seed: UInt64(seed), translatedCodeBytes: 4096) { restarts += $0.counters.translatedCodeRestarts }
        }
        XCTAssertGreaterThan(translated, 500)
        XCTAssertGreaterThan(restarts, 1000)
    }

    /// Runs one generated program on both harts; returns how many blocks the translating one made (and gives `end`
    /// that hart at the end).
    func compare(seed: UInt64, translatedCodeBytes: Int? = nil, end: (Hart) -> Void = { _ in }) -> Int {
        var random = SplitMix(state: seed)
        let program = Self.program(&random)
        let machines = [TestMachine(translation: .off),
                        TestMachine(translation: .eager, translatedCodeBytes: translatedCodeBytes)]
        defer { end(machines[1].hart) }
        for m in machines {
            m.put(program, at: Self.code)
            // The handler steps over the instruction that trapped (4 bytes: the program has no compressed ones).
            m.put([Asm.csrr(5, 0x341), Asm.addi(5, 5, 4), Asm.csrw(0x341, 5), Asm.mret], at: Self.handler)
            m.hart.mtvec = Self.handler
            for r in 1..<32 { m.set(r, Self.initialValue(r, seed: seed)) }
            m.set(Int(Self.dataBase), Self.data + 0x800)
            m.set(Int(Self.deviceBase), TestMachine.device + 0x800)
            m.set(Int(Self.unmappedBase), 0x4000_0000)
            m.set(Int(Self.codeBase), Self.code)
            m.set(Int(Self.counter), 1000)
            m.hart.pc = Self.code
        }
        for round in 0..<400 {
            let budget = random.next() % 5 == 0 ? 1 + random.next() % 5000 : 1 + random.next() % 60
            if random.next() % 50 == 0 {
                let address = Self.code + 4 * (random.next() % UInt64(program.count))
                for m in machines {
                    if m.hart.breakpointList.contains(address) { m.hart.removeBreakpoint(address) } else { m.hart.addBreakpoint(address) }
                }
            }
            var reasons: [StopReason] = []
            for m in machines {
                var reason = m.hart.run(budget: budget, globalCount: m.hart.retired)
                if reason == .mmio {
                    let access = m.hart.pendingAccess
                    m.hart.completeMMIO(value: access.isWrite ? 0 : access.address &* 0x9e37_79b9)
                    reason = m.hart.run(budget: 0, globalCount: m.hart.retired)
                }
                reasons.append(reason)
            }
            let (a, b) = (machines[0], machines[1])
            let where_ = "seed \(seed) round \(round)"
            XCTAssertEqual(reasons[0], reasons[1], where_)
            XCTAssertEqual(a.hart.pc, b.hart.pc, where_)
            XCTAssertEqual(a.hart.retired, b.hart.retired, where_)
            // The whole architectural state: CSRs (the floating-point flags too: translating runs host code) included.
            XCTAssertEqual(a.hart.stateHash(), b.hart.stateHash(), where_)
            for r in 1..<32 where a.x(r) != b.x(r) {
                XCTFail("\(where_): x\(r) \(String(a.x(r), radix: 16)) interpreted, \(String(b.x(r), radix: 16)) translated")
            }
            if a.hart.pc != b.hart.pc || a.hart.retired != b.hart.retired { return 0 }
        }
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: machines[0].ram, count: 0x3_0000)),
                       Array(UnsafeRawBufferPointer(start: machines[1].ram, count: 0x3_0000)), "seed \(seed): memory")
        return Int(machines[1].hart.counters.blocksTranslated)
    }

    static func initialValue(_ r: Int, seed: UInt64) -> UInt64 {
        var random = SplitMix(state: seed &* 31 &+ UInt64(r))
        let v = random.next()
        switch v % 5 {
        case 0: return v >> (v % 64)
        case 1: return UInt64(bitPattern: -Int64(v % 300))
        case 2: return [0, .max, 1 << 63, 0xffff_ffff_8000_0000, 0x8000_0000, 0xffff_ffff][Int((v >> 8) % 6)]
        default: return v
        }
    }

    /// A loop body of 6-40 random instructions (registers x1-x15 and x0), closed by a count-down branch back to its
    /// start, then a jump back to the program's start.
    static func program(_ random: inout SplitMix) -> [UInt32] {
        let length = 6 + Int(random.next() % 35)
        var words: [UInt32] = []
        func reg() -> UInt32 { random.next() % 12 == 0 ? 0 : UInt32(1 + random.next() % 15) }
        func imm12() -> Int32 {
            switch random.next() % 4 {
            case 0: return Int32(random.next() % 4096) - 2048
            case 1: return Int32(random.next() % 64) - 32
            case 2: return [0, -1, 2047, -2048, 1][Int(random.next() % 5)]
            default: return Int32(random.next() % 16)
            }
        }
        for index in 0..<length {
            let rd = reg(), rs1 = reg(), rs2 = reg()
            switch random.next() % 22 {
            case 0: words.append(Asm.lui(rd, UInt32(truncatingIfNeeded: random.next())))
            case 1: words.append(Asm.auipc(rd, UInt32(truncatingIfNeeded: random.next())))
            case 2, 3:
                // addi, slti, sltiu, xori, ori, andi; slli, srli, srai
                let funct3 = [0, 2, 3, 4, 6, 7, 1, 5, 5][Int(random.next() % 9)] as UInt32
                var imm = imm12()
                if funct3 == 1 || funct3 == 5 { imm = Int32(random.next() % 64) | (random.bit() && funct3 == 5 ? 0x400 : 0) }
                words.append(Asm.i(0x13, rd: rd, funct3: funct3, rs1: rs1, imm: imm))
            case 4:
                // addiw, slliw, srliw, sraiw
                let funct3 = [0, 1, 5][Int(random.next() % 3)] as UInt32
                let imm = funct3 == 0 ? imm12() : Int32(random.next() % 32) | (random.bit() && funct3 == 5 ? 0x400 : 0)
                words.append(Asm.i(0x1b, rd: rd, funct3: funct3, rs1: rs1, imm: imm))
            case 5, 6:
                // add sub sll slt sltu xor srl sra or and mul
                let (f7, f3) = [(0, 0), (0x20, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0x20, 5), (0, 6), (0, 7),
                                (1, 0)][Int(random.next() % 11)] as (UInt32, UInt32)
                words.append(Asm.op(f7, f3, rd, rs1, rs2))
            case 17:
                // div divu rem remu, and their word forms
                let f3 = UInt32(4 + random.next() % 4)
                // Often by 0 or -1 (the cases the M extension defines apart), or the most negative value by -1.
                if rs2 != 0 && random.bit() { words.append(Asm.addi(rs2, 0, random.bit() ? -1 : 0)) }
                if rs1 != 0 && random.next() % 4 == 0 { words.append(Asm.lui(rs1, 0x8000_0000)) }
                words.append(random.bit() ? Asm.op(1, f3, rd, rs1, rs2) : Asm.op32(1, f3, rd, rs1, rs2))
            case 18:
                words.append(0x0ff0_000f)  // fence
            case 19, 20:
                // LR, SC and the AMOs, 32- and 64-bit, at an address in x16 (aligned mostly): an LR then an SC to the
                // same address (the SC succeeds unless something between dropped the reservation), or either alone,
                // or one AMO.
                let width = UInt32(2 + random.next() % 2)
                words.append(Asm.addi(atomicAddress, base(&random), offset(&random, size: 1 << width)))
                switch random.next() % 4 {
                case 0:
                    words.append(Asm.amo(2, width: width, rd, atomicAddress, 0))
                    if random.bit() { words.append(Asm.amo(3, width: width, rs1, atomicAddress, rs2)) }
                case 1:
                    words.append(Asm.amo(random.bit() ? 2 : 3, width: width, rd, atomicAddress, rs2 & (random.bit() ? 0 : 31)))
                default:
                    let funct5 = [0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c][Int(random.next() % 9)] as UInt32
                    words.append(Asm.amo(funct5, width: width, rd, atomicAddress, rs2))
                }
            case 7:
                // addw subw sllw srlw sraw mulw
                let (f7, f3) = [(0, 0), (0x20, 0), (0, 1), (0, 5), (0x20, 5), (1, 0)][Int(random.next() % 6)] as (UInt32, UInt32)
                words.append(Asm.op32(f7, f3, rd, rs1, rs2))
            case 8, 9, 10:
                // Loads: lb lh lw ld lbu lhu lwu, mostly aligned in the data area.
                let funct3 = [0, 1, 2, 3, 4, 5, 6][Int(random.next() % 7)] as UInt32
                words.append(Asm.load(funct3, rd, base(&random), offset(&random, size: 1 << (funct3 & 3))))
            case 11, 12, 13:
                let funct3 = UInt32(random.next() % 4)
                let base = random.next() % 40 == 0 ? codeBase : base(&random)
                let off = base == codeBase ? Int32(4 * (random.next() % UInt64(length))) : offset(&random, size: 1 << funct3)
                words.append(Asm.store(funct3, rs2, base, off))
            case 14, 15:
                // A branch forward within the body, or back to its start.
                let funct3 = [0, 1, 4, 5, 6, 7][Int(random.next() % 6)] as UInt32
                let remaining = length - index
                let target = random.next() % 4 == 0 ? -4 * index : 4 * (1 + Int(random.next() % UInt64(remaining)))
                words.append(Asm.b(funct3: funct3, rs1: rs1, rs2: rs2, offset: Int32(target)))
            case 16:
                // A call to the next instruction (rd = its address) or a jump through a register to it.
                if random.bit() {
                    words.append(Asm.jal(rd: rd, offset: 4))
                } else {
                    words.append(Asm.auipc(rd == 0 ? 16 : rd, 0))
                    words.append(Asm.jalr(rd: rs2, rs1: rd == 0 ? 16 : rd, imm: 8))
                }
            default:
                words.append(Asm.op(0, 0, rd, rs1, rs2))
            }
        }
        // Count down and go round; then back to the start with the counter refilled.
        words.append(Asm.addi(counter, counter, -1))
        let body = words.count
        words.append(Asm.b(funct3: 1, rs1: counter, rs2: 0, offset: Int32(-4 * body)))
        words.append(Asm.addi(counter, 0, 100))
        words.append(Asm.jal(rd: 0, offset: Int32(-4 * (body + 2))))
        return words
    }

    /// The base register of a load or store: the data area mostly, sometimes a device or an address with no memory.
    static func base(_ random: inout SplitMix) -> UInt32 {
        switch random.next() % 30 {
        case 0: return deviceBase
        case 1: return unmappedBase
        default: return dataBase
        }
    }

    /// An offset from the base for an access of `size` bytes: aligned mostly, sometimes misaligned, sometimes across
    /// the data area's page boundaries.
    static func offset(_ random: inout SplitMix, size: Int) -> Int32 {
        let raw = Int32(random.next() % 4096) - 2048
        switch random.next() % 10 {
        case 0: return raw
        case 1: return 0x800 - Int32(size / 2)  // across the page boundary 0x800 past the base
        default: return raw & ~Int32(size - 1)
        }
    }
}
