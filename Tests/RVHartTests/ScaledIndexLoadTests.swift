import XCTest
@testable import RVHart

/// The scaled-index load (`Op.shiftAddLw6`): a shift, an addition and a lw or ld off their sum, one dispatch.
final class ScaledIndexLoadTests: XCTestCase {
    let m = TestMachine()

    /// A walk driven by what it loads, through the three lengths of the form: c.slli, c.add, c.lw (6 bytes, a word
    /// sign-extended); c.slli, c.add, ld (8); slli, c.add, c.ld whose load writes its own base (8).
    private func loadProgram(into m: TestMachine) {
        let base = TestMachine.ramBase
        func halves(_ word: UInt32) -> [UInt16] { [UInt16(word & 0xffff), UInt16(word >> 16)] }
        let andi = { (rd: UInt32, rs1: UInt32, imm: Int32) in Asm.i(0x13, rd: rd, funct3: 7, rs1: rs1, imm: imm) }
        var code: [UInt16] = [0x078a, 0x97fa, 0x4394]  // 00: c.slli x15, 2; c.add x15, x30; c.lw x13, 0(x15)
        code += [0x87b6, 0x8bbd]  // 06: c.mv x15, x13; c.andi x15, 15
        code += [0x058e, 0x95ba] + halves(Asm.ld(9, 11, 16))  // 0a: c.slli x11, 3; c.add x11, x14; ld x9, 16(x11)
        code += halves(andi(11, 9, 7))  // 12
        code += halves(Asm.slli(12, 8, 3)) + [0x963a, 0x6610]  // 16: slli x12, x8, 3; c.add x12, x14; c.ld x12, 8(x12)
        code += halves(Asm.addi(8, 8, 1)) + halves(andi(8, 8, 7))  // 1e
        code += halves(Asm.jal(rd: 0, offset: -0x26))  // 26: back to 00
        m.put16(code, at: base)
        for index in 0..<16 { m.write32(base + 0x800 + 4 * UInt64(index), 0x8000_0000 | UInt32(index * 7 + 3)) }
        for index in 0..<10 { m.write64(base + 0x900 + 8 * UInt64(index), UInt64(index * 5 + 1) << 40 | UInt64(index * 3)) }
        for register in [8, 9, 11, 12, 13, 15] { m.set(register, 0) }
        m.set(30, base + 0x800)
        m.set(14, base + 0x900)
        m.hart.pc = base
    }

    private func state(_ m: TestMachine) -> [UInt64] {
        [m.hart.pc] + [8, 9, 11, 12, 13, 15].map { m.x($0) }
    }

    func testTheFormIsDecodedForAShiftPairAndALoadOffItsSumOnly() {
        loadProgram(into: m)
        m.step(15)
        func op(_ offset: UInt64) -> Op? { m.decodedOp(at: TestMachine.ramBase + offset) }
        XCTAssertEqual([op(0), op(0x0a), op(0x16)], [.shiftAddLw6, .shiftAddLd8, .shiftAddLd8])
        XCTAssertEqual([op(2), op(4), op(0x0e), op(0x1c)], [.cAdd, .cLw, .ld, .cLd], "the others keep their own slots")
        let pair = Decoder.fused(Decoder.decodeCompressed(0x078a), Decoder.decodeCompressed(0x97fa))!
        XCTAssertEqual(pair.op, .shiftAdd4)
        XCTAssertNil(Decoder.scaledIndexLoad(pair, Decoder.decode(Asm.lw(13, 14))), "a load off another register")
        XCTAssertNil(Decoder.scaledIndexLoad(pair, Decoder.decode(Asm.load(4, 13, 15, 0))), "an lbu")
        let long = Decoder.fused(Decoder.decode(Asm.slli(15, 15, 2)), Decoder.decode(Asm.add(15, 15, 30)))!
        XCTAssertNil(Decoder.scaledIndexLoad(long, Decoder.decode(Asm.lw(13, 15))), "12 bytes: beyond a fused slot's reach")
    }

    func testScaledIndexLoadsStopExactlyBetweenTheirInstructions() {
        let runs = m.assertBudgetsMatchSingleSteps(
            [1, 1, 1, 2, 3, 1, 2, 5, 7, 11, 1, 13, 4, 6, 2049, 2050, 1, 2, 3, 9, 4099, 17, 1, 8, 10],
            load: { self.loadProgram(into: $0) }, state: state)
        XCTAssertEqual(runs.x(13) >> 31, 0x1_ffff_ffff, "the word sign-extended")
        XCTAssertGreaterThan(runs.x(9), 1 << 40, "a doubleword loaded")
    }

    func testAFaultingLoadTrapsAtItsInstructionAfterTheShiftAndTheAddition() {
        // The walk runs fused, then its first table is moved to where nothing is: the c.lw's access fault comes after
        // the c.slli and the c.add retired, at the c.lw, with x13 unchanged. Near the budget's end and far from it.
        let nops = TestMachine.ramBase + 0x1_0000
        for budget: UInt64 in [2, 3, 3000] {
            loadProgram(into: m)
            m.installHandler(at: nops, nops: 4096)
            XCTAssertEqual(m.run(150), .budgetExhausted)
            XCTAssertEqual(m.hart.pc, TestMachine.ramBase, "at the walk's start after 10 rounds")
            let before = m.hart.retired, index = m.x(15), loaded = m.x(13)
            m.set(30, 0x7000_0000)
            XCTAssertEqual(m.run(budget), .budgetExhausted)
            XCTAssertEqual(m.hart.retired, before + budget)
            if budget == 2 {
                XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 4, "stopped at the load, not yet run")
                continue
            }
            XCTAssertEqual(m.hart.mcause, Cause.loadAccess)
            XCTAssertEqual(m.hart.mepc, TestMachine.ramBase + 4)
            XCTAssertEqual(m.hart.mtval, (index << 2) + 0x7000_0000)
            XCTAssertEqual(m.x(15), (index << 2) + 0x7000_0000, "the shift and the addition ran")
            XCTAssertEqual(m.x(13), loaded)
            XCTAssertEqual(m.hart.pc, nops + 4 * (m.hart.retired - before - 2), "budget \(budget)")
        }
    }
}
