import Foundation
import RVPlatform
import XCTest

/// The cluster's processes format numbers without Foundation's `String(format:)` (see TextFormatting.swift):
/// the helpers must write what printf writes for the figures and GDB packets they are used for.
final class TextFormattingTests: XCTestCase {
    /// A fixed sequence (SplitMix64), so that a failure shows again on every run.
    private struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testHexadecimalAsPrintf() {
        var random = SplitMix(state: 7)
        for _ in 0..<2_000 {
            let value = random.next() >> (random.next() % 64)
            let width = Int(random.next() % 18)
            XCTAssertEqual(hexadecimal(value, width: width), String(format: "%0*llx", width, value))
        }
        for byte in UInt8.min...UInt8.max {
            XCTAssertEqual(hexadecimal(byte), String(format: "%02x", byte))
        }
    }

    func testFixedPointAsPrintf() {
        var random = SplitMix(state: 11)
        for _ in 0..<5_000 {
            let magnitude = Double(random.next() % 1_000_000_000) / Double(1 << (random.next() % 40))
            let value = random.next() % 4 == 0 ? -magnitude : magnitude
            let decimals = Int(random.next() % 7)
            let width = Int(random.next() % 14)
            XCTAssertEqual(fixedPoint(value, decimals: decimals, width: width),
                           String(format: "%*.*f", width, decimals, value), "\(value) to \(decimals) places")
        }
        XCTAssertEqual(fixedPoint(0, decimals: 3), "0.000")
        XCTAssertEqual(fixedPoint(-0.0004, decimals: 3), "-0.000")
        XCTAssertEqual(fixedPoint(9.96, decimals: 1), "10.0")
        XCTAssertEqual(fixedPoint(1.5, decimals: 6, width: 10), "  1.500000")
    }

    func testTrimmingWhitespace() {
        XCTAssertEqual(trimmingWhitespace("  4242\n"), "4242")
        XCTAssertEqual(trimmingWhitespace("\t a b \r\n"), "a b")
        XCTAssertEqual(trimmingWhitespace(" \n\t"), "")
        XCTAssertEqual(trimmingWhitespace(""), "")
        XCTAssertEqual(trimmingWhitespace("x"), "x")
    }
}
