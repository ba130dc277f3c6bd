@testable import RVHart
import XCTest

final class TrapTests: XCTestCase {
    let m = TestMachine()
    let handler = TestMachine.ramBase + 0x400
    let supervisorHandler = TestMachine.ramBase + 0x500

    /// Runs one instruction at RAM base in `mode`; returns the pc afterwards.
    @discardableResult
    private func trapOn(_ word: UInt32, mode: PrivilegeMode = .machine) -> UInt64 {
        m.put([word])
        m.hart.pc = TestMachine.ramBase
        m.hart.forcePrivilege(mode)
        let before = m.hart.retired
        XCTAssertEqual(m.run(1), .budgetExhausted)
        XCTAssertEqual(m.hart.retired - before, 1, "the handler's first instruction retired, not the trapping one")
        return m.hart.pc
    }

    func testIllegalInstructionReportsBits() {
        m.installHandler(at: handler)
        XCTAssertEqual(trapOn(0xffff_ffff), handler + 4)
        XCTAssertEqual(m.csr(0x342), 2)
        XCTAssertEqual(m.csr(0x343), 0xffff_ffff)
        XCTAssertEqual(m.csr(0x341), TestMachine.ramBase)
        // A compressed illegal instruction reports its 16 bits.
        m.put16([0x0000], at: TestMachine.ramBase)
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        XCTAssertEqual(m.csr(0x343), 0)
        XCTAssertEqual(m.csr(0x342), 2)
    }

    func testEcallCausesByPrivilegeAndStatusStack() {
        m.installHandler(at: handler)
        trapOn(Asm.ecall, mode: .user)
        XCTAssertEqual(m.csr(0x342), 8)
        XCTAssertEqual(m.hart.privilege, .machine)
        XCTAssertEqual((m.csr(0x300) >> 11) & 3, 0, "MPP = U")
        trapOn(Asm.ecall, mode: .supervisor)
        XCTAssertEqual(m.csr(0x342), 9)
        XCTAssertEqual((m.csr(0x300) >> 11) & 3, 1, "MPP = S")
        trapOn(Asm.ecall, mode: .machine)
        XCTAssertEqual(m.csr(0x342), 11)
        trapOn(Asm.ebreak)
        XCTAssertEqual(m.csr(0x342), 3)
        XCTAssertEqual(m.csr(0x343), TestMachine.ramBase)
    }

    func testDelegationToSupervisor() {
        m.installHandler(at: handler)
        m.installHandler(at: supervisorHandler, mode: .supervisor)
        m.hart.medeleg = 1 << 8  // ecall from U
        m.hart.mstatus |= MStatus.sie
        XCTAssertEqual(trapOn(Asm.ecall, mode: .user), supervisorHandler + 4)
        XCTAssertEqual(m.hart.privilege, .supervisor)
        XCTAssertEqual(m.csr(0x142), 8)
        XCTAssertEqual(m.csr(0x141), TestMachine.ramBase)
        let sstatus = m.csr(0x100)
        XCTAssertEqual(sstatus & MStatus.spp, 0, "SPP = U")
        XCTAssertEqual(sstatus & MStatus.spie, MStatus.spie, "SPIE = old SIE")
        XCTAssertEqual(sstatus & MStatus.sie, 0)
        // Exceptions in M-mode are never delegated.
        m.hart.medeleg = 1 << 2
        XCTAssertEqual(trapOn(0xffff_ffff, mode: .machine), handler + 4)
        XCTAssertEqual(m.csr(0x342), 2)
        // ecall from M cannot be delegated (medeleg bit 11 is read-only zero).
        m.hart.writeCSR(0x302, .max, executed: 0)
        XCTAssertEqual(m.csr(0x302) & (1 << 11), 0)
    }

