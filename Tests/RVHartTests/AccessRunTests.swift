@testable import RVHart
import XCTest

/// Runs of compressed doubleword stores and loads off one base register (`Op.cSdRun2`): the register saves and
/// restores of a kernel function, one dispatch for the run. They must stop, trap and count as their instructions do.
final class AccessRunTests: XCTestCase {
    let m = TestMachine()

    /// c.sdsp rs2, offset(sp).
    private func cSdsp(_ rs2: UInt16, _ offset: UInt16) -> UInt16 {
        0xe002 | (offset >> 3 & 7) << 10 | (offset >> 6 & 7) << 7 | rs2 << 2
    }

    /// c.ldsp rd, offset(sp).
    private func cLdsp(_ rd: UInt16, _ offset: UInt16) -> UInt16 {
        0x6002 | (offset >> 5 & 1) << 12 | rd << 7 | (offset >> 3 & 3) << 5 | (offset >> 6 & 7) << 2
    }

    /// c.sd rs2, offset(rs1) (both x8-x15).
    private func cSd(_ rs2: UInt16, _ offset: UInt16, _ rs1: UInt16) -> UInt16 {
        0xe000 | (offset >> 3 & 7) << 10 | (rs1 - 8) << 7 | (offset >> 6 & 3) << 5 | (rs2 - 8) << 2
    }

    /// c.ld rd, offset(rs1) (both x8-x15).
    private func cLd(_ rd: UInt16, _ offset: UInt16, _ rs1: UInt16) -> UInt16 {
        0x6000 | (offset >> 3 & 7) << 10 | (rs1 - 8) << 7 | (offset >> 6 & 3) << 5 | (rd - 8) << 2
    }

    /// c.addi rd, imm (0 < imm < 32).
    private func cAddi(_ rd: UInt16, _ imm: UInt16) -> UInt16 { 0x0001 | rd << 7 | imm << 2 }

    /// c.addi16sp imm (a multiple of 16).
    private func cAddi16sp(_ imm: Int) -> UInt16 {
        let u = UInt16(truncatingIfNeeded: imm)
        return 0x6101 | (u >> 9 & 1) << 12 | (u >> 4 & 1) << 6 | (u >> 6 & 1) << 5 | (u >> 7 & 3) << 3 | (u >> 5 & 1) << 2
    }

    private func halves(_ word: UInt32) -> [UInt16] { [UInt16(word & 0xffff), UInt16(word >> 16)] }

    /// A loop of two function bodies (17 instructions): push (c.addi16sp -32, two saves), a save of sp itself (never
    /// part of a push), two additions, pop (two restores, c.addi16sp 32); then push (c.addi16sp -16, one save), a
    /// save of sp, two restores of which the second writes sp (never part of a pop), the adjustment back. sp at
    /// +0x3800.
    private func loadPushesAndPops(into machine: TestMachine? = nil) {
        let m = machine ?? self.m
        let code: [UInt16] = [
            cAddi16sp(-32), cSdsp(1, 24), cSdsp(8, 16), cSdsp(2, 8),  // 00
            cAddi(8, 1), cAddi(1, 3),  // 08
            cLdsp(1, 24), cLdsp(8, 16), cAddi16sp(32),  // 0c
            cAddi(9, 1),  // 12
            cAddi16sp(-16), cSdsp(9, 0), cSdsp(2, 8),  // 14
            cLdsp(11, 8), cLdsp(2, 8), cAddi16sp(16),  // 1a
        ] + halves(Asm.jal(rd: 0, offset: -0x20))  // 20: back to 00
        m.put16(code, at: TestMachine.ramBase)
        m.set(2, TestMachine.ramBase + 0x3800)
        m.set(1, 0x100)
        m.set(8, 0x800)
        m.hart.pc = TestMachine.ramBase
    }

