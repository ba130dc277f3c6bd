#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus

/// A child process (a member of a cluster, started by its supervisor) with standard input on /dev/null and
/// standard output and error inherited; `onExit` reports its status or the signal that killed it, from the
/// loop, once the process has ended (noticed through SIGCHLD). While any child runs, the loop keeps running.
public final class ChildProcess {
    public let name: String
    public let pid: Int32
    public private(set) var exited: ChildExit?
    private var onExit: ((ChildExit) -> Void)?

    /// Starts `path` with `arguments`.
    public init(loop: EventLoop, name: String, path: String, arguments: [String],
                onExit: @escaping (ChildExit) -> Void) throws {
        self.name = name
        self.onExit = onExit
        let reaper = ChildReaper.of(loop)  // watching before the spawn: an exit at once is not missed
        pid = try spawnProcess(path: path, arguments: arguments, environment: Self.memberEnvironment) { actions, attributes in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            // The child starts with default handlers and nothing blocked, whatever this process set up.
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for number in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
            var unblocked = sigset_t()
            sigemptyset(&unblocked)
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            posix_spawnattr_setsigmask(&attributes, &unblocked)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        }
        reaper.adopt(self)
    }

    /// This process's environment, with the Swift runtime's crash backtracer turned off unless SWIFT_BACKTRACE says
    /// otherwise: a member that crashes must end at once, so that the run ends naming it and nothing is left behind.
    /// The backtracer (where it finds its helper, as debug builds do) can leave a process that got SIGBUS running
    /// after its report, and the whole cluster waiting for it. `rrctl` names the signal; a member is debugged under
    /// gdb (README) or with SWIFT_BACKTRACE set.
    static var memberEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        return environment
    }

    public var isRunning: Bool { exited == nil }

    /// Sends a signal if the process is still running.
    public func send(signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    fileprivate func didExit(_ exit: ChildExit) {
        exited = exit
        let callback = onExit
        onExit = nil
        callback?(exit)
    }
}

/// Starts `path` with `arguments` and `environment` through posix_spawn, `prepare` adding to the spawn's file actions
/// and attributes (both initialised before, destroyed after); returns the child's pid.
public func spawnProcess(path: String, arguments: [String], environment: [String: String],
                         prepare: (inout posix_spawn_file_actions_t, inout posix_spawnattr_t) -> Void) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    prepare(&actions, &attributes)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var child: pid_t = 0
    let status = posix_spawn(&child, path, &actions, &attributes, argv, envp)
    guard status == 0 else { throw NodeError("cannot start \(path): \(String(cString: strerror(status)))") }
    return child
}

public enum ChildExit: Equatable, CustomStringConvertible {
    case status(Int32)
    case signal(Int32)

    public var description: String {
        switch self {
        case .status(let code): return "exited with status \(code)"
        case .signal(let number):
            let names: [Int32: String] = [SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
                                          SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL",
                                          SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP"]
            return "was killed by signal \(number)" + (names[number].map { " (\($0))" } ?? "")
        }
    }
}

/// One per loop: on SIGCHLD, collects every child of this loop that has ended (signals coalesce, so each
/// one is checked), and keeps the loop running while any child runs.
private final class ChildReaper {
    private static var reapers: [ObjectIdentifier: ChildReaper] = [:]
    private var watcher: SignalWatcher!
    private var children: [pid_t: ChildProcess] = [:]

    static func of(_ loop: EventLoop) -> ChildReaper {
        let key = ObjectIdentifier(loop)
        if let reaper = reapers[key] { return reaper }
        let reaper = ChildReaper()
        reaper.watcher = SignalWatcher(loop: loop, signal: SIGCHLD) { [unowned reaper] _ in reaper.reap() }
        reapers[key] = reaper
        // A process that runs several loops one after the other (`rrctl rr`: a recording's cluster, then a
        // replay's) must not keep a released loop's watcher (libuv would go on writing a signal's arrival to
        // that loop), nor hand its reaper to a new loop that happens to get the same address.
        loop.whenReleased {
            reaper.watcher.close()
            reapers[key] = nil
        }
        return reaper
    }

    func adopt(_ child: ChildProcess) {
        // A child that has ended already sent its SIGCHLD to the watcher: it is collected from the loop.
        children[child.pid] = child
        watcher.keepsLoopRunning = true
    }

    private func reap() {
        for (pid, child) in children.sorted(by: { $0.key < $1.key }) {
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { continue }
            children[pid] = nil
            // The wait status: low 7 bits = the signal that ended it (0: it exited), bits 8-15 = its status.
            let signal = status & 0x7f
            child.didExit(signal == 0 ? .status((status >> 8) & 0xff) : .signal(signal))
        }
        watcher.keepsLoopRunning = !children.isEmpty
    }
}
