@testable import RVHart
import XCTest

final class CSRTests: XCTestCase {
    let m = TestMachine()
    let handler = TestMachine.ramBase + 0x400

    override func setUp() {
        m.installHandler(at: handler)
    }

    /// Runs one instruction in `mode`; true when it trapped with an illegal instruction.
    private func isIllegal(_ word: UInt32, mode: PrivilegeMode) -> Bool {
        m.hart.mcause = 0
        m.put([word])
        m.hart.pc = TestMachine.ramBase
        m.hart.forcePrivilege(mode)
        m.run(1)
        return m.hart.mcause == 2 && m.hart.mtval == UInt64(word)
    }

    func testIdentityRegisters() {
        let hart = TestMachine().hart
        XCTAssertEqual(hart.readCSR(0x301), 1 << 63 | 0x14112d, "misa: RV64 ACDFIMSU")
        XCTAssertEqual(hart.readCSR(0xf11), 0)
        XCTAssertEqual(hart.readCSR(0xf12), 0)
        XCTAssertEqual(hart.readCSR(0xf13), 0)
        XCTAssertEqual(hart.readCSR(0xf14), 0)
        XCTAssertNil(hart.readCSR(0x7a0), "no debug triggers")
        XCTAssertNil(hart.readCSR(0x3a1), "odd pmpcfg registers do not exist in RV64")
        XCTAssertNil(hart.readCSR(0x3c0), "16 PMP entries")
        let other = Hart(config: HartConfig(hartID: 3, ram: m.ram, ramSize: TestMachine.ramSize))
        XCTAssertEqual(other.readCSR(0xf14), 3)
        XCTAssertEqual(other.privilege, .machine)
        XCTAssertEqual(other.pc, 0x1000)
    }

    func testPrivilegeAndReadOnlyRules() {
        XCTAssertTrue(isIllegal(Asm.csrr(1, 0x300), mode: .supervisor), "mstatus from S")
        XCTAssertTrue(isIllegal(Asm.csrr(1, 0x100), mode: .user), "sstatus from U")
        XCTAssertFalse(isIllegal(Asm.csrr(1, 0x100), mode: .supervisor))
        XCTAssertTrue(isIllegal(Asm.csrw(0xf14, 1), mode: .machine), "writing mhartid")
        XCTAssertFalse(isIllegal(Asm.csrr(1, 0xf14), mode: .machine))
        XCTAssertTrue(isIllegal(Asm.csrrs(1, 0xc00, 2), mode: .machine), "cycle is read-only even with rs1 = x2")
        XCTAssertTrue(isIllegal(Asm.csrr(1, 0x7b0), mode: .machine), "dcsr not implemented")
        XCTAssertTrue(isIllegal(Asm.csr(4, 1, 0x300, 0), mode: .machine), "funct3 4")
    }

    func testCounterEnables() {
        let readCycle = Asm.csrr(1, 0xc00), readTime = Asm.csrr(1, 0xc01), readInstret = Asm.csrr(1, 0xc02)
        XCTAssertFalse(isIllegal(readCycle, mode: .machine))
        XCTAssertTrue(isIllegal(readCycle, mode: .supervisor))
        m.hart.mcounteren = 0b111
        XCTAssertFalse(isIllegal(readTime, mode: .supervisor))
        XCTAssertTrue(isIllegal(readTime, mode: .user), "scounteren clear")
        m.hart.scounteren = 0b010
        XCTAssertFalse(isIllegal(readTime, mode: .user))
        XCTAssertTrue(isIllegal(readInstret, mode: .user))
        m.hart.mcounteren = 0b101
        XCTAssertTrue(isIllegal(readTime, mode: .user), "mcounteren gates U too")
    }

