@testable import RVHart
import XCTest

/// The kernel forms (`Op.lbuPair`): pairs a Linux boot runs often (libfdt's byte loads, memset's stores, PC-relative
/// addresses, word rotations), one dispatch each. They must stop, trap and count as their instructions do.
final class KernelFormTests: XCTestCase {
    let m = TestMachine()

    private static func lbu(_ rd: UInt32, _ rs1: UInt32, _ imm: Int32) -> UInt32 { Asm.load(4, rd, rs1, imm) }
    private static func slliw(_ rd: UInt32, _ rs1: UInt32, _ shamt: Int32) -> UInt32 {
        Asm.i(0x1b, rd: rd, funct3: 1, rs1: rs1, imm: shamt)
    }
    private static func srliw(_ rd: UInt32, _ rs1: UInt32, _ shamt: Int32) -> UInt32 {
        Asm.i(0x1b, rd: rd, funct3: 5, rs1: rs1, imm: shamt)
    }
    private static func sraiw(_ rd: UInt32, _ rs1: UInt32, _ shamt: Int32) -> UInt32 {
        Asm.i(0x1b, rd: rd, funct3: 5, rs1: rs1, imm: 0x400 | shamt)
    }
    private static func or(_ rd: UInt32, _ rs1: UInt32, _ rs2: UInt32) -> UInt32 { Asm.op(0, 6, rd, rs1, rs2) }
    /// c.or rd, rs2 (both x8-x15), as the second half of a word whose first half is `before`.
    private static func cOr(_ rd: UInt32, _ rs2: UInt32) -> UInt16 { UInt16(0x8c41 | (rd - 8) << 7 | (rs2 - 8) << 2) }
    private static func cMv(_ rd: UInt32, _ rs2: UInt32) -> UInt32 { 0x8002 | rd << 7 | rs2 << 2 }
    private static func cAdd(_ rd: UInt32, _ rs2: UInt32) -> UInt32 { 0x9002 | rd << 7 | rs2 << 2 }

    /// A loop (x20 counts its rounds) of: a big-endian load of the word at x10 + 4 as libfdt writes it (four lbu,
    /// slliw/or pairs); two lbu off different bases (never a pair); memset-like stores (sd, sd off x11);
    /// la x12 (auipc + addi) and an auipc whose addi adds to another register (never a pair); a rotation of x13 by 8
    /// (srliw, slliw, c.or) and one whose or reads the shifted value twice (never a pair); c.mv and c.add, each reading
    /// the one before; srliw then or; a halfword's sign extension (slliw, sraiw); a call and a tail call by auipc and
    /// jalr; the loop's branch. x10 at
    /// +0x3000, x11 at +0x3800.
    private func loadProgram(into machine: TestMachine? = nil) {
        let m = machine ?? self.m
        let base = TestMachine.ramBase
        var words: [UInt32] = [
            Self.lbu(15, 10, 4), Self.lbu(14, 10, 5), Self.lbu(16, 10, 7), Self.lbu(17, 10, 6),  // 00
            Self.slliw(15, 15, 24), Self.slliw(14, 14, 16), Self.or(15, 15, 14), Self.or(15, 15, 16),  // 10
            Self.slliw(17, 17, 8), Self.or(15, 15, 17),  // 20
            Self.lbu(19, 18, 0), Self.lbu(21, 10, 1),  // 28: two bases
            Asm.sd(15, 11, 0), Asm.sd(20, 11, 8), Asm.sd(13, 11, 16),  // 30
            Asm.auipc(12, 0x1000), Asm.addi(12, 12, -16),  // 3c
            Asm.auipc(5, 0x2000), Asm.addi(6, 5, 8),  // 44: the addi writes another register
            Self.srliw(8, 13, 8), Self.slliw(13, 13, 24),  // 4c
        ]
        // 54: c.or x8, x13 (the rotation's result in x8), then c.nop to keep the words aligned.
        words.append(UInt32(Self.cOr(8, 13)) | 0x0001 << 16)
        words += [
            Self.slliw(9, 8, 3), Self.or(9, 9, 9),  // 58: or of the shifted value with itself
            Asm.addi(13, 8, 1), Asm.addi(20, 20, 1),  // 60
            Asm.addi(18, 10, 4), Asm.addi(11, 11, 8),  // 68
            Self.cMv(28, 8) | Self.cAdd(28, 13) << 16, Self.cMv(29, 28) | Self.cMv(30, 29) << 16,  // 70: moves
            Self.srliw(31, 13, 4), Self.or(7, 31, 9),  // 78
            Self.slliw(24, 9, 16), Self.sraiw(24, 24, 16),  // 80: the halfword of x9, sign-extended
            Asm.auipc(1, 0), Asm.jalr(rd: 1, rs1: 1, imm: 0x18),  // 88: call 0xa0
            Asm.auipc(6, 0), Asm.jalr(rd: 0, rs1: 6, imm: 0x18),  // 90: tail call 0xa8
            Asm.nop, Asm.nop,  // 98
            Asm.addi(22, 22, 1), Asm.jalr(rd: 0, rs1: 1),  // a0: the callee
            Asm.jal(rd: 0, offset: -0xa8),  // a8: back to 00
        ]
        m.put(words, at: base)
        m.set(10, base + 0x3000)
        m.set(18, base + 0x3000)
        m.set(11, base + 0x3800)
        m.set(13, 0x1234_5678)
        m.write64(base + 0x3000, 0x89ab_cdef_0123_4567)
        m.write64(base + 0x3008, 0xfedc_ba98_7654_3210)
        m.hart.pc = base
    }

