import Foundation
@testable import RRCtl
import XCTest

final class FingerprintCacheTests: XCTestCase {
    /// The cache keeps one entry per existing file: entries of files that are gone are dropped when it is
    /// next written, so runs on temporary images do not grow it without bound.
    func testEntriesOfVanishedFilesAreDroppedAndKnownHashesKept() throws {
        let scratch = NSTemporaryDirectory() + "rrvm-fingerprints-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch + "/rrvm", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let saved = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"]
        setenv("XDG_CACHE_HOME", scratch, 1)
        defer { if let saved { setenv("XDG_CACHE_HOME", saved, 1) } else { unsetenv("XDG_CACHE_HOME") } }
        FingerprintCache.loaded = nil
        defer { FingerprintCache.loaded = nil }

        let kept = scratch + "/kept.img"
        try Data("kept".utf8).write(to: URL(fileURLWithPath: kept))
        let keptHash = FingerprintCache.sha256(path: kept, bytes: Array("kept".utf8))
        let cache = scratch + "/rrvm/sha256"
        // An entry left by a run on a file that has since gone.
        try (String(contentsOfFile: cache, encoding: .utf8) + scratch + "/gone.img\t4\t1\t2\tabcd\n")
            .write(toFile: cache, atomically: true, encoding: .utf8)
        FingerprintCache.loaded = nil

        let added = scratch + "/added.img"
        try Data("added".utf8).write(to: URL(fileURLWithPath: added))
        XCTAssertEqual(FingerprintCache.sha256(path: added, bytes: Array("added".utf8)), SHA256.hex(Array("added".utf8)))
        let lines = try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix(kept + "\t") && $0.hasSuffix("\t" + keptHash) }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix(added + "\t") }, "\(lines)")
        XCTAssertFalse(lines.contains { $0.contains("gone.img") }, "\(lines)")
    }
}
