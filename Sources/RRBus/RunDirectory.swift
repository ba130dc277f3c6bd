#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

import RRProto
import RVPlatform
import SwiftProtobuf

/// The private directory of one running cluster: the bus socket, the per-run secret, the machine
/// configuration, the shared lanes and the supervisor's pid (guest RAM is an anonymous memory file). Mode 0700 under a 0700 per-user base, so only
/// the user who started the cluster can join it.
public struct RunDirectory {
    public let path: String

    public var clusterID: String { lastPathComponent(of: path) }
    public var socketPath: String { path + "/bus.sock" }
    public var secretPath: String { path + "/secret" }
    public var configPath: String { path + "/config.pb" }
    public var supervisorPIDPath: String { path + "/rrctl.pid" }
    /// The harts' turn board of a split cluster (`TurnBoard`).
    public var turnBoardPath: String { path + "/turns" }
    public var busAddress: BusAddress { .unix(path: socketPath) }

    public init(path: String) { self.path = path }

    /// Where run directories live: tmpfs (/dev/shm) when there is one, so nothing of a run hits a disk.
    /// `RRVM_RUN_BASE` names another base (tests use a private temporary one).
    public static var base: String {
        if let explicit = ProcessInfo.processInfo.environment["RRVM_RUN_BASE"], !explicit.isEmpty { return explicit }
        let uid = getuid()
        let shm = "/dev/shm"
        var status = stat()
        if stat(shm, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, access(shm, W_OK) == 0 {
            return "\(shm)/rrvm-\(uid)"
        }
        return "\(FileManager.default.temporaryDirectory.path)/rrvm-\(uid)"
    }

    /// Creates a fresh run directory with a new secret, after removing stale ones of crashed runs.
    public static func create() throws -> RunDirectory {
        let base = Self.base
        if mkdir(base, 0o700) == 0 {
            chmod(base, 0o700) // whatever the umask took away: this directory is ours, just made
        } else if errno != EEXIST {
            throw NodeError("cannot create \(base): \(String(cString: strerror(errno)))")
        }
        try verifyPrivateBase(base)
        removeStale(in: base)
        var random: UInt16 = 0
        withUnsafeMutableBytes(of: &random) { fillRandom($0) }
        let directory = RunDirectory(path: "\(base)/\(getpid())-\(String(random, radix: 16))")
        try makePrivateDirectory(directory.path)
        var secret = [UInt8](repeating: 0, count: 32)
        secret.withUnsafeMutableBytes { fillRandom($0) }
        try writePrivate(secret, to: directory.secretPath)
        try writePrivate(Array("\(getpid())\n".utf8), to: directory.supervisorPIDPath)
        return directory
    }

    /// Every run directory whose supervisor is still alive (none when the base does not exist yet).
    /// Throws, touching nothing, when the base is not this user's private directory.
    public static func live() throws -> [RunDirectory] {
        let base = Self.base
        var info = stat()
        if lstat(base, &info) != 0 && errno == ENOENT { return [] }
        try verifyPrivateBase(base)
        removeStale(in: base)
        return runDirectoryNames(in: base).map { RunDirectory(path: "\(base)/\($0)") }
    }

    /// `/dev/shm` is writable by everyone, so the base may have been planted by someone else (or be a
    /// symlink to a directory of ours that must not be emptied): it must be a directory itself, owned by
    /// this user, mode 0700, before anything in it is read or removed.
    static func verifyPrivateBase(_ base: String) throws {
        var info = stat()
        guard lstat(base, &info) == 0 else {
            throw NodeError("cannot use the run directory base \(base): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw NodeError("refusing the run directory base \(base): it is not a directory (a symlink or a file); remove it")
        }
        guard info.st_uid == getuid() else {
            throw NodeError("refusing the run directory base \(base): it belongs to uid \(info.st_uid), not to this user")
        }
        guard info.st_mode & 0o777 == 0o700 else {
            throw NodeError("refusing the run directory base \(base): its mode is \(String(info.st_mode & 0o777, radix: 8)), not 700")
        }
    }

    /// Names in `base` that are run directories as `create` makes them: "PID-HEX", a real directory of
    /// this user holding a regular rrctl.pid file. Nothing else there is ever read or removed.
    static func runDirectoryNames(in base: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return names.sorted().filter { name in
            let parts = name.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCII), Int32(parts[0]) != nil,
                  !parts[1].isEmpty, UInt16(parts[1], radix: 16) != nil else { return false }
            var directory = stat()
            var pidFile = stat()
            let path = "\(base)/\(name)"
            return lstat(path, &directory) == 0 && directory.st_mode & S_IFMT == S_IFDIR && directory.st_uid == getuid()
                && lstat(path + "/rrctl.pid", &pidFile) == 0 && pidFile.st_mode & S_IFMT == S_IFREG
        }
    }

    /// Removes run directories left by a supervisor that no longer exists (a crashed or killed rrctl).
    static func removeStale(in base: String) {
        for name in runDirectoryNames(in: base) {
            let directory = RunDirectory(path: "\(base)/\(name)")
            guard let pid = directory.supervisorPID() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(atPath: directory.path)
        }
    }

    public func supervisorPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: supervisorPIDPath, encoding: .utf8) else { return nil }
        return pid_t(trimmingWhitespace(text))
    }

    public func credentials() throws -> Credentials {
        guard let secret = FileManager.default.contents(atPath: secretPath) else {
            throw NodeError("cannot read the cluster secret at \(secretPath)")
        }
        return Credentials(clusterID: clusterID, secret: [UInt8](secret))
    }

    public func writeConfig(_ config: Rrvm_MachineConfig) throws {
        try writePrivate(try config.serializedBytes(), to: configPath)
    }

    public func readConfig() throws -> Rrvm_MachineConfig {
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw NodeError("cannot read the machine configuration at \(configPath)")
        }
        return try Rrvm_MachineConfig(serializedBytes: [UInt8](data))
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

public struct NodeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

func makePrivateDirectory(_ path: String) throws {
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
        throw NodeError("cannot create \(path): \(String(cString: strerror(errno)))")
    }
    var info = stat()
    guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid() else {
        throw NodeError("\(path) exists but is not a directory owned by this user")
    }
    chmod(path, 0o700)
}

/// Writes a file of the run directory, readable by this user only (not through a symlink).
func writePrivate(_ bytes: [UInt8], to path: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard descriptor >= 0 else { throw NodeError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    if let reason = bytes.withUnsafeBytes({ writeWholeFailure(descriptor, $0) }) {
        throw NodeError("cannot write \(path): \(reason)")
    }
}

/// Host randomness for secrets and ids (never reaches the guest).
func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
    var generator = SystemRandomNumberGenerator()
    for index in buffer.indices { buffer[index] = generator.next() }
}
