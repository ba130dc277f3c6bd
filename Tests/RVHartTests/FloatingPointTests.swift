@testable import RVHart
import XCTest

/// F and D edge cases, executed as instructions: rounding modes, flags, NaN boxing and canonical NaNs,
/// conversions at the integer limits, fmin/fmax, fused multiply-add, classification.
final class FloatingPointTests: XCTestCase {
    let m = TestMachine()
    static let nx: UInt64 = 1, uf: UInt64 = 2, of: UInt64 = 4, dz: UInt64 = 8, nv: UInt64 = 16
    static let rne: UInt32 = 0, rtz: UInt32 = 1, rdn: UInt32 = 2, rup: UInt32 = 3, rmm: UInt32 = 4, dyn: UInt32 = 7
    static let canonicalDouble: UInt64 = 0x7ff8_0000_0000_0000
    static let canonicalSingle: UInt64 = 0xffff_ffff_7fc0_0000
    static let signalingDouble: UInt64 = 0x7ff0_0000_0000_0001

    override func setUp() {
        m.hart.mstatus |= 1 << 13
        m.installHandler(at: TestMachine.ramBase + 0x400)
    }

    static func d(_ value: Double) -> UInt64 { value.bitPattern }
    static func s(_ value: Float) -> UInt64 { 0xffff_ffff_0000_0000 | UInt64(value.bitPattern) }

    /// Executes one instruction with f1, f2, f3 (and x1) preset; returns (f10 or x10, fflags raised).
    @discardableResult
    func run(_ word: UInt32, _ a: UInt64, _ b: UInt64 = 0, _ c: UInt64 = 0, x1: UInt64 = 0) -> (UInt64, UInt64) {
        m.hart.fflags = 0
        m.hart.mcause = 0
        m.hart.setFPRegister(1, a)
        m.hart.setFPRegister(2, b)
        m.hart.setFPRegister(3, c)
        m.set(1, x1)
        m.put([word])
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        let rd = (word >> 7) & 31
        let writesInteger = (word & 0x7f == 0x53) && [0x14, 0x18, 0x1c].contains(word >> 27)
        return (writesInteger ? m.x(Int(rd)) : m.hart.fpRegister(Int(rd)), m.hart.fflags)
    }

    func faddD(_ rm: UInt32) -> UInt32 { Asm.fp(0x01, rm, 10, 1, 2) }

    func testRoundingModes() {
        let tiny = 0x1p-60
        XCTAssertEqual(run(faddD(Self.rne), Self.d(1), Self.d(tiny)).0, Self.d(1))
        XCTAssertEqual(run(faddD(Self.rup), Self.d(1), Self.d(tiny)).0, Self.d(1 + 0x1p-52))
        XCTAssertEqual(run(faddD(Self.rdn), Self.d(1), Self.d(tiny)).0, Self.d(1))
        XCTAssertEqual(run(faddD(Self.rtz), Self.d(-1), Self.d(-tiny)).0, Self.d(-1))
        XCTAssertEqual(run(faddD(Self.rdn), Self.d(-1), Self.d(-tiny)).0, Self.d(-1 - 0x1p-52))
        XCTAssertEqual(run(faddD(Self.rup), Self.d(-1), Self.d(-tiny)).0, Self.d(-1))
        // A tie: nearest-even goes down to 1, nearest-max-magnitude goes up.
        XCTAssertEqual(run(faddD(Self.rne), Self.d(1), Self.d(0x1p-53)).0, Self.d(1))
        XCTAssertEqual(run(faddD(Self.rmm), Self.d(1), Self.d(0x1p-53)).0, Self.d(1 + 0x1p-52))
        XCTAssertEqual(run(faddD(Self.rmm), Self.d(-1), Self.d(-0x1p-53)).0, Self.d(-1 - 0x1p-52))
        XCTAssertEqual(run(faddD(Self.rmm), Self.d(1), Self.d(0x1p-54)).1, Self.nx)
        // Exact results are exact in every mode; x - x is +0 except when rounding down.
        XCTAssertEqual(run(Asm.fp(0x05, Self.rne, 10, 1, 2), Self.d(3), Self.d(3)).0, Self.d(0))
        XCTAssertEqual(run(Asm.fp(0x05, Self.rdn, 10, 1, 2), Self.d(3), Self.d(3)).0, Self.d(-0.0))
        // Single precision and the dynamic mode.
        m.hart.frm = UInt64(Self.rup)
        XCTAssertEqual(run(Asm.fp(0x00, Self.dyn, 10, 1, 2), Self.s(1), Self.s(0x1p-30)).0, Self.s(1 + 0x1p-23))
    }

