@testable import RRNode
import XCTest

/// The debugger's map from "hart N had retired R instructions" to G (reverse-stepi on one hart).
final class SliceHistoryTests: XCTestCase {
    func testAHartsInstructionCountMapsToTheGOfItsSlice() {
        var history = SliceHistory(harts: 2)
        // Hart 0 runs G 0-100, hart 1 G 100-150, hart 0 again G 150-250 (it had retired 100 then).
        history.record(hart: 0, .init(startG: 0, retiredAtStart: 0, length: 100))
        history.record(hart: 1, .init(startG: 100, retiredAtStart: 0, length: 50))
        history.record(hart: 0, .init(startG: 150, retiredAtStart: 100, length: 100))
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 0), 0)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 99), 99)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 100), 150, "its next instruction ran in its next slice")
        XCTAssertEqual(history.g(hart: 1, beforeInstruction: 49), 149)
        XCTAssertNil(history.g(hart: 1, beforeInstruction: 50), "not run yet")
        XCTAssertEqual(history.g(hart: 1, beforeInstruction: 60, current: (startG: 250, retiredAtStart: 50)), 260,
                       "inside the slice it is running")
        XCTAssertNil(history.g(hart: 5, beforeInstruction: 0))
    }

    func testRunningAnIntervalAgainAddsNothingTwice() {
        var history = SliceHistory(harts: 1)
        for _ in 0..<2 {
            history.record(hart: 0, .init(startG: 10, retiredAtStart: 0, length: 20))
            history.record(hart: 0, .init(startG: 40, retiredAtStart: 20, length: 20))
        }
        history.record(hart: 0, .init(startG: 10, retiredAtStart: 0, length: 20))
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 25), 45)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 5), 15)
    }
}
