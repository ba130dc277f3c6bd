import Foundation
import RRProto
import RRSequencer
import XCTest

/// A recording that goes back under a debugger (`TimeTravelJournal`): in the past it replays the log written
/// so far from a position taken while recording, at the present it records on into the same file, and the
/// file stays one valid log.
final class TimeTravelJournalTests: XCTestCase {
    private var path: String!

    override func setUpWithError() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-timetravel-\(UUID().uuidString).log").path
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    private func check(_ g: UInt64, hash: UInt64? = nil) -> Rrvm_LogCheck {
        .with { $0.g = g; $0.retired = g; $0.harts = [hash ?? g * 7]; $0.devices = [0] }
    }

    /// A new recording of a 1-hart machine with a UART, under a debugger.
    private func recording() throws -> TimeTravelJournal {
        let header = Rrvm_LogHeader.with {
            $0.formatVersion = logFormatVersion
            $0.config = .with {
                $0.harts = 1
                $0.devices = [.with { $0.kind = .uart; $0.base = 0x1000_0000; $0.size = 0x100 }]
            }
            $0.checkInterval = 1000
        }
        return TimeTravelJournal(record: RecordJournal(writer: try LogWriter(path: path, header: header), checkInterval: 1000))
    }

    private func typed(_ text: String) -> Rrvm_HostInput { .with { $0.console = Data(text.utf8) } }

    func testThePastReplaysTheLogSoFarAndThePresentRecordsOnIntoTheSameFile() throws {
        let journal = try recording()
        XCTAssertNil(journal.check(check(1000)))
        let position = try XCTUnwrap(journal.position(), "a checkpoint while recording names where the next record goes")
        XCTAssertEqual(try journal.input(at: 1500, live: typed("a"), idleFrom: nil).get()?.console, Data("a".utf8))
        XCTAssertNil(journal.check(check(2000)))
        XCTAssertFalse(journal.isReplaying)

        // Back to the position: the past's input comes from the log, its check is compared.
        try journal.enterPast(presentG: 2400)
        XCTAssertTrue(journal.isReplaying)
        try journal.seek(to: position)
        XCTAssertEqual(journal.nextRecordedInputG(), 1500)
        XCTAssertThrowsError(try journal.returnToPresent(atG: 2400), "records of the past not replayed yet")
        XCTAssertEqual(try journal.input(at: 1500, live: nil, idleFrom: nil).get()?.console, Data("a".utf8))
        XCTAssertNotNil(journal.check(check(2000, hash: 1)), "a different state in the past is a divergence")
        try journal.seek(to: position)
        _ = try journal.input(at: 1500, live: nil, idleFrom: nil).get()
        XCTAssertNil(journal.check(check(2000)))
        XCTAssertNil(journal.stopAtBoundary(g: 2300), "the recording went on to the present, past its last record")
        try journal.returnToPresent(atG: 2400)

        // Recording again, appending: the log holds every record once, in order, and ends.
        XCTAssertFalse(journal.isReplaying)
        XCTAssertEqual(try journal.input(at: 2500, live: typed("b"), idleFrom: nil).get()?.console, Data("b".utf8))
        XCTAssertNil(journal.check(check(3000)))
        XCTAssertNil(journal.end(.with { $0.g = 3100; $0.guestEnded = true }))
        let reader = try LogReader(path: path)
        var kinds: [String] = []
        while let entry = try reader.next() { kinds.append("\(entry.record.kindName)@\(entry.record.g)") }
        XCTAssertEqual(kinds, ["check@1000", "input@1500", "check@2000", "input@2500", "check@3000", "end@3100"])
    }

    func testARunEndedInThePastEndsTheLogAtThePresent() throws {
        let journal = try recording()
        let position = try XCTUnwrap(journal.position())
        XCTAssertNil(journal.check(check(1000)))
        try journal.enterPast(presentG: 1800)
        try journal.seek(to: position)
        _ = journal.end(.with { $0.g = 400; $0.exitCode = 130; $0.reason = "stopped by signal 2" })
        let summary = try LogSummary(path: path)
        XCTAssertEqual(summary.end?.g, 1800, "the recording reached the present")
        XCTAssertEqual(summary.end?.guestEnded, false)
    }
}