    /// frm, fcsr and mstatus.FS changed between FP instructions of one run: each dynamic-mode instruction rounds as
    /// frm says at that point (the interpreter caches which rm fields the host FPU serves as it is).
    func testRoundingModeChangesWithinARun() {
        let dyn = Self.dyn, tiny = 0x1p-60
        let program: [UInt32] = [
            Asm.fp(0x01, dyn, 10, 1, 2),                   // nearest (frm = 0): 1
            Asm.addi(5, 0, Int32(Self.rup)),
            Asm.csrw(CSR.frm, 5),
            Asm.fp(0x01, dyn, 11, 1, 2),                   // up: 1 + 2^-52
            Asm.fp(0x01, Self.rne, 12, 1, 2),              // static nearest while frm is up: 1
            Asm.fp(0x01, dyn, 17, 1, 2),                   // up again after the static mode: 1 + 2^-52
            Asm.fma(0x43, double: true, rm: dyn, 16, 1, 1, 2),  // fmadd, up: 1 + 2^-52
            Asm.csrwi(CSR.frm, Self.rdn),
            Asm.fp(0x01, dyn, 13, 3, 4),                   // down: -1 - 2^-52
            Asm.addi(6, 0, Int32(Self.rup << 5)),
            Asm.csrw(CSR.fcsr, 6),
            Asm.fp(0x01, dyn, 14, 1, 2),                   // up (set through fcsr): 1 + 2^-52
            Asm.csrwi(CSR.frm, Self.rne),
            Asm.fp(0x01, dyn, 15, 1, 2),                   // nearest: 1
            Asm.addi(7, 0, 3),
            Asm.slli(7, 7, 13),
            Asm.csrrc(0, CSR.mstatus, 7),                  // FS = Off
            Asm.fp(0x01, dyn, 18, 1, 2),                   // illegal
        ]
        m.put(program)
        m.hart.pc = TestMachine.ramBase
        m.hart.frm = 0
        m.hart.mstatus |= MStatus.fs  // Dirty: the host FPU may serve the first instruction as it is
        m.hart.setFPRegister(1, Self.d(1))
        m.hart.setFPRegister(2, Self.d(tiny))
        m.hart.setFPRegister(3, Self.d(-1))
        m.hart.setFPRegister(4, Self.d(-tiny))
        m.hart.setFPRegister(18, Self.d(7))
        m.run(UInt64(program.count - 1) + 2)
        let up = Self.d(1 + 0x1p-52)
        XCTAssertEqual([10, 11, 12, 17, 16, 13, 14, 15].map { m.hart.fpRegister($0) },
                       [Self.d(1), up, Self.d(1), up, up, Self.d(-1 - 0x1p-52), up, Self.d(1)])
        XCTAssertEqual(m.hart.mcause, Cause.illegalInstruction)
        XCTAssertEqual(m.hart.mepc, TestMachine.ramBase + UInt64(4 * (program.count - 1)))
        XCTAssertEqual(m.hart.fpRegister(18), Self.d(7), "not written with FS = Off")
    }

    func testReservedRoundingModesAreIllegal() {
        m.hart.frm = 5
        run(faddD(Self.dyn), Self.d(1), Self.d(1))
        XCTAssertEqual(m.hart.mcause, Cause.illegalInstruction)
        XCTAssertEqual(m.hart.mtval, UInt64(faddD(Self.dyn)))
        m.hart.frm = 0
        run(faddD(Self.dyn), Self.d(1), Self.d(1))
        XCTAssertEqual(m.hart.mcause, 0)
        // With FS = Off every F/D instruction is illegal.
        m.hart.mstatus &= ~MStatus.fs
        run(Asm.fp(0x11, 0, 10, 1, 1), 0, 0)
        XCTAssertEqual(m.hart.mcause, Cause.illegalInstruction)
    }

