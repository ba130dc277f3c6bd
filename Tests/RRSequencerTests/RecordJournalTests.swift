import Foundation
import RRProto
import RRSequencer
import XCTest

/// What a recording writes besides the events: its end, and who may read it.
final class RecordJournalTests: XCTestCase {
    private var path: String!

    override func setUp() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-journal-\(UUID().uuidString).log").path
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    private func journal() throws -> RecordJournal {
        var header = Rrvm_LogHeader()
        header.formatVersion = logFormatVersion
        return RecordJournal(writer: try LogWriter(path: path, header: header))
    }

    func testARunStoppedMidSliceEndsNoEarlierThanItsLastEvent() throws {
        let journal = try journal()
        var event = Rrvm_Envelope()
        event.g = 5_000   // an MMIO request stamped inside a slice that began at G=4000
        event.body = .mmioRequest(.with { $0.address = 0x1000_0000; $0.size = 1 })
        XCTAssertNil(journal.note(event))
        journal.end(g: 4_000, exitCode: 130, reason: "stopped by signal 2")
        let log = try LogFile(path: path)
        guard case .end(let end)? = log.records.last?.body else { return XCTFail("no end record") }
        XCTAssertEqual(end.g, 5_000)
    }

    func testTheLogIsReadableByItsOwnerOnly() throws {
        umask(0o022)
        _ = try journal()
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        XCTAssertEqual(mode, 0o600, "a log holds what was typed on the console")
    }
}
