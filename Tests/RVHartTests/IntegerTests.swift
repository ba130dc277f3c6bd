@testable import RVHart
import XCTest

final class IntegerTests: XCTestCase {
    let m = TestMachine()

    /// Runs one R-type instruction on (a, b) and returns rd.
    private func binary(_ word: UInt32, _ a: UInt64, _ b: UInt64) -> UInt64 {
        m.set(1, a)
        m.set(2, b)
        m.execute([word])
        return m.x(3)
    }

    func testArithmeticAndShifts() {
        XCTAssertEqual(binary(Asm.op(0, 0, 3, 1, 2), .max, 1), 0)  // add wraps
        XCTAssertEqual(binary(Asm.op(0x20, 0, 3, 1, 2), 0, 1), .max)  // sub
        XCTAssertEqual(binary(Asm.op(0, 1, 3, 1, 2), 1, 65), 2)  // sll uses 6 bits
        XCTAssertEqual(binary(Asm.op(0, 5, 3, 1, 2), 1 << 63, 63), 1)  // srl
        XCTAssertEqual(binary(Asm.op(0x20, 5, 3, 1, 2), 1 << 63, 63), .max)  // sra
        XCTAssertEqual(binary(Asm.op(0, 2, 3, 1, 2), UInt64(bitPattern: -1), 0), 1)  // slt
        XCTAssertEqual(binary(Asm.op(0, 3, 3, 1, 2), UInt64(bitPattern: -1), 0), 0)  // sltu
        XCTAssertEqual(binary(Asm.op32(0, 0, 3, 1, 2), 0x7fff_ffff, 1), 0xffff_ffff_8000_0000)  // addw
        XCTAssertEqual(binary(Asm.op32(0, 1, 3, 1, 2), 1, 31), 0xffff_ffff_8000_0000)  // sllw
        XCTAssertEqual(binary(Asm.op32(0, 5, 3, 1, 2), 0xffff_ffff_8000_0000, 31), 1)  // srlw
        XCTAssertEqual(binary(Asm.op32(0x20, 5, 3, 1, 2), 0x8000_0000, 4), 0xffff_ffff_f800_0000)  // sraw
        m.set(1, 0x8000_0000_0000_0000)
        m.execute([Asm.srai(3, 1, 4), Asm.i(0x13, rd: 4, funct3: 5, rs1: 1, imm: 4), Asm.slli(5, 1, 1)])
        XCTAssertEqual(m.x(3), 0xf800_0000_0000_0000)
        XCTAssertEqual(m.x(4), 0x0800_0000_0000_0000)
        XCTAssertEqual(m.x(5), 0)
        m.execute([Asm.lui(6, 0x8000_0000), Asm.auipc(7, 0x1000), Asm.addiw(8, 0, -1)])
        XCTAssertEqual(m.x(6), 0xffff_ffff_8000_0000)
        XCTAssertEqual(m.x(7), TestMachine.ramBase + 4 + 0x1000)
        XCTAssertEqual(m.x(8), .max)
    }

    func testRegisterZeroStaysZero() {
        m.execute([Asm.addi(0, 0, 5), Asm.add(1, 0, 0), Asm.lui(0, 0x1000)])
        XCTAssertEqual(m.x(0), 0)
        XCTAssertEqual(m.x(1), 0)
    }

