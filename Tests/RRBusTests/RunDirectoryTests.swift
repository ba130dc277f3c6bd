import Foundation
import RRBus
import RRTestSupport
import XCTest

/// The run directory base lives in world-writable /dev/shm: nothing planted there may make rrvm read or
/// delete what is not its own.
final class RunDirectoryTests: XCTestCase {
    private var scratch: String!

    override func setUpWithError() throws {
        scratch = try makeScratchDirectory("rrvm-rundir-test")
    }

    override func tearDown() {
        unsetenv("RRVM_RUN_BASE")
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// A directory of the user's holding a stale-looking run directory and a precious file.
    private func makeVictim() throws -> String {
        let victim = scratch + "/victim"
        try FileManager.default.createDirectory(atPath: victim + "/999999-dead", withIntermediateDirectories: true)
        try "999999\n".write(toFile: victim + "/999999-dead/rrctl.pid", atomically: true, encoding: .utf8)
        try "keep me".write(toFile: victim + "/precious.txt", atomically: true, encoding: .utf8)
        chmod(victim, 0o700)
        return victim
    }

    private func assertUntouched(_ victim: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(FileManager.default.fileExists(atPath: victim + "/precious.txt"), file: file, line: line)
        XCTAssertTrue(FileManager.default.fileExists(atPath: victim + "/999999-dead/rrctl.pid"), file: file, line: line)
    }

    func testSymlinkedBaseIsRefusedAndNothingBehindItIsDeleted() throws {
        let victim = try makeVictim()
        let base = scratch + "/rrvm-base"
        XCTAssertEqual(symlink(victim, base), 0)
        setenv("RRVM_RUN_BASE", base, 1)
        XCTAssertThrowsError(try RunDirectory.live()) { error in
            XCTAssertTrue("\(error)".contains("not a directory"), "\(error)")
        }
        XCTAssertThrowsError(try RunDirectory.create())
        assertUntouched(victim)
    }

    func testBaseWithAnOpenModeIsRefused() throws {
        let victim = try makeVictim()
        chmod(victim, 0o755)
        setenv("RRVM_RUN_BASE", victim, 1)
        XCTAssertThrowsError(try RunDirectory.live()) { error in
            XCTAssertTrue("\(error)".contains("755"), "\(error)")
        }
        XCTAssertThrowsError(try RunDirectory.create())
        assertUntouched(victim)
    }

    func testOnlyProvenRunDirectoriesAreRemoved() throws {
        let victim = try makeVictim()
        let base = scratch + "/base"
        setenv("RRVM_RUN_BASE", base, 1)
        XCTAssertEqual(try RunDirectory.live().count, 0, "no base yet: no cluster, nothing created")
        XCTAssertFalse(FileManager.default.fileExists(atPath: base))
        let own = try RunDirectory.create()
        defer { own.remove() }
        // Inside a sound base: a symlink dressed as a stale run directory, a file, and a real stale one.
        XCTAssertEqual(symlink(victim + "/999999-dead", base + "/999998-dead"), 0)
        try "not a run".write(toFile: base + "/notes.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: base + "/999997-beef", withIntermediateDirectories: false)
        try "999997\n".write(toFile: base + "/999997-beef/rrctl.pid", atomically: true, encoding: .utf8)

        let live = try RunDirectory.live()
        XCTAssertEqual(live.map(\.path), [own.path], "only this process's run is alive")
        XCTAssertFalse(FileManager.default.fileExists(atPath: base + "/999997-beef"), "a stale run directory is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: base + "/notes.txt"))
        XCTAssertNotNil(try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/999998-dead"))
        assertUntouched(victim)
    }
}