    func testExceptionFlags() {
        XCTAssertEqual(run(Asm.fp(0x0d, 0, 10, 1, 2), Self.d(1), Self.d(0)), (Self.d(.infinity), Self.dz))
        XCTAssertEqual(run(Asm.fp(0x0d, 0, 10, 1, 2), Self.d(0), Self.d(0)), (Self.canonicalDouble, Self.nv))
        XCTAssertEqual(run(Asm.fp(0x09, 0, 10, 1, 2), Self.d(.greatestFiniteMagnitude), Self.d(2)),
                       (Self.d(.infinity), Self.of | Self.nx))
        XCTAssertEqual(run(Asm.fp(0x09, Self.rtz, 10, 1, 2), Self.d(.greatestFiniteMagnitude), Self.d(2)),
                       (Self.d(.greatestFiniteMagnitude), Self.of | Self.nx))
        XCTAssertEqual(run(Asm.fp(0x0d, 0, 10, 1, 2), Self.d(1), Self.d(3)).1, Self.nx)
        // Tiny and exact: no underflow flag; tiny and inexact: underflow.
        XCTAssertEqual(run(Asm.fp(0x09, 0, 10, 1, 2), Self.d(.leastNormalMagnitude), Self.d(0.5)).1, 0)
        XCTAssertEqual(run(Asm.fp(0x0d, 0, 10, 1, 2), Self.d(.leastNormalMagnitude), Self.d(3)).1, Self.uf | Self.nx)
        // Tininess after rounding: rounds up to the smallest normal, so inexact but no underflow.
        XCTAssertEqual(run(Asm.fp(0x09, 0, 10, 1, 2), Self.d(1 + 0x1p-28),
                           Self.d(.leastNormalMagnitude * (1 - 0x1p-28))), (Self.d(.leastNormalMagnitude), Self.nx))
        // Flags accrue in fflags until software clears them.
        m.hart.fflags = 0
        m.put([Asm.fp(0x0d, 0, 10, 1, 2), Asm.fp(0x01, 0, 11, 1, 1), Asm.csrr(5, 0x001)])
        m.hart.setFPRegister(1, Self.d(1))
        m.hart.setFPRegister(2, Self.d(0))
        m.hart.pc = TestMachine.ramBase
        m.step(3)
        XCTAssertEqual(m.x(5), Self.dz)
    }

    func testNaNBoxingAndCanonicalNaNs() {
        // An improperly boxed single is the canonical NaN: the sum is the canonical NaN, no flag.
        XCTAssertEqual(run(Asm.fp(0x00, 0, 10, 1, 2), UInt64(Float(1).bitPattern), Self.s(1)),
                       (Self.canonicalSingle, 0))
        // A signaling NaN operand: canonical result and the invalid flag.
        XCTAssertEqual(run(faddD(0), Self.signalingDouble, Self.d(1)), (Self.canonicalDouble, Self.nv))
        XCTAssertEqual(run(faddD(0), 0xfff8_0000_0000_1234, Self.d(1)), (Self.canonicalDouble, 0))
        // fmv.w.x boxes; fmv.x.w sign-extends; flw boxes; fsgnj.s of an unboxed value uses the canonical NaN.
        XCTAssertEqual(run(Asm.fp(0x78, 0, 10, 1, 0), 0, x1: 0x1234_5678_8000_0000).0, 0xffff_ffff_8000_0000)
        XCTAssertEqual(run(Asm.fp(0x70, 0, 10, 1, 0), Self.s(-2)).0, 0xffff_ffff_c000_0000)
        XCTAssertEqual(run(Asm.fp(0x10, 2, 10, 1, 2), 0x1234, Self.s(-1)).0, 0xffff_ffff_ffc0_0000)
        let data = TestMachine.ramBase + 0x8000
        m.write64(data, 0x4049_0fdb)
        XCTAssertEqual(run(Asm.i(0x07, rd: 10, funct3: 2, rs1: 1, imm: 0), 0, x1: data).0, 0xffff_ffff_4049_0fdb)
        // fsgnj.d / fsgnjn.d / fsgnjx.d do not care about NaNs or boxing.
        XCTAssertEqual(run(Asm.fp(0x11, 1, 10, 1, 2), Self.signalingDouble, Self.d(1)),
                       (Self.signalingDouble | 1 << 63, 0))
        XCTAssertEqual(run(Asm.fp(0x11, 2, 10, 1, 2), Self.d(-2), Self.d(-1)).0, Self.d(2))
    }