    func testMretAndSretRestorePrivilege() {
        m.hart.mepc = TestMachine.ramBase + 0x100
        m.hart.mstatus = (m.hart.mstatus & ~MStatus.mpp) | 1 << 11 | MStatus.mpie | MStatus.mprv
        m.put([Asm.nop], at: TestMachine.ramBase + 0x100)
        XCTAssertEqual(trapOn(Asm.mret) , TestMachine.ramBase + 0x100)
        XCTAssertEqual(m.hart.privilege, .supervisor)
        XCTAssertEqual(m.hart.mstatus & MStatus.mie, MStatus.mie, "MIE = MPIE")
        XCTAssertEqual(m.hart.mstatus & MStatus.mpp, 0, "MPP = U")
        XCTAssertEqual(m.hart.mstatus & MStatus.mprv, 0, "MPRV cleared when leaving M")
        m.hart.sepc = TestMachine.ramBase + 0x100
        m.hart.mstatus &= ~MStatus.spp
        trapOn(Asm.sret, mode: .supervisor)
        XCTAssertEqual(m.hart.privilege, .user)
        // xRET from too low a privilege is illegal; SRET with TSR is illegal in S.
        m.installHandler(at: handler)
        trapOn(Asm.mret, mode: .supervisor)
        XCTAssertEqual(m.csr(0x342), 2)
        m.hart.mstatus |= MStatus.tsr
        trapOn(Asm.sret, mode: .supervisor)
        XCTAssertEqual(m.csr(0x342), 2)
        trapOn(Asm.sret, mode: .user)
        XCTAssertEqual(m.csr(0x342), 2)
    }