    /// Budgets that end inside runs, in both dispatch modes (near and far events).
    private let budgets: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 2049, 2050, 2051, 2052, 3001, 1, 1, 1, 4000, 2, 3]

    private func stackState(_ m: TestMachine) -> [UInt64] {
        [m.hart.pc] + (1...11).map { m.x($0) } + (0..<4).map { m.read64(TestMachine.ramBase + 0x37e0 + 8 * $0) }
            + (0..<2).map { m.read64(TestMachine.ramBase + 0x37f0 + 8 * $0) }
    }

    func testPushesAndPopsAreDecodedWithTheirStackAdjustment() {
        loadPushesAndPops()
        m.step(20)
        func op(_ offset: UInt64) -> Op? { m.decodedOp(at: TestMachine.ramBase + offset) }
        // The save of sp is not part of the push before it; it pairs with the addition after it (a fused store pair).
        XCTAssertEqual([op(0), op(6), op(0xc), op(0x14)], [.pushRun3, .cSdCAddi, .popRun3, .pushRun2],
                       "a save of sp ends a push")
        XCTAssertEqual([op(0x1a), op(0x1c)], [.cLdRun2, .cLd], "a restore of sp is never part of a pop")
    }

    func testPushesAndPopsStopExactlyBetweenTheirInstructions() {
        let runs = m.assertBudgetsMatchSingleSteps(budgets, load: { self.loadPushesAndPops(into: $0) },
                                                   state: stackState)
        let total = runs.hart.retired
        XCTAssertEqual(runs.x(2), TestMachine.ramBase + 0x3800 - (total % 17 >= 1 && total % 17 <= 8 ? 32 : 0)
                       - (total % 17 >= 11 && total % 17 <= 15 ? 16 : 0), "sp")
    }

    /// A loop (23 instructions) calling three functions: f1 at +0x40 pushes two saves and pops them with its return
    /// (`Op.popReturn4`), f2 at +0x60 one (`Op.popReturn3`), f3 at +0x80 adjusts sp without saves (`Op.popReturn2`).
    private func loadCalls(into machine: TestMachine? = nil) {
        let m = machine ?? self.m
        let base = TestMachine.ramBase
        let ret: UInt16 = 0x8082  // c.jr ra
        m.put16(halves(Asm.jal(rd: 1, offset: 0x40)) + halves(Asm.jal(rd: 1, offset: 0x5c))
                + halves(Asm.jal(rd: 1, offset: 0x78)) + [cAddi(9, 1)] + halves(Asm.jal(rd: 0, offset: -0xe)), at: base)
        m.put16([cAddi16sp(-16), cSdsp(1, 8), cSdsp(8, 0), cAddi(8, 5), cLdsp(1, 8), cLdsp(8, 0), cAddi16sp(16), ret],
                at: base + 0x40)
        m.put16([cAddi16sp(-16), cSdsp(1, 8), cAddi(10, 7), cLdsp(1, 8), cAddi16sp(16), ret], at: base + 0x60)
        m.put16([cAddi16sp(-16), cAddi(11, 1), cAddi16sp(16), ret], at: base + 0x80)
        m.set(2, base + 0x3800)
        m.set(8, 0x800)
        m.hart.pc = base
    }

    func testPopsWithTheirReturnAreDecodedAndStopExactly() {
        let decoded = TestMachine()
        loadCalls(into: decoded)
        decoded.step(30)
        func op(_ offset: UInt64) -> Op? { decoded.decodedOp(at: TestMachine.ramBase + offset) }
        XCTAssertEqual([op(0x40), op(0x48), op(0x60), op(0x66), op(0x84)],
                       [.pushRun3, .popReturn4, .pushRun2, .popReturn3, .popReturn2])
        m.assertBudgetsMatchSingleSteps(budgets, load: { self.loadCalls(into: $0) }, state: stackState)
    }

    func testBreakpointOnTheReturnOfAPop() {
        loadCalls()
        XCTAssertEqual(m.run(100), .budgetExhausted)
        let ret = TestMachine.ramBase + 0x4e
        m.hart.addBreakpoint(ret)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, ret)
        XCTAssertEqual(m.hart.retired % 23, 8)
        XCTAssertEqual(m.x(1), TestMachine.ramBase + 4, "restored before the return")
        XCTAssertEqual(m.x(2), TestMachine.ramBase + 0x3800)
    }

    func testAFaultingSaveOfAPushTrapsAfterTheAdjustment() {
        // sp 8 bytes past the end of RAM: the push's adjustment retires, its first save (to the end of RAM) traps.
        let nops = TestMachine.ramBase + 0x1_0000
        let end = TestMachine.ramBase + TestMachine.ramSize
        for budget: UInt64 in [3, 3000] {
            loadPushesAndPops()
            XCTAssertEqual(m.run(34), .budgetExhausted)  // twice round the loop, the push decoded as one
            m.installHandler(at: nops, nops: 4096)
            m.set(2, end + 8)
            let before = m.hart.retired
            XCTAssertEqual(m.run(budget), .budgetExhausted)
            XCTAssertEqual(m.hart.mcause, Cause.storeAccess)
            XCTAssertEqual(m.hart.mepc, TestMachine.ramBase + 2)
            XCTAssertEqual(m.hart.mtval, end)
            XCTAssertEqual(m.x(2), end - 24)
            XCTAssertEqual(m.hart.pc, nops + 4 * (m.hart.retired - before - 1), "budget \(budget)")
        }
    }

    /// A loop of runs (30 instructions): four saves off sp, three restores, two c.sd and two c.ld off x10 (the second
    /// writes x10, as a run's last may), three c.ld off x12 whose second writes x12 (so the third must use the new x12:
    /// the run is the first two only), six saves and six restores (runs of four and two). The data is on the next page but one (a store to the code's own page always leaves the
    /// fast path): stack at +0x2800, x10's data at +0x2a00 (holding x10 itself), x12 alternates between +0x2c00 and
    /// +0x2c80, which point at each other.
    private func loadRuns(into machine: TestMachine? = nil) {
        let m = machine ?? self.m
        let base = TestMachine.ramBase
        let code: [UInt16] = [
            cSdsp(1, 0), cSdsp(8, 8), cSdsp(9, 16), cSdsp(18, 24),  // 00
            cLdsp(5, 8), cLdsp(6, 16), cLdsp(7, 0),  // 08
            cAddi(1, 3),  // 0e
            cSd(8, 0, 10), cSd(9, 8, 10),  // 10: stores x8 (= x10) at 0(x10)
            cLd(11, 8, 10), cLd(10, 0, 10),  // 14
            cLd(13, 0, 12), cLd(12, 8, 12), cLd(14, 16, 12),  // 18
            cAddi(9, 1), cAddi(18, 5),  // 1e
            cSdsp(1, 32), cSdsp(8, 40), cSdsp(9, 48), cSdsp(18, 56), cSdsp(7, 64), cSdsp(6, 72),  // 22
            cLdsp(21, 72), cLdsp(22, 64), cLdsp(23, 56), cLdsp(24, 48), cLdsp(25, 40), cLdsp(26, 32),  // 2e
        ] + halves(Asm.jal(rd: 0, offset: -0x3a))  // 3a: back to 00
        m.put16(code, at: base)
        m.set(2, base + 0x2800)
        m.set(8, base + 0x2a00)
        m.set(10, base + 0x2a00)
        m.set(12, base + 0x2c00)
        m.write64(base + 0x2c00, 0x1111)
        m.write64(base + 0x2c08, base + 0x2c80)
        m.write64(base + 0x2c10, 0x2222)
        m.write64(base + 0x2c80, 0x3333)
        m.write64(base + 0x2c88, base + 0x2c00)
        m.write64(base + 0x2c90, 0x4444)
        m.hart.pc = base
    }

    private func state(_ m: TestMachine) -> [UInt64] {
        [m.hart.pc] + (1...26).map { m.x($0) } + (0..<10).map { m.read64(TestMachine.ramBase + 0x2800 + 8 * $0) }
            + [0x2a00, 0x2a08].map { m.read64(TestMachine.ramBase + $0) }
    }

    func testAccessRunsAreDecodedForTheKernelsSavesAndRestores() {
        loadRuns()
        m.step(20)
        XCTAssertEqual(m.hart.retired, 20)
        func op(_ offset: UInt64) -> Op? { m.decodedOp(at: TestMachine.ramBase + offset) }
        XCTAssertEqual([op(0), op(2), op(4), op(6)], [.cSdRun4, .cSdRun3, .cSdRun2, .cSd])
        XCTAssertEqual([op(8), op(0xa), op(0xc)], [.cLdRun3, .cLdRun2, .cLd])
        XCTAssertEqual([op(0x10), op(0x14)], [.cSdRun2, .cLdRun2])
        XCTAssertEqual([op(0x18), op(0x1a)], [.cLdRun2, .cLd], "a load writing the base ends the run")
        XCTAssertEqual([op(0x22), op(0x26), op(0x28), op(0x2e), op(0x32), op(0x36)],
                       [.cSdRun4, .cSdRun4, .cSdRun3, .cLdRun4, .cLdRun4, .cLdRun2], "runs of at most four")
    }

    func testAccessRunsStopExactlyBetweenTheirInstructions() {
        m.assertBudgetsMatchSingleSteps(budgets, load: { self.loadRuns(into: $0) }, state: state)
    }

    func testBreakpointAndOwnStoreInsideARun() {
        loadRuns()
        XCTAssertEqual(m.run(100), .budgetExhausted)
        // The fourth save of the run at 00 (already decoded as one run of four): the run must stop before it.
        let fourth = TestMachine.ramBase + 6
        m.hart.addBreakpoint(fourth)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, fourth)
        XCTAssertEqual(m.hart.retired % 30, 3)
        m.hart.removeBreakpoint(fourth)
        // The program's own store (sh) turns the fourth save (c.sdsp x18, 24) into c.sdsp x1, 24: the run must store x1.
        m.write32(TestMachine.ramBase + 0x200, Asm.store(1, 14, 13, 0))
        m.write32(TestMachine.ramBase + 0x204, Asm.jal(rd: 0, offset: -0x204))
        m.set(13, fourth)
        m.set(14, UInt64(cSdsp(1, 24)))
        m.hart.pc = TestMachine.ramBase + 0x200
        m.set(1, 0x5555)
        XCTAssertEqual(m.run(6), .budgetExhausted)  // sh, jal, the run of four
        XCTAssertEqual(m.read64(TestMachine.ramBase + 0x2818), 0x5555)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 8)
    }

    func testBreakpointAndOwnStoreOnTheLastOfSixSaves() {
        loadRuns()
        XCTAssertEqual(m.run(100), .budgetExhausted)
        // The sixth save at 2c (the runs from 22 to 2a are decoded by now): the runs must stop before it.
        let sixth = TestMachine.ramBase + 0x2c
        m.hart.addBreakpoint(sixth)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, sixth)
        XCTAssertEqual(m.hart.retired % 30, 22)
        XCTAssertEqual(m.read64(TestMachine.ramBase + 0x2840), m.x(7), "the fifth save ran")
        XCTAssertNotEqual(m.read64(TestMachine.ramBase + 0x2848), m.x(6), "the sixth did not (x6 changes every pass)")
        m.hart.removeBreakpoint(sixth)
        XCTAssertEqual(m.run(30), .budgetExhausted)  // through the runs again: decoded as runs again
        // The program's own store (sh) turns the sixth save into c.sdsp x1, 72: the run from 26 must store x1 there.
        m.write32(TestMachine.ramBase + 0x200, Asm.store(1, 14, 13, 0))
        m.write32(TestMachine.ramBase + 0x204, Asm.jal(rd: 0, offset: -0x1e2))  // -> 22
        m.set(13, sixth)
        m.set(14, UInt64(cSdsp(1, 72)))
        m.set(1, 0x6666)
        m.hart.pc = TestMachine.ramBase + 0x200
        XCTAssertEqual(m.run(8), .budgetExhausted)  // sh, jal, the six saves
        XCTAssertEqual(m.read64(TestMachine.ramBase + 0x2848), 0x6666)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0x2e)
    }

    /// A loop: four saves (one run of four at 00), c.nop at 08, c.addi x1, 1, an sh at 0c writing x11 at x12 and a jump
    /// back. sp at +0x3800.
    private func loadRunBeforeAStoreTarget() {
        let base = TestMachine.ramBase
        m.put16([cSdsp(1, 24), cSdsp(8, 16), cSdsp(9, 8), cSdsp(10, 0), 0x0001, cAddi(1, 1)]
                + halves(Asm.store(1, 11, 12, 0)) + halves(Asm.jal(rd: 0, offset: -0x10)), at: base)
        m.set(2, base + 0x3800)
        for (register, value) in [(1, 0x100), (8, 0x800), (9, 0x900), (10, 0xa00)] as [(Int, UInt64)] { m.set(register, value) }
        m.hart.pc = base
    }

    private func assertTheSavesAreWhole(file: StaticString = #filePath, line: UInt = #line) {
        let saves = (0..<4).map { m.read64(TestMachine.ramBase + 0x3800 + 8 * UInt64($0)) }
        XCTAssertEqual(saves, [0xa00, 0x900, 0x800, m.x(1) - 1], "each register where its save puts it", file: file, line: line)
    }

    func testAStoreJustPastARunLeavesTheRunWhole() {
        // The sh rewrites the c.nop at 08 with itself (x11 = its bytes): a store into decoded code 8 bytes past the
        // run's start, 2 past its last save. The run must keep storing its own registers.
        loadRunBeforeAStoreTarget()
        m.set(11, 0x0001)
        m.set(12, TestMachine.ramBase + 8)
        XCTAssertEqual(m.run(5), .budgetExhausted)  // the saves, the c.nop
        XCTAssertEqual(m.decodedOp(at: TestMachine.ramBase), .cSdRun4)
        XCTAssertEqual(m.run(19), .budgetExhausted)  // the pass's end and two more, the code written each time
        assertTheSavesAreWhole()
    }

    func testABreakpointJustPastARunInAnotherPageLeavesTheRunWhole() {
        // A breakpoint at offset 08 of another page marks that offset in every decoded page: the run at 00 must
        // still store its own registers (with a breakpoint set and then removed, as a debugger does).
        loadRunBeforeAStoreTarget()
        m.set(11, 0)
        m.set(12, TestMachine.ramBase + 0x2000)  // the sh writes data
        XCTAssertEqual(m.run(8), .budgetExhausted)
        XCTAssertEqual(m.decodedOp(at: TestMachine.ramBase), .cSdRun4)
        m.hart.addBreakpoint(TestMachine.ramBase + 0x5008)
        XCTAssertEqual(m.run(16), .budgetExhausted)
        assertTheSavesAreWhole()
        m.hart.removeBreakpoint(TestMachine.ramBase + 0x5008)
        XCTAssertEqual(m.run(16), .budgetExhausted)
        assertTheSavesAreWhole()
    }

    /// Setting and removing a breakpoint changes which slots are decoded nowhere (a look for a spin loop reads only
    /// decoded slots, and a debugger must not move where a slice ends): the slots it reaches are decoded again at once.
    func testABreakpointChangesNotWhichSlotsAreDecoded() {
        loadRunBeforeAStoreTarget()
        m.set(11, 0)
        m.set(12, TestMachine.ramBase + 0x2000)
        XCTAssertEqual(m.run(16), .budgetExhausted)
        func decoded() -> [Bool] { stride(from: 0, to: 0x14, by: 2).map { m.decodedOp(at: TestMachine.ramBase + UInt64($0)) != .undecoded } }
        let before = decoded()
        XCTAssertEqual(before.filter { $0 }.count, 8, "the saves, c.nop, c.addi, sh and jal: \(before)")
        m.hart.addBreakpoint(TestMachine.ramBase + 0x5006)  // the last save's page offset, in another page
        XCTAssertEqual(m.decodedOp(at: TestMachine.ramBase + 6), .breakpoint)
        XCTAssertEqual(decoded(), before)
        m.hart.removeBreakpoint(TestMachine.ramBase + 0x5006)
        XCTAssertEqual(m.decodedOp(at: TestMachine.ramBase + 6), .cSd)
        XCTAssertEqual(decoded(), before)
        XCTAssertEqual(m.run(16), .budgetExhausted)
        assertTheSavesAreWhole()
    }

    func testAFaultInsideARunTrapsAtItsInstruction() {
        // c.sd x8, 0(x10); c.sd x9, 8(x10); back: the second store faults inside the run.
        m.checkSecondStoreFaults(secondStore: 2) {
            $0.put16([cSd(8, 0, 10), cSd(9, 8, 10)] + halves(Asm.jal(rd: 0, offset: -4)), at: TestMachine.ramBase)
        }
    }
}