    func testConversionsAtIntegerLimits() {
        let fcvtWD = Asm.fp(0x61, Self.rtz, 10, 1, 0), fcvtWuD = Asm.fp(0x61, Self.rtz, 10, 1, 1)
        let fcvtLD = Asm.fp(0x61, Self.rtz, 10, 1, 2), fcvtLuD = Asm.fp(0x61, Self.rtz, 10, 1, 3)
        XCTAssertEqual(run(fcvtWD, Self.d(3e9)), (0x7fff_ffff, Self.nv))
        XCTAssertEqual(run(fcvtWD, Self.d(-3e9)), (0xffff_ffff_8000_0000, Self.nv))
        XCTAssertEqual(run(fcvtWD, Self.d(-2147483648.9)), (0xffff_ffff_8000_0000, Self.nx))
        XCTAssertEqual(run(fcvtWD, Self.d(.nan)), (0x7fff_ffff, Self.nv))
        XCTAssertEqual(run(fcvtWD, Self.d(-.infinity)), (0xffff_ffff_8000_0000, Self.nv))
        XCTAssertEqual(run(fcvtWuD, Self.d(-1)), (0, Self.nv))
        XCTAssertEqual(run(fcvtWuD, Self.d(-0.5)), (0, Self.nx), "rounds to zero first")
        XCTAssertEqual(run(fcvtWuD, Self.d(4294967295.5)), (.max, Self.nx), "fcvt.wu sign-extends")
        XCTAssertEqual(run(fcvtLD, Self.d(0x1p63)), (UInt64(Int64.max), Self.nv))
        XCTAssertEqual(run(fcvtLD, Self.d(-0x1p63)), (UInt64(bitPattern: Int64.min), 0))
        XCTAssertEqual(run(fcvtLuD, Self.d(.infinity)), (.max, Self.nv))
        XCTAssertEqual(run(fcvtLuD, Self.d(0x1p64)), (.max, Self.nv))
        XCTAssertEqual(run(fcvtLuD, Self.d(0x1.fffffffffffffp63)), (0xffff_ffff_ffff_f800, 0))
        // Rounding modes of float -> int: 2.5 and -2.5.
        let expectations: [(UInt32, Int64, Int64)] = [(Self.rne, 2, -2), (Self.rtz, 2, -2), (Self.rdn, 2, -3),
                                                       (Self.rup, 3, -2), (Self.rmm, 3, -3)]
        for (rm, up, down) in expectations {
            XCTAssertEqual(run(Asm.fp(0x61, rm, 10, 1, 2), Self.d(2.5)).0, UInt64(bitPattern: up), "rm \(rm)")
            XCTAssertEqual(run(Asm.fp(0x61, rm, 10, 1, 2), Self.d(-2.5)).0, UInt64(bitPattern: down), "rm \(rm)")
        }
        // Integer -> float.
        XCTAssertEqual(run(Asm.fp(0x69, 0, 10, 1, 3), 0, x1: .max), (Self.d(0x1p64), Self.nx))
        XCTAssertEqual(run(Asm.fp(0x69, 0, 10, 1, 0), 0, x1: 0xffff_ffff_8000_0000), (Self.d(-0x1p31), 0))
        XCTAssertEqual(run(Asm.fp(0x69, 0, 10, 1, 1), 0, x1: 0xffff_ffff_ffff_ffff), (Self.d(4294967295), 0))
        XCTAssertEqual(run(Asm.fp(0x68, Self.rtz, 10, 1, 2), 0, x1: (1 << 24) + 1), (Self.s(0x1p24), Self.nx))
        XCTAssertEqual(run(Asm.fp(0x68, Self.rup, 10, 1, 2), 0, x1: (1 << 24) + 1), (Self.s(0x1p24 + 2), Self.nx))
        // Between formats.
        XCTAssertEqual(run(Asm.fp(0x20, 0, 10, 1, 1), Self.d(1e300)), (Self.s(.infinity), Self.of | Self.nx))
        XCTAssertEqual(run(Asm.fp(0x21, 0, 10, 1, 0), 0xffff_ffff_7f80_0001), (Self.canonicalDouble, Self.nv))
        XCTAssertEqual(run(Asm.fp(0x21, 0, 10, 1, 0), Self.s(0.1)), (Self.d(Double(Float(0.1))), 0))
    }