    func testInterruptsRespectEnablesDelegationAndPriority() {
        m.installHandler(at: handler)
        m.installHandler(at: supervisorHandler, mode: .supervisor)
        m.put([Asm.nop, Asm.nop, Asm.nop, Asm.nop])
        m.hart.pc = TestMachine.ramBase
        m.hart.mie = Interrupt.mtip | Interrupt.meip | Interrupt.seip
        m.hart.setInterruptLines(Interrupt.mtip | Interrupt.meip)
        // M-mode with MIE clear: nothing is taken.
        m.step(1)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 4)
        // MIE set: MEI wins over MTI; the instruction after the check is the handler's.
        m.hart.mstatus |= MStatus.mie
        m.step(1)
        XCTAssertEqual(m.csr(0x342), Cause.interruptFlag | 11)
        XCTAssertEqual(m.csr(0x341), TestMachine.ramBase + 4)
        XCTAssertEqual(m.hart.pc, handler + 4)
        // A delegated supervisor interrupt is taken in U-mode even with SIE clear, but not in M-mode.
        m.hart.setInterruptLines(Interrupt.seip)
        m.hart.mideleg = Interrupt.seip
        m.hart.pc = TestMachine.ramBase
        m.hart.mstatus |= MStatus.mie
        m.step(1)
        XCTAssertEqual(m.hart.privilege, .machine)
        m.hart.forcePrivilege(.user)
        m.hart.pc = TestMachine.ramBase
        m.step(1)
        XCTAssertEqual(m.hart.privilege, .supervisor)
        XCTAssertEqual(m.csr(0x142), Cause.interruptFlag | 9)
        XCTAssertEqual(m.hart.pc, supervisorHandler + 4)
    }

    func testVectoredInterruptsAndDirectExceptions() {
        m.hart.mtvec = handler | 1
        m.put([Asm.nop, Asm.nop], at: handler + 4 * 7)
        m.put([Asm.nop, Asm.nop], at: handler)
        m.put([Asm.nop])
        m.hart.pc = TestMachine.ramBase
        m.hart.mie = Interrupt.mtip
        m.hart.mstatus |= MStatus.mie
        m.hart.setInterruptLines(Interrupt.mtip)
        m.step(1)
        XCTAssertEqual(m.hart.pc, handler + 4 * 7 + 4)
        // Exceptions use the base even in vectored mode.
        m.hart.mstatus &= ~MStatus.mie
        XCTAssertEqual(trapOn(Asm.ecall), handler + 4)
    }

    func testSoftwareInterruptFromSIPAndTimerFromSstc() {
        m.installHandler(at: supervisorHandler, mode: .supervisor)
        m.hart.mideleg = Interrupt.ssip | Interrupt.stip
        m.hart.mie = Interrupt.ssip | Interrupt.stip
        m.hart.mstatus |= MStatus.sie
        m.put([Asm.nop, Asm.nop, Asm.nop, Asm.nop])
        // S-mode writes SSIP through sip: taken right after the writing instruction.
        m.set(1, Interrupt.ssip)
        m.put([Asm.csrrs(0, 0x144, 1), Asm.nop])
        m.hart.forcePrivilege(.supervisor)
        m.hart.pc = TestMachine.ramBase
        m.step(2)
        XCTAssertEqual(m.csr(0x142), Cause.interruptFlag | 1)
        XCTAssertEqual(m.csr(0x141), TestMachine.ramBase + 4)
    }

    func testInterruptEnableSetAndClearInSupervisorMode() {
        m.installHandler(at: supervisorHandler, mode: .supervisor)
        m.hart.mideleg = Interrupt.ssip
        m.hart.mie = Interrupt.ssip
        m.hart.mstatus |= MStatus.sie
        // Save (csrrci: old value, SIE cleared), restore (csrs of the saved value), as a kernel does with nothing
        // pending: no trap, SIE as it was.
        m.set(11, MStatus.sie)
        m.put([Asm.csr(7, 10, 0x100, 2), Asm.csrr(12, 0x100), Asm.csrrs(0, 0x100, 10), Asm.csrr(13, 0x100)])
        m.hart.forcePrivilege(.supervisor)
        m.hart.pc = TestMachine.ramBase
        m.step(4)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 16)
        XCTAssertEqual(m.x(10) & MStatus.sie, MStatus.sie)
        XCTAssertEqual(m.x(12) & MStatus.sie, 0)
        XCTAssertEqual(m.x(13) & MStatus.sie, MStatus.sie)
        // With an interrupt pending, clearing SIE holds it off and setting SIE again takes it right after.
        m.hart.mipSoftware |= Interrupt.ssip
        m.put([Asm.csr(7, 10, 0x100, 2), Asm.nop, Asm.csr(6, 0, 0x100, 2), Asm.nop])
        m.hart.pc = TestMachine.ramBase
        m.hart.mstatus &= ~MStatus.sie
        m.step(4)
        XCTAssertEqual(m.csr(0x142), Cause.interruptFlag | 1)
        XCTAssertEqual(m.csr(0x141), TestMachine.ramBase + 12)
        XCTAssertEqual(m.hart.pc, supervisorHandler + 4)
    }

    func testSstcTimerFiresAtExactInstruction() {
        m.installHandler(at: handler)
        m.hart.menvcfg = EnvConfig.stce
        m.hart.mcounteren = 2
        m.hart.stimecmp = 1000  // mtime = G with icountShift 0
        m.hart.mie = Interrupt.stip
        m.hart.mstatus |= MStatus.mie
        m.put(Array(repeating: Asm.nop, count: 64))
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.hart.nextTimerDeadline, 1000)
        // G starts at 990: the interrupt is taken before the 11th instruction.
        XCTAssertEqual(m.hart.run(budget: 12, globalCount: 990), .budgetExhausted)
        XCTAssertEqual(m.csr(0x342), Cause.interruptFlag | 5)
        XCTAssertEqual(m.csr(0x341), TestMachine.ramBase + 40)
        XCTAssertNil(m.hart.nextTimerDeadline)
    }

    func testWaitForInterrupt() {
        m.put([Asm.wfi, Asm.nop, Asm.nop])
        m.hart.pc = TestMachine.ramBase
        m.hart.mie = Interrupt.mtip
        XCTAssertEqual(m.run(10), .waitingForInterrupt)
        XCTAssertEqual(m.hart.retired, 1, "WFI retires")
        XCTAssertTrue(m.hart.isWaitingForInterrupt)
        XCTAssertEqual(m.run(10), .waitingForInterrupt)
        XCTAssertEqual(m.hart.retired, 1, "a waiting hart runs nothing")
        // A pending enabled interrupt wakes it even with MIE clear (then execution continues after WFI).
        m.hart.setInterruptLines(Interrupt.mtip)
        XCTAssertFalse(m.hart.isWaitingForInterrupt)
        XCTAssertEqual(m.run(2), .budgetExhausted)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 12)
        // WFI with something pending just continues.
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.run(2), .budgetExhausted)
        // TW makes WFI illegal in S-mode; WFI is always illegal in U-mode.
        m.installHandler(at: handler)
        m.hart.setInterruptLines(0)
        m.hart.mstatus |= MStatus.tw
        m.hart.forcePrivilege(.supervisor)
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        XCTAssertEqual(m.csr(0x342), 2)
    }

    func testUnfetchableTrapVectorStopsTheHart() {
        m.hart.mtvec = 0x4000_0000  // nothing there
        m.put([0xffff_ffff])
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.run(1000), .waitingForInterrupt)
        XCTAssertTrue(m.hart.isWaitingForInterrupt)
        XCTAssertEqual(m.csr(0x342), 1, "instruction access fault at the vector")
        XCTAssertEqual(m.run(1000), .waitingForInterrupt)
    }
}
