import Foundation
import RRProto
import RRSequencer
import XCTest

/// A replay's log position, as a checkpoint keeps it: a restored replay reads on from the very records it
/// left, and a position that does not name the records there is refused.
final class LogPositionTests: XCTestCase {
    private var path: String!

    override func setUpWithError() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-position-\(UUID().uuidString).log").path
        var header = Rrvm_LogHeader()
        header.formatVersion = logFormatVersion
        header.config = .with {
            $0.harts = 1
            $0.devices = [.with { $0.kind = .finisher; $0.base = 0x10_0000; $0.size = 0x1000 }]
        }
        header.checkInterval = 100
        let writer = try LogWriter(path: path, header: header)
        for index in 1...4 {
            let g = UInt64(index) * 1000
            try writer.append(.with { $0.input = .with { $0.g = g - 500; $0.console = Data("\(index)".utf8) } })
            try writer.append(.with { $0.check = .with { $0.g = g; $0.retired = g; $0.harts = [g * 7]; $0.devices = [0] } })
        }
        try writer.append(.with { $0.end = .with { $0.g = 5000; $0.guestEnded = true; $0.exitCode = 0 } })
        try writer.flush()
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    func check(_ index: UInt64, hash: UInt64? = nil) -> Rrvm_LogCheck {
        .with { $0.g = index * 1000; $0.retired = index * 1000; $0.harts = [hash ?? index * 7000]; $0.devices = [0] }
    }

    func input(_ journal: ReplayJournal, at g: UInt64) throws -> String? {
        try journal.input(at: g, live: nil, idleFrom: nil).get().map { String(decoding: $0.console, as: UTF8.self) }
    }

    func testAReplayGoesBackToASavedPositionAndReadsOnFromThere() throws {
        let journal = try ReplayJournal(path: path)
        XCTAssertEqual(try input(journal, at: 500), "1")
        XCTAssertNil(journal.check(check(1)))
        let position = try XCTUnwrap(journal.position())
        XCTAssertEqual(position.recordG, 2000)
        XCTAssertEqual(position.recordKind, "check")
        XCTAssertEqual(position.inputG, 1500)

        XCTAssertEqual(try input(journal, at: 1500), "2")
        XCTAssertNil(journal.check(check(2)))
        XCTAssertEqual(try input(journal, at: 2500), "3")

        try journal.seek(to: position)
        XCTAssertEqual(journal.checksMatched, 1)
        XCTAssertEqual(journal.nextRecordedInputG(), 1500, "the next input is the one after the position again")
        XCTAssertEqual(try input(journal, at: 1500), "2")
        XCTAssertNotNil(journal.check(check(2, hash: 1)), "the check there is compared again, and a difference found")
        try journal.seek(to: position)
        XCTAssertEqual(try input(journal, at: 1500), "2")
        XCTAssertNil(journal.check(check(2)))
        XCTAssertEqual(try input(journal, at: 2500), "3")
        XCTAssertNil(journal.check(check(3)))
    }

    func testAPositionThatDoesNotNameTheRecordThereIsRefused() throws {
        let journal = try ReplayJournal(path: path)
        XCTAssertNil(journal.check(check(1)))
        var position = try XCTUnwrap(journal.position())
        position.recordG += 1
        XCTAssertThrowsError(try journal.seek(to: position)) { XCTAssertTrue("\($0)".contains("another log"), "\($0)") }
        position = try XCTUnwrap(journal.position())
        position.recordOffset += 3
        XCTAssertThrowsError(try journal.seek(to: position))
        position.recordOffset = 1 << 40
        XCTAssertThrowsError(try journal.seek(to: position))
        XCTAssertNil(journal.check(check(2)), "a refused position changes nothing")
    }
}
