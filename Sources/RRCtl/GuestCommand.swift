import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRNode

struct Guest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The default guest (Linux 6.1, OpenSBI, an initramfs and a disk, all from Debian packages).",
        subcommands: [Build.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build the default guest images (cached: rebuilt only when an input changes).")

        func run() throws {
            let status = try DefaultGuest.build()
            if status != 0 { throw ExitCode(status) }
            print(DefaultGuest.directory)
        }
    }
}

/// Where the project's scripts and the default guest live.
enum DefaultGuest {
    /// The source tree: RRVM_HOME, else the first parent of the rrctl executable holding cluster/.
    static var projectRoot: String? {
        if let home = ProcessInfo.processInfo.environment["RRVM_HOME"] { return home }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("cluster/build-guest.sh").path) {
                return directory.path
            }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    static var directory: String {
        ProcessInfo.processInfo.environment["RRVM_GUEST_DIR"] ?? ((projectRoot ?? ".") + "/cluster/out")
    }

    /// Runs cluster/build-guest.sh, its progress going to standard error.
    static func build() throws -> Int32 {
        guard let root = projectRoot else {
            throw NodeError("cannot find rrvm's cluster/ directory: set RRVM_HOME to the source tree")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["RRVM_GUEST_DIR"] = directory
        // The script runs in a process group of its own, which Ctrl-C at the terminal (or a signal to rrctl's
        // group) does not reach: rrctl passes such signals on, so no build outlives it.
        buildGroup = 0
        receivedSignal = 0
        let forward: @convention(c) (Int32) -> Void = { number in
            receivedSignal = number
            if buildGroup > 0 { kill(-buildGroup, number) }
        }
        let previous = forwardedSignals.map { ($0, signal($0, forward)) }
        defer { for (number, handler) in previous { signal(number, handler) } }
        buildGroup = try spawnProcess(path: "/bin/bash", arguments: [root + "/cluster/build-guest.sh"],
                                      environment: environment) { actions, attributes in
            posix_spawn_file_actions_adddup2(&actions, 2, 1)  // its output goes to standard error
            posix_spawnattr_setpgroup(&attributes, 0)  // the leader of a new group
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        }
        if receivedSignal != 0 { kill(-buildGroup, receivedSignal) }
        var status: Int32 = 0
        while waitpid(buildGroup, &status, 0) < 0 && errno == EINTR {}
        buildGroup = 0
        if receivedSignal != 0 { throw ExitCode(128 + receivedSignal) }
        // Its exit status, or the number of the signal that ended it.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    private static let forwardedSignals = [SIGINT, SIGTERM, SIGHUP]
}

/// The guest build's process group while it runs, and a signal rrctl received meanwhile (set by a signal
/// handler: plain globals, initialised before the handler is installed).
private var buildGroup: pid_t = 0
private var receivedSignal: Int32 = 0

extension DefaultGuest {
    struct Images {
        var bios: String
        var kernel: String
        var initrd: String
        var disk: String
        var append: String?
    }

    /// The default guest's images, built first if they are missing (or an input changed).
    static func images() throws -> Images {
        let manifestPath = directory + "/manifest.txt"
        if !isUpToDate(manifestPath: manifestPath) {
            let status = try build()
            guard status == 0 else {
                throw NodeError("building the default guest failed (status \(status)); see the messages above")
            }
        }
        guard let values = readManifest(manifestPath) else {
            throw NodeError("the default guest has no manifest at \(manifestPath)")
        }
        func file(_ key: String) throws -> String {
            guard let name = values[key] else { throw NodeError("\(manifestPath) names no \(key)") }
            return directory + "/" + name
        }
        return Images(bios: try file("bios"), kernel: try file("kernel"), initrd: try file("initrd"),
                      disk: try file("disk"), append: values["append"])
    }

    private static func readManifest(_ path: String) -> [String: String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// Whether running build-guest.sh can be skipped (it costs about 0.15 s even with nothing to do): the
    /// manifest is newer than the script, everything under cluster/guest and the installed packages
    /// (dpkg's status file), and every image it names is there with its size. Otherwise the script decides.
    private static func isUpToDate(manifestPath: String) -> Bool {
        guard let root = projectRoot, let values = readManifest(manifestPath),
              let built = modificationDate(manifestPath) else { return false }
        var inputs = [root + "/cluster/build-guest.sh", "/var/lib/dpkg/status"]
        if let files = try? FileManager.default.subpathsOfDirectory(atPath: root + "/cluster/guest") {
            inputs += files.map { root + "/cluster/guest/" + $0 }
        }
        for input in inputs {
            guard let changed = modificationDate(input), changed < built else { return false }
        }
        for role in ["bios", "kernel", "initrd", "disk"] {
            guard let name = values[role], let bytes = values[role + ".bytes"],
                  let size = try? imageSize(directory + "/" + name, what: role),
                  String(size) == bytes else { return false }
        }
        return true
    }

    /// When `path` was last modified (seconds and nanoseconds), if it exists.
    private static func modificationDate(_ path: String) -> (Int, Int)? {
        fileStatus(path).map { (Int($0.st_mtim.tv_sec), Int($0.st_mtim.tv_nsec)) }
    }
}