    func testMultiplyDivide() {
        let minimum = UInt64(bitPattern: Int64.min)
        XCTAssertEqual(binary(Asm.op(1, 0, 3, 1, 2), 3, UInt64(bitPattern: -5)), UInt64(bitPattern: -15))
        XCTAssertEqual(binary(Asm.op(1, 1, 3, 1, 2), minimum, minimum), 1 << 62)  // mulh
        XCTAssertEqual(binary(Asm.op(1, 2, 3, 1, 2), UInt64(bitPattern: -1), .max), .max)  // mulhsu: -1 * (2^64-1)
        XCTAssertEqual(binary(Asm.op(1, 3, 3, 1, 2), .max, .max), .max - 1)  // mulhu
        XCTAssertEqual(binary(Asm.op(1, 4, 3, 1, 2), 7, 0), .max)  // div by zero
        XCTAssertEqual(binary(Asm.op(1, 4, 3, 1, 2), minimum, .max), minimum)  // overflow
        XCTAssertEqual(binary(Asm.op(1, 4, 3, 1, 2), UInt64(bitPattern: -7), 2), UInt64(bitPattern: -3))
        XCTAssertEqual(binary(Asm.op(1, 5, 3, 1, 2), 7, 0), .max)  // divu by zero
        XCTAssertEqual(binary(Asm.op(1, 6, 3, 1, 2), 7, 0), 7)  // rem by zero
        XCTAssertEqual(binary(Asm.op(1, 6, 3, 1, 2), minimum, .max), 0)  // rem overflow
        XCTAssertEqual(binary(Asm.op(1, 6, 3, 1, 2), UInt64(bitPattern: -7), 2), .max)  // rem sign follows dividend
        XCTAssertEqual(binary(Asm.op(1, 7, 3, 1, 2), 7, 0), 7)
        XCTAssertEqual(binary(Asm.op32(1, 0, 3, 1, 2), 0x1_0000_0002, 0x8000_0000), 0)  // mulw
        XCTAssertEqual(binary(Asm.op32(1, 4, 3, 1, 2), 0x8000_0000, .max), 0xffff_ffff_8000_0000)  // divw overflow
        XCTAssertEqual(binary(Asm.op32(1, 4, 3, 1, 2), 5, 0), .max)  // divw by zero
        XCTAssertEqual(binary(Asm.op32(1, 5, 3, 1, 2), 0xffff_fffe, 1), .max - 1)  // divuw sign-extends
        XCTAssertEqual(binary(Asm.op32(1, 6, 3, 1, 2), 0x8000_0000, .max), 0)  // remw overflow
        XCTAssertEqual(binary(Asm.op32(1, 7, 3, 1, 2), 0x8000_0005, 0), 0xffff_ffff_8000_0005)  // remuw by zero
    }

    func testLoadsExtendAndStoresTruncate() {
        let data = TestMachine.ramBase + 0x1000
        m.write64(data, 0x8081_8283_8485_8687)
        m.set(1, data)
        m.execute([
            Asm.load(0, 2, 1, 0), Asm.load(1, 3, 1, 0), Asm.load(2, 4, 1, 0), Asm.load(3, 5, 1, 0),
            Asm.load(4, 6, 1, 0), Asm.load(5, 7, 1, 0), Asm.load(6, 8, 1, 0),
        ])
        XCTAssertEqual(m.x(2), 0xffff_ffff_ffff_ff87)
        XCTAssertEqual(m.x(3), 0xffff_ffff_ffff_8687)
        XCTAssertEqual(m.x(4), 0xffff_ffff_8485_8687)
        XCTAssertEqual(m.x(5), 0x8081_8283_8485_8687)
        XCTAssertEqual(m.x(6), 0x87)
        XCTAssertEqual(m.x(7), 0x8687)
        XCTAssertEqual(m.x(8), 0x8485_8687)
        m.set(2, 0x1122_3344_5566_7788)
        m.execute([Asm.store(0, 2, 1, 8), Asm.store(1, 2, 1, 16), Asm.store(2, 2, 1, 24), Asm.store(3, 2, 1, 32)])
        XCTAssertEqual(m.read64(data + 8), 0x88)
        XCTAssertEqual(m.read64(data + 16), 0x7788)
        XCTAssertEqual(m.read64(data + 24), 0x5566_7788)
        XCTAssertEqual(m.read64(data + 32), 0x1122_3344_5566_7788)
    }

    /// Misaligned RAM accesses are performed, also across a page boundary (documented choice).
    func testMisalignedAccessesArePerformed() {
        let boundary = TestMachine.ramBase + 0x2000
        m.set(1, boundary - 3)
        m.set(2, 0x0102_0304_0506_0708)
        m.execute([Asm.sd(2, 1), Asm.ld(3, 1), Asm.lw(4, 1, 1), Asm.ld(5, 1, 0x11)])
        XCTAssertEqual(m.x(3), 0x0102_0304_0506_0708)
        XCTAssertEqual(m.x(4), 0x0405_0607)  // bytes 1...4
        XCTAssertEqual(m.x(5), 0)
        XCTAssertEqual(m.read64(boundary - 3), 0x0102_0304_0506_0708)
    }

