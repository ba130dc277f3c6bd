#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform

/// The sha256 of image files, remembered between runs: hashing the default guest's 11 MB of images took
/// about a sixth of a recorded boot. An entry is used only while the file's size, modification time and
/// inode are unchanged (as git's index does), so a disk written by a plain run is hashed again.
/// Kept in $XDG_CACHE_HOME/rrvm (else ~/.cache/rrvm); without a usable cache the hashes are computed.
enum FingerprintCache {
    static var path: String? {
        let environment = ProcessInfo.processInfo.environment
        guard let base = environment["XDG_CACHE_HOME"] ?? environment["HOME"].map({ $0 + "/.cache" }) else { return nil }
        return base + "/rrvm/sha256"
    }

    /// The hex sha256 of `bytes`, the contents of the file at `path`.
    static func sha256(path file: String, bytes: [UInt8]) -> String {
        sha256(path: file) { bytes }
    }

    /// The hex sha256 of the file at `path`, whose contents `read` returns: called only when the cache does not
    /// know this version of the file (a replay so checks the default guest's 12 MB of images without reading them).
    static func sha256(path file: String, read: () throws -> [UInt8]) rethrows -> String {
        guard let key = key(for: file) else { return SHA256.hex(try read()) }
        if loaded == nil { loaded = load() }
        var entries = loaded ?? [:]
        if let known = entries[key] { return known }
        let hash = SHA256.hex(try read())
        // One entry per file: an older version's goes, and so do those of files that no longer exist (runs
        // on temporary images would otherwise grow the file without bound).
        let prefix = absolute(file) + "\t"
        entries = entries.filter { !$0.key.hasPrefix(prefix) && access(Self.file(ofKey: $0.key), F_OK) == 0 }
        entries[key] = hash
        loaded = entries
        save(entries)
        return hash
    }

    /// The cache file's entries, read once per process (a run fingerprints up to four images).
    static var loaded: [String: String]?

    /// Path, size, modification time (ns) and inode: what identifies this version of the file.
    private static func key(for file: String) -> String? {
        var status = stat()
        guard stat(file, &status) == 0 else { return nil }
        let modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        return "\(absolute(file))\t\(status.st_size)\t\(modified)\t\(status.st_ino)"
    }

    /// The file a key names: everything before its last three fields.
    private static func file(ofKey key: String) -> String {
        key.split(separator: "\t", omittingEmptySubsequences: false).dropLast(3).joined(separator: "\t")
    }

    private static func load() -> [String: String] {
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var entries: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let tab = line.lastIndex(of: "\t") else { continue }
            entries[String(line[..<tab])] = String(line[line.index(after: tab)...])
        }
        return entries
    }

    /// Writes the entries back (atomically).
    private static func save(_ entries: [String: String]) {
        guard let path else { return }
        let text = entries.sorted { $0.key < $1.key }.map { "\($0.key)\t\($0.value)\n" }.joined()
        try? FileManager.default.createDirectory(atPath: parentDirectory(of: path),
                                                 withIntermediateDirectories: true)
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