    private func state(_ m: TestMachine) -> [UInt64] {
        [m.hart.pc] + (1...31).map { m.x($0) } + (0..<40).map { m.read64(TestMachine.ramBase + 0x3800 + 8 * $0) }
    }

    func testKernelFormsAreDecodedForTheirPairsOnly() {
        loadProgram()
        m.step(44)
        func op(_ offset: UInt64) -> Op? { m.decodedOp(at: TestMachine.ramBase + offset) }
        XCTAssertEqual([op(0), op(4), op(8), op(0xc)], [.lbuPair, .lbuPair, .lbuPair, .lbu])
        XCTAssertEqual([op(0x10), op(0x14), op(0x20)], [.slliw, .slliwOr, .slliwOr])
        XCTAssertEqual(op(0x28), .lbu, "lbu off another base")
        XCTAssertEqual([op(0x30), op(0x34), op(0x38)], [.sdPair, .sdPair, .sd])
        XCTAssertEqual([op(0x3c), op(0x44)], [.auipcAddi, .auipc], "la only")
        XCTAssertEqual([op(0x4c), op(0x50)], [.srliw, .slliwOr])
        XCTAssertEqual(op(0x58), .slliw, "an or of the shifted value with itself is no pair")
        XCTAssertEqual([op(0x70), op(0x72), op(0x74), op(0x76)], [.cAddPair, .cAddPair, .cAddPair, .cAdd])
        XCTAssertEqual([op(0x78), op(0x80)], [.srliwOr, .slliwSraiw])
        XCTAssertEqual([op(0x88), op(0x90)], [.auipcJalr, .auipcJalr])
        XCTAssertNil(Decoder.kernelPair(Decoder.decode(Self.lbu(18, 18, 0)), Decoder.decode(Self.lbu(19, 18, 1))),
                     "an lbu writing the base pairs with no lbu after it")
        XCTAssertNil(Decoder.kernelPair(Decoder.decode(Asm.sd(8, 10, 0)), Decoder.decode(Asm.sd(9, 11, 8))), "two bases")
    }