    func testAtomics() {
        let data = TestMachine.ramBase + 0x3000
        m.write64(data, 10)
        m.set(1, data)
        m.set(2, UInt64(bitPattern: -3))
        m.execute([
            Asm.amo(0x00, width: 3, 3, 1, 2),  // amoadd.d: x3 = 10, mem = 7
            Asm.amo(0x10, width: 3, 4, 1, 2),  // amomin.d: x4 = 7, mem = -3
            Asm.amo(0x1c, width: 3, 5, 1, 0),  // amomaxu.d with 0: mem stays -3
            Asm.amo(0x01, width: 2, 6, 1, 0),  // amoswap.w: x6 = sign-extended low word, low word = 0
        ])
        XCTAssertEqual(m.x(3), 10)
        XCTAssertEqual(m.x(4), 7)
        XCTAssertEqual(m.x(5), UInt64(bitPattern: -3))
        XCTAssertEqual(m.x(6), UInt64(bitPattern: -3))
        XCTAssertEqual(m.read64(data), 0xffff_ffff_0000_0000)
        // LR/SC: succeeds once, then fails without a new reservation; the sequencer's drop fails it too.
        m.set(7, 42)
        m.execute([Asm.amo(0x02, width: 3, 8, 1, 0), Asm.amo(0x03, width: 3, 9, 1, 7), Asm.amo(0x03, width: 3, 10, 1, 7)])
        XCTAssertEqual(m.x(9), 0)
        XCTAssertEqual(m.x(10), 1)
        XCTAssertEqual(m.read64(data), 42)
        m.put([Asm.amo(0x02, width: 3, 8, 1, 0), Asm.amo(0x03, width: 3, 9, 1, 0)])
        m.hart.pc = TestMachine.ramBase
        m.step()
        m.hart.dropReservation()
        m.step()
        XCTAssertEqual(m.x(9), 1)
        XCTAssertEqual(m.read64(data), 42)
    }

    func testMisalignedAtomicsTrap() {
        m.installHandler(at: TestMachine.ramBase + 0x400)
        m.set(1, TestMachine.ramBase + 0x3004)
        m.put([Asm.amo(0x00, width: 3, 3, 1, 2)])
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        XCTAssertEqual(m.csr(0x342), 6)  // store/AMO address misaligned
        XCTAssertEqual(m.csr(0x343), TestMachine.ramBase + 0x3004)
        m.put([Asm.amo(0x02, width: 3, 3, 1, 0)])
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        XCTAssertEqual(m.csr(0x342), 4)  // LR: load address misaligned
    }

    func testBranchesAndJumps() {
        // x1 counts down from 3; the loop body adds to x2; then jal/jalr through a function.
        m.set(1, 3)
        let program: [UInt32] = [
            Asm.addi(2, 2, 5),  // 0
            Asm.addi(1, 1, -1),  // 4
            Asm.b(funct3: 1, rs1: 1, rs2: 0, offset: -8),  // 8: bne x1, x0, 0
            Asm.jal(rd: 5, offset: 12),  // 12 -> 24
            Asm.addi(3, 0, 99),  // 16: skipped
            Asm.addi(3, 0, 98),  // 20: skipped
            Asm.addi(4, 5, 0),  // 24: x4 = return address (16)
            Asm.jalr(rd: 6, rs1: 5, imm: 4),  // 28 -> 20
        ]
        m.put(program)
        m.hart.pc = TestMachine.ramBase
        m.step(3 * 3 + 5)
        XCTAssertEqual(m.x(2), 15)
        XCTAssertEqual(m.x(4), TestMachine.ramBase + 16)
        XCTAssertEqual(m.x(6), TestMachine.ramBase + 32)
        XCTAssertEqual(m.x(3), 98)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 28)
    }

    func testCompressedProgram() {
        // c.li a0, 5 ; c.addi a0, -1 ; c.bnez a0, -2 ; c.mv a1, a0 ; c.addiw a1, 7
        m.put16([0x4515, 0x157d, 0xfd7d, 0x85aa, 0x259d], at: TestMachine.ramBase)
        m.hart.pc = TestMachine.ramBase
        m.step(1 + 5 * 2 + 2)
        XCTAssertEqual(m.x(10), 0)
        XCTAssertEqual(m.x(11), 7)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 10)
    }
}
