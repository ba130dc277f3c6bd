import RRProto
import XCTest

/// Looking a read up in a device's declaration (`Array<Rrvm_StableRead>.declaredRegister` and `readValue`), as the harts and the
/// sequencer do for every read they answer.
final class DeclarationLookupTests: XCTestCase {
    func testReadValueIsTheDeclaredReadsValue() {
        let declaration: [Rrvm_StableRead] = [
            .with { $0.offset = 0x10; $0.size = 1; $0.value = 0x60 },
            .with { $0.offset = 0x4000; $0.size = 8; $0.value = 5; $0.moreValues = [6, 7, 8]; $0.stride = 8 },
        ]
        let expected: [UInt64: UInt64] = [0x10: 0x60, 0x4000: 5, 0x4008: 6, 0x4010: 7, 0x4018: 8]
        for offset in [UInt64(0x10), 0x11, 0x3ff8, 0x4000, 0x4004, 0x4008, 0x4010, 0x4018, 0x4020] {
            for size: UInt32 in [1, 4, 8] {
                let value = declaration.readValue(offset: offset, size: size)
                XCTAssertEqual(value, declaration.declaredRegister(offset: offset, size: size)?.value, "offset \(offset), size \(size)")
                let declared = (offset == 0x10 && size == 1) || (offset >= 0x4000 && size == 8)
                XCTAssertEqual(value, declared ? expected[offset] : nil, "offset \(offset), size \(size)")
            }
        }
    }
}