    func testKernelFormsComputeWhatTheirInstructionsDo() {
        loadProgram()
        m.step(37)  // one round but the jal
        let base = TestMachine.ramBase
        XCTAssertEqual(m.x(15), 0xffff_ffff_efcd_ab89, "the big-endian word at +4, sign-extended")
        XCTAssertEqual(m.read64(base + 0x3800), 0xffff_ffff_efcd_ab89)
        XCTAssertEqual([m.x(19), m.x(21)], [0x67, 0x45])
        XCTAssertEqual(m.read64(base + 0x3808), 0)
        XCTAssertEqual(m.read64(base + 0x3810), 0x1234_5678)
        XCTAssertEqual(m.x(12), base + 0x3c + 0x1000 - 16)
        XCTAssertEqual([m.x(5), m.x(6)], [base + 0x44 + 0x2000, base + 0x44 + 0x2008])
        XCTAssertEqual(m.x(8), 0x7812_3456, "0x12345678 rotated right by 8")
        XCTAssertEqual(m.x(13), 0x7812_3457)
        XCTAssertEqual(m.x(9), 0xffff_ffff_c091_a2b0, "0x78123456 << 3 as a word, sign-extended")
        XCTAssertEqual([m.x(28), m.x(29), m.x(30)], [0xf024_68ad, 0xf024_68ad, 0xf024_68ad])
        XCTAssertEqual(m.x(31), 0x0781_2345)
        XCTAssertEqual(m.x(7), 0xffff_ffff_c791_a3f5)
        XCTAssertEqual(m.x(24), 0xffff_ffff_ffff_a2b0)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0x88)
        m.step(6)  // the call, the callee, the tail call
        XCTAssertEqual([m.hart.pc, m.x(1), m.x(6), m.x(22)],
                       [TestMachine.ramBase + 0xa8, TestMachine.ramBase + 0x90, TestMachine.ramBase + 0x90, 1])
    }

    /// Budgets that end inside pairs, in both dispatch modes (near and far events).
    private let budgets: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17, 19, 23, 2049, 2050, 2051, 1, 1, 3001, 2, 3]

    func testKernelFormsStopExactlyBetweenTheirInstructions() {
        m.assertBudgetsMatchSingleSteps(budgets, load: { self.loadProgram(into: $0) }, state: state)
    }

    func testAFaultingSecondStoreTrapsAtItsInstruction() {
        // sd x8, 0(x10); sd x9, 8(x10); back (an sd pair): the second store faults inside the pair.
        m.checkSecondStoreFaults(secondStore: 4, put: {
            $0.put([Asm.sd(8, 10, 0), Asm.sd(9, 10, 8), Asm.jal(rd: 0, offset: -8)], at: TestMachine.ramBase)
        }, decoded: { XCTAssertEqual($0.decodedOp(at: TestMachine.ramBase), .sdPair) })
    }

    func testBreakpointOnTheSecondOfAPair() {
        // Pairs decoded by now; a breakpoint on the second store of the sd pair at 30, then on the c.add at 72 (the
        // second of the pair at 70, the first of the one at 72): each run stops before it, its first having run.
        loadProgram()
        XCTAssertEqual(m.run(200), .budgetExhausted)
        let secondStore = TestMachine.ramBase + 0x34
        m.hart.addBreakpoint(secondStore)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual([m.hart.pc, m.hart.retired % 44], [secondStore, 13])
        XCTAssertEqual(m.read64(m.x(11)), m.x(15), "the first store ran")
        m.hart.removeBreakpoint(secondStore)
        let secondMove = TestMachine.ramBase + 0x72
        m.hart.addBreakpoint(secondMove)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual([m.hart.pc, m.hart.retired % 44], [secondMove, 30])
        XCTAssertEqual(m.x(28), m.x(8), "the c.mv ran")
        m.hart.removeBreakpoint(secondMove)
        XCTAssertEqual(m.run(1), .budgetExhausted)
        XCTAssertEqual(m.x(28), m.x(8) &+ m.x(13), "then the c.add")
    }

    func testOwnStoreIntoTheSecondOfAPair() {
        // auipc x12, 0; addi x12, x12, 4 (a pair) run once; then sw rewrites the addi to addi x12, x12, 8 and the pair
        // runs again: the new addi counts.
        let base = TestMachine.ramBase
        m.put([Asm.auipc(12, 0), Asm.addi(12, 12, 4), Asm.sw(6, 7, 0), Asm.jal(rd: 0, offset: -12)], at: base)
        m.set(7, base + 4)
        m.set(6, UInt64(Asm.addi(12, 12, 8)))
        m.hart.pc = base
        m.step(2)
        XCTAssertEqual(m.decodedOp(at: base), .auipcAddi)
        XCTAssertEqual(m.x(12), base + 4)
        m.step(4)
        XCTAssertEqual(m.x(12), base + 8)
    }
}
