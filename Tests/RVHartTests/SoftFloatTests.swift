@testable import RVHart
import XCTest

/// The hart's host-FPU path against the integer SoftFloat, on random and boundary operands in the four
/// rounding modes the host supports: results and flags must agree bit for bit.
final class SoftFloatTests: XCTestCase {
    /// Operands that reach every class and the edges of the exponent range.
    static func operand(_ random: inout SplitMix, _ format: SoftFloat) -> UInt64 {
        let bits = random.next()
        let width = UInt64(format.exponentBits + format.fractionBits)
        let fraction = bits & format.fractionMask
        let sign = (bits >> 63) << width
        let exponent: UInt64
        switch bits >> 58 & 7 {
        case 0: exponent = 0  // zero or subnormal
        case 1: exponent = format.exponentMask  // infinity or NaN
        case 2: exponent = 1 + (bits >> 40 & 3)  // smallest normals
        case 3: exponent = format.exponentMask - 1 - (bits >> 40 & 3)  // largest
        default: exponent = UInt64(format.bias) - 8 + (bits >> 40 & 15)  // around 1
        }
        let special = bits >> 56 & 3 == 0 ? fraction & 7 : fraction  // sparse fractions hit exact cases
        return sign | exponent << UInt64(format.fractionBits) | special
    }

    func testHostPathMatchesSoftFloat() {
        let m = TestMachine()
        m.hart.mstatus |= 1 << 13
        var random = SplitMix(state: 42)
        var checked = 0
        for format in [SoftFloat.double, SoftFloat.single] {
            let isDouble = format.fractionBits == 52
            for _ in 0..<3000 {
                let a = Self.operand(&random, format), b = Self.operand(&random, format), c = Self.operand(&random, format)
                let rm = random.next() % 4
                let box: (UInt64) -> UInt64 = { isDouble ? $0 : $0 | 0xffff_ffff_0000_0000 }
                let dBit: UInt32 = isDouble ? 1 : 0
                let cases: [(String, UInt32, (inout UInt64) -> UInt64)] = [
                    ("add", Asm.fp(0x00 | dBit, UInt32(rm), 10, 1, 2), { format.add(a, b, rm: rm, flags: &$0) }),
                    ("sub", Asm.fp(0x04 | dBit, UInt32(rm), 10, 1, 2),
                     { format.add(a, b ^ format.signBit, rm: rm, flags: &$0) }),
                    ("mul", Asm.fp(0x08 | dBit, UInt32(rm), 10, 1, 2), { format.multiply(a, b, rm: rm, flags: &$0) }),
                    ("div", Asm.fp(0x0c | dBit, UInt32(rm), 10, 1, 2), { format.divide(a, b, rm: rm, flags: &$0) }),
                    ("sqrt", Asm.fp(0x2c | dBit, UInt32(rm), 10, 1, 0), { format.squareRoot(a, rm: rm, flags: &$0) }),
                    ("fmadd", Asm.fma(0x43, double: isDouble, rm: UInt32(rm), 10, 1, 2, 3),
                     { format.fusedMultiplyAdd(a, b, c, negateProduct: false, negateAddend: false, rm: rm, flags: &$0) }),
                    ("fnmsub", Asm.fma(0x4b, double: isDouble, rm: UInt32(rm), 10, 1, 2, 3),
                     { format.fusedMultiplyAdd(a, b, c, negateProduct: true, negateAddend: false, rm: rm, flags: &$0) }),
                ]
                for (name, word, soft) in cases {
                    var expectedFlags: UInt64 = 0
                    let expected = box(soft(&expectedFlags))
                    m.hart.fflags = 0
                    m.hart.setFPRegister(1, box(a))
                    m.hart.setFPRegister(2, box(b))
                    m.hart.setFPRegister(3, box(c))
                    m.put([word])
                    m.hart.pc = TestMachine.ramBase
                    m.run(1)
                    let got = m.hart.fpRegister(10)
                    if got != expected || m.hart.fflags != expectedFlags {
                        XCTFail("\(name) \(isDouble ? "d" : "s") rm \(rm) a \(hex(a)) b \(hex(b)) c \(hex(c)): "
                            + "host \(hex(got)) flags \(m.hart.fflags), soft \(hex(expected)) flags \(expectedFlags)")
                        return
                    }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 2 * 3000 * 7)
    }

    func testSoftFloatKnownValues() {
        var flags: UInt64 = 0
        let d = SoftFloat.double
        XCTAssertEqual(d.add(1.0.bitPattern, 0x1p-53.bitPattern, rm: 4, flags: &flags), (1 + 0x1p-52).bitPattern)
        XCTAssertEqual(flags, 1)
        flags = 0
        XCTAssertEqual(d.divide(1.0.bitPattern, 3.0.bitPattern, rm: 0, flags: &flags), (1.0 / 3).bitPattern)
        flags = 0
        XCTAssertEqual(d.squareRoot(2.0.bitPattern, rm: 0, flags: &flags), 2.0.squareRoot().bitPattern)
        XCTAssertEqual(d.convert(UInt64(Float(0.1).bitPattern), from: .single, rm: 0, flags: &flags),
                       Double(Float(0.1)).bitPattern)
        XCTAssertEqual(SoftFloat.integerSquareRoot(1 << 126), 1 << 63)
        XCTAssertEqual(SoftFloat.integerSquareRoot(99), 9)
    }

    private func hex(_ value: UInt64) -> String { String(value, radix: 16) }
}