    func testMinMaxAndComparisons() {
        let fminD = Asm.fp(0x15, 0, 10, 1, 2), fmaxD = Asm.fp(0x15, 1, 10, 1, 2)
        XCTAssertEqual(run(fminD, Self.d(-0.0), Self.d(0)), (Self.d(-0.0), 0))
        XCTAssertEqual(run(fminD, Self.d(0), Self.d(-0.0)), (Self.d(-0.0), 0))
        XCTAssertEqual(run(fmaxD, Self.d(-0.0), Self.d(0)), (Self.d(0), 0))
        XCTAssertEqual(run(fminD, Self.canonicalDouble, Self.d(1)), (Self.d(1), 0))
        XCTAssertEqual(run(fmaxD, Self.signalingDouble, Self.d(1)), (Self.d(1), Self.nv))
        XCTAssertEqual(run(fminD, Self.signalingDouble, Self.canonicalDouble), (Self.canonicalDouble, Self.nv))
        XCTAssertEqual(run(Asm.fp(0x14, 0, 10, 1, 2), Self.s(-0.0), Self.s(0)), (Self.s(-0.0), 0))
        let feq = Asm.fp(0x51, 2, 10, 1, 2), flt = Asm.fp(0x51, 1, 10, 1, 2), fle = Asm.fp(0x51, 0, 10, 1, 2)
        XCTAssertEqual(run(feq, Self.d(-0.0), Self.d(0)), (1, 0))
        XCTAssertEqual(run(flt, Self.d(-0.0), Self.d(0)), (0, 0))
        XCTAssertEqual(run(fle, Self.d(-0.0), Self.d(0)), (1, 0))
        XCTAssertEqual(run(flt, Self.d(-1), Self.d(-0.5)), (1, 0))
        XCTAssertEqual(run(feq, Self.canonicalDouble, Self.d(1)), (0, 0), "feq is quiet")
        XCTAssertEqual(run(feq, Self.signalingDouble, Self.d(1)), (0, Self.nv))
        XCTAssertEqual(run(flt, Self.canonicalDouble, Self.d(1)), (0, Self.nv), "flt signals on any NaN")
        XCTAssertEqual(run(fle, Self.d(1), Self.canonicalDouble), (0, Self.nv))
        // Infinities are ordered (the loop compares them inline; NaNs go out of line for their flags).
        XCTAssertEqual(run(flt, Self.d(-.infinity), Self.d(.infinity)), (1, 0))
        XCTAssertEqual(run(fle, Self.d(.infinity), Self.d(.infinity)), (1, 0))
        XCTAssertEqual(run(feq, Self.d(-.infinity), Self.d(-.infinity)), (1, 0))
        XCTAssertEqual(run(flt, Self.d(.infinity), 0x7ff0_0000_0000_0001), (0, Self.nv), "the smallest signaling NaN")
    }

