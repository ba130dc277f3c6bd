import Foundation
import RRTestSupport
import RVPlatform
import XCTest

/// The cluster's processes format numbers without Foundation's `String(format:)` (see TextFormatting.swift):
/// the helpers must write what printf writes for the figures and GDB packets they are used for.
final class TextFormattingTests: XCTestCase {
    func testHexadecimalAsPrintf() {
        var random = SplitMix64(seed: 7)
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
        var random = SplitMix64(seed: 11)
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