    func testCountersCountRetiredInstructions() {
        m.put([Asm.csrr(1, 0xc02), Asm.nop, Asm.nop, Asm.csrr(2, 0xc02), Asm.csrr(3, 0xc01), Asm.csrr(4, 0xb00)])
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.hart.run(budget: 6, globalCount: 1000), .budgetExhausted)
        XCTAssertEqual(m.x(2) - m.x(1), 3)
        XCTAssertEqual(m.x(3), 1000 + 4, "time = (G + retired in the run) >> shift")
        XCTAssertEqual(m.x(4), m.x(2) + 2, "cycle counts like instret")
        // minstret written: the next instruction reads the written value.
        m.set(5, 500)
        m.put([Asm.csrw(0xb02, 5), Asm.csrr(6, 0xb02), Asm.csrwi(0x320, 4), Asm.nop, Asm.csrr(7, 0xb02)])
        m.hart.pc = TestMachine.ramBase
        m.step(5)
        XCTAssertEqual(m.x(6), 500)
        XCTAssertEqual(m.x(7), 502, "inhibited after the csrwi retired")
    }

    func testStatusFieldsAndViews() {
        m.set(1, .max)
        m.execute([Asm.csrw(0x300, 1), Asm.csrr(2, 0x300), Asm.csrr(3, 0x100)])
        let mstatus = m.x(2)
        XCTAssertEqual(mstatus >> 32 & 0xf, 0b1010, "UXL = SXL = 64")
        XCTAssertEqual(mstatus & MStatus.sd, MStatus.sd, "SD follows FS = Dirty")
        XCTAssertEqual(mstatus & (1 << 10 | 1 << 9 | 3 << 15), 0, "no V, no XS")
        XCTAssertEqual(m.x(3), mstatus & MStatus.supervisorView)
        // MPP cannot hold the reserved value 2.
        m.set(1, 2 << 11)
        m.execute([Asm.csrw(0x300, 1)])
        XCTAssertNotEqual((m.csr(0x300) >> 11) & 3, 2)
    }

    func testInterruptRegisterViews() {
        m.hart.mideleg = Interrupt.ssip | Interrupt.stip
        m.set(1, .max)
        m.execute([Asm.csrw(0x304, 1), Asm.csrw(0x104, 0), Asm.csrr(2, 0x304), Asm.csrw(0x144, 1), Asm.csrr(3, 0x344)])
        XCTAssertEqual(m.x(2), Interrupt.seip | Interrupt.mtip | Interrupt.msip | Interrupt.meip,
                       "sie cleared only the delegated bits")
        XCTAssertEqual(m.x(3), Interrupt.ssip, "sip writes SSIP only when delegated")
        m.hart.setInterruptLines(Interrupt.seip)
        m.hart.mipSoftware |= Interrupt.seip
        m.set(4, Interrupt.seip)
        m.execute([Asm.csrrc(5, 0x344, 4), Asm.csrr(6, 0x344)])
        XCTAssertEqual(m.x(5) & Interrupt.seip, Interrupt.seip)
        XCTAssertEqual(m.x(6) & Interrupt.seip, Interrupt.seip, "the external SEIP line still shows")
        XCTAssertEqual(m.hart.mipSoftware & Interrupt.seip, 0, "the software SEIP bit was cleared")
        m.set(4, Interrupt.ssip)
        m.execute([Asm.csrrs(0, 0x344, 4)])
        XCTAssertEqual(m.hart.mipSoftware & Interrupt.seip, 0, "setting SSIP does not latch the external SEIP line")
    }

    func testTrapVectorAndEpcWarl() {
        m.set(1, 0x8000_1003)
        m.set(2, 0x8000_2001)
        m.set(3, 0x8000_3007)
        m.execute([Asm.csrw(0x305, 2), Asm.csrw(0x305, 1), Asm.csrw(0x341, 3), Asm.csrr(4, 0x305), Asm.csrr(5, 0x341)])
        XCTAssertEqual(m.x(4), 0x8000_2001, "mode 3 is reserved: the write is ignored")
        XCTAssertEqual(m.x(5), 0x8000_3006)
    }

    func testSatpModesAndTVM() {
        let sv39: UInt64 = 8 << 60 | 0x1234, sv48: UInt64 = 9 << 60 | 0x1234, sv57: UInt64 = 10 << 60 | 0x1234
        m.set(1, sv39)
        m.execute([Asm.csrw(0x180, 1)])
        XCTAssertEqual(m.csr(0x180), sv39)
        m.set(1, sv57)
        m.execute([Asm.csrw(0x180, 1)])
        XCTAssertEqual(m.csr(0x180), sv39, "unsupported modes leave satp alone")
        m.set(1, sv48)
        m.execute([Asm.csrw(0x180, 1)])
        XCTAssertEqual(m.csr(0x180), sv48)
        let sv39Only = TestMachine(maxSatpMode: .sv39)
        sv39Only.set(1, sv48)
        sv39Only.execute([Asm.csrw(0x180, 1)])
        XCTAssertEqual(sv39Only.csr(0x180), 0)
        m.set(1, 0)
        m.execute([Asm.csrw(0x180, 1)])  // back to Bare so that S-mode fetches untranslated
        m.hart.mstatus |= MStatus.tvm
        XCTAssertTrue(isIllegal(Asm.csrr(1, 0x180), mode: .supervisor))
        XCTAssertTrue(isIllegal(Asm.sfenceVMA(), mode: .supervisor))
        XCTAssertFalse(isIllegal(Asm.csrr(1, 0x180), mode: .machine))
        m.hart.mstatus &= ~MStatus.tvm
        XCTAssertFalse(isIllegal(Asm.sfenceVMA(), mode: .supervisor))
        XCTAssertTrue(isIllegal(Asm.sfenceVMA(), mode: .user))
    }

    func testStimecmpNeedsSTCEAndTM() {
        let read = Asm.csrr(1, 0x14d)
        XCTAssertFalse(isIllegal(read, mode: .machine))
        XCTAssertTrue(isIllegal(read, mode: .supervisor))
        m.hart.menvcfg = EnvConfig.stce
        XCTAssertTrue(isIllegal(read, mode: .supervisor), "mcounteren.TM clear")
        m.hart.mcounteren = 2
        XCTAssertFalse(isIllegal(read, mode: .supervisor))
        // With STCE, STIP is the comparator's and not writable through mip.
        m.set(1, Interrupt.stip)
        m.hart.forcePrivilege(.machine)
        m.execute([Asm.csrrs(0, 0x344, 1), Asm.csrr(2, 0x344)])
        XCTAssertEqual(m.x(2) & Interrupt.stip, 0)
        m.hart.menvcfg = 0
        m.execute([Asm.csrrs(0, 0x344, 1), Asm.csrr(2, 0x344)])
        XCTAssertEqual(m.x(2) & Interrupt.stip, Interrupt.stip)
    }

    func testFloatingPointCSRsNeedFS() {
        XCTAssertTrue(isIllegal(Asm.csrr(1, 0x003), mode: .machine), "FS = Off")
        m.hart.mstatus |= 1 << 13
        m.set(1, 0xff)
        m.hart.forcePrivilege(.machine)
        m.execute([Asm.csrw(0x003, 1), Asm.csrr(2, 0x001), Asm.csrr(3, 0x002), Asm.csrr(4, 0x300)])
        XCTAssertEqual(m.x(2), 0x1f)
        XCTAssertEqual(m.x(3), 7)
        XCTAssertEqual(m.x(4) & MStatus.fs, MStatus.fs, "writing fcsr makes FS dirty")
    }
}
