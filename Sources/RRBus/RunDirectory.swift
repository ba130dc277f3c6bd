import Foundation

import RRProto
import SwiftProtobuf

/// The private directory of one running cluster: the bus socket, the per-run secret, the machine
/// configuration, guest RAM and the supervisor's pid. Mode 0700 under a 0700 per-user base, so only
/// the user who started the cluster can join it.
public struct RunDirectory {
    public let path: String

    public var clusterID: String { (path as NSString).lastPathComponent }
    public var socketPath: String { path + "/bus.sock" }
    public var secretPath: String { path + "/secret" }
    public var configPath: String { path + "/config.pb" }
    public var ramPath: String { path + "/ram" }
    public var supervisorPIDPath: String { path + "/rrctl.pid" }
    public var busAddress: BusAddress { .unix(path: socketPath) }

    public init(path: String) { self.path = path }

    /// Where run directories live: tmpfs (/dev/shm) when there is one, so guest RAM never hits a disk.
    public static var base: String {
        let uid = getuid()
        let shm = "/dev/shm"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: shm, isDirectory: &isDirectory), isDirectory.boolValue,
           access(shm, W_OK) == 0 {
            return "\(shm)/rrvm-\(uid)"
        }
        return "\(NSTemporaryDirectory())rrvm-\(uid)"
    }

    /// Creates a fresh run directory with a new secret, after removing stale ones of crashed runs.
    public static func create() throws -> RunDirectory {
        let base = Self.base
        try makePrivateDirectory(base)
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

    /// Every run directory whose supervisor is still alive.
    public static func live() -> [RunDirectory] {
        let base = Self.base
        removeStale(in: base)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return names.sorted().map { RunDirectory(path: "\(base)/\($0)") }
    }

    /// Removes run directories left by a supervisor that no longer exists (a crashed or killed rrctl).
    static func removeStale(in base: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            let directory = RunDirectory(path: "\(base)/\(name)")
            if let pid = directory.supervisorPID(), kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(atPath: directory.path)
        }
    }

    public func supervisorPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: supervisorPIDPath, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
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

func writePrivate(_ bytes: [UInt8], to path: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw NodeError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw NodeError("cannot write \(path): short write") }
}

/// Host randomness for secrets and ids (never reaches the guest).
func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
    var generator = SystemRandomNumberGenerator()
    for index in buffer.indices { buffer[index] = generator.next() }
}
