import Foundation
import RRProto
import RRSequencer
import XCTest

/// Who may read a recording.
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

    func testTheLogIsReadableByItsOwnerOnly() throws {
        umask(0o022)
        _ = try journal()
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        XCTAssertEqual(mode, 0o600, "a log holds what was typed on the console")
    }
}
