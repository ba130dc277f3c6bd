@testable import RRNode
import XCTest

/// The debugger's map from "hart N had retired R instructions" to G (reverse-stepi on one hart).
final class SliceHistoryTests: XCTestCase {
    func testAHartsInstructionCountMapsToTheGOfItsSlice() {
        var history = SliceHistory(harts: 2)
        // Hart 0 runs G 0-100, hart 1 G 100-150, hart 0 again G 150-250 (it had retired 100 then).
        history.sliceStarted(hart: 0, g: 0, retired: 0)
        history.sliceEnded(hart: 0, executed: 100)
        history.sliceStarted(hart: 1, g: 100, retired: 0)
        history.sliceEnded(hart: 1, executed: 50)
        history.sliceStarted(hart: 0, g: 150, retired: 100)
        history.sliceEnded(hart: 0, executed: 100)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 0), 0)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 99), 99)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 100), 150, "its next instruction ran in its next slice")
        XCTAssertEqual(history.g(hart: 1, beforeInstruction: 49), 149)
        XCTAssertNil(history.g(hart: 1, beforeInstruction: 50), "not run yet")
        XCTAssertNil(history.g(hart: 5, beforeInstruction: 0))
    }

    func testRunningAnIntervalAgainAddsNothingTwice() {
        var history = SliceHistory(harts: 1)
        for _ in 0..<2 {
            history.sliceStarted(hart: 0, g: 10, retired: 0)
            history.sliceEnded(hart: 0, executed: 20)
            history.sliceStarted(hart: 0, g: 40, retired: 20)
            history.sliceEnded(hart: 0, executed: 20)
        }
        history.sliceStarted(hart: 0, g: 10, retired: 0)  // gone back to G=10 once more, then to 35
        history.sliceEnded(hart: 0, executed: 20)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 25), 45)
        XCTAssertEqual(history.g(hart: 0, beforeInstruction: 5), 15)
    }
}