    func testFusedMultiplyAdd() {
        let fmadd = Asm.fma(0x43, double: true, rm: 0, 10, 1, 2, 3)
        // One rounding: (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly.
        XCTAssertEqual(run(fmadd, Self.d(1 + 0x1p-30), Self.d(1 - 0x1p-30), Self.d(-1)), (Self.d(-0x1p-60), 0))
        XCTAssertEqual(run(fmadd, Self.d(.infinity), Self.d(0), Self.canonicalDouble), (Self.canonicalDouble, Self.nv),
                       "infinity x 0 is invalid even with a quiet NaN addend")
        XCTAssertEqual(run(fmadd, Self.d(.infinity), Self.d(1), Self.d(-.infinity)), (Self.canonicalDouble, Self.nv))
        XCTAssertEqual(run(fmadd, Self.d(2), Self.d(3), Self.d(4)).0, Self.d(10))
        XCTAssertEqual(run(Asm.fma(0x47, double: true, rm: 0, 10, 1, 2, 3), Self.d(2), Self.d(3), Self.d(4)).0,
                       Self.d(2), "fmsub")
        XCTAssertEqual(run(Asm.fma(0x4b, double: true, rm: 0, 10, 1, 2, 3), Self.d(2), Self.d(3), Self.d(4)).0,
                       Self.d(-2), "fnmsub")
        XCTAssertEqual(run(Asm.fma(0x4f, double: true, rm: 0, 10, 1, 2, 3), Self.d(2), Self.d(3), Self.d(4)).0,
                       Self.d(-10), "fnmadd")
        // Zero sums: +0 in nearest, -0 rounding down; fnmadd of zeros is -0.
        XCTAssertEqual(run(fmadd, Self.d(1), Self.d(0), Self.d(-0.0)).0, Self.d(0))
        XCTAssertEqual(run(Asm.fma(0x43, double: true, rm: Self.rdn, 10, 1, 2, 3), Self.d(1), Self.d(0),
                           Self.d(-0.0)).0, Self.d(-0.0))
        XCTAssertEqual(run(Asm.fma(0x4f, double: true, rm: 0, 10, 1, 2, 3), Self.d(1), Self.d(0), Self.d(0)).0,
                       Self.d(-0.0))
        let fmaddS = Asm.fma(0x43, double: false, rm: Self.rmm, 10, 1, 2, 3)
        XCTAssertEqual(run(fmaddS, Self.s(1), Self.s(1), Self.s(0x1p-24)), (Self.s(1 + 0x1p-23), Self.nx))
    }

    func testSquareRootAndClassify() {
        XCTAssertEqual(run(Asm.fp(0x2d, 0, 10, 1, 0), Self.d(-1)), (Self.canonicalDouble, Self.nv))
        XCTAssertEqual(run(Asm.fp(0x2d, 0, 10, 1, 0), Self.d(-0.0)), (Self.d(-0.0), 0))
        XCTAssertEqual(run(Asm.fp(0x2d, 0, 10, 1, 0), Self.d(2)), (Self.d(2.0.squareRoot()), Self.nx))
        XCTAssertEqual(run(Asm.fp(0x2c, Self.rmm, 10, 1, 0), Self.s(4)), (Self.s(2), 0))
        let fclass = Asm.fp(0x71, 1, 10, 1, 0)
        let cases: [(UInt64, UInt64)] = [
            (Self.d(-.infinity), 1 << 0), (Self.d(-1), 1 << 1), (Self.d(-0x1p-1074), 1 << 2), (Self.d(-0.0), 1 << 3),
            (Self.d(0), 1 << 4), (Self.d(0x1p-1074), 1 << 5), (Self.d(1), 1 << 6), (Self.d(.infinity), 1 << 7),
            (Self.signalingDouble, 1 << 8), (Self.canonicalDouble, 1 << 9),
        ]
        for (value, expected) in cases { XCTAssertEqual(run(fclass, value).0, expected) }
        XCTAssertEqual(run(Asm.fp(0x70, 1, 10, 1, 0), 0x3f80_0000).0, 1 << 9, "unboxed single: canonical NaN")
    }
}

/// (result, fflags) pairs compared at once.
func XCTAssertEqual(_ actual: (UInt64, UInt64), _ expected: (UInt64, UInt64), _ message: String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(actual == expected,
                  "(\(String(actual.0, radix: 16)), flags \(actual.1)) is not (\(String(expected.0, radix: 16)), "
                      + "flags \(expected.1)) \(message)", file: file, line: line)
}
