#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRProto
import RRRoles
import RRSequencer
import RVPlatform

/// Entry points of the role executables (rrvm-sequencer, rrvm-hart, rrvm-device). Their command lines
/// are written by rrctl; they are also what a developer types to run one process under a debugger.
public enum NodeMain {
    public static func sequencer(arguments: [String]) -> Never {
        let options = NodeOptions(role: "rrvm-sequencer", arguments: arguments,
                                  allowed: ["--run-dir", "--parent-pid", "--record", "--log-detail", "--check-interval",
                                            "--replay", "--full-stream", "--from", "--to", "--console-capture",
                                            "--checkpoint-budget", "--checkpoint-interval", "--verify-checkpoints", "--seed",
                                            "--gdb", "--cpu", "--start-cpu", "--split"])
        var log = LogOptions(recordPath: options.values["--record"], replayPath: options.values["--replay"])
        if let detail = options.values["--log-detail"] {
            guard let level = LogDetailName(rawValue: detail) else {
                options.fail("unknown log detail level '\(detail)' (compact or full)")
            }
            log.detail = level.detail
        }
        if options.values["--check-interval"] != nil { log.checkInterval = UInt64(options.integer("--check-interval")) }
        if let path = options.values["--full-stream"] {
            let from = options.values["--from"] == nil ? 0 : UInt64(options.integer("--from"))
            let to = options.values["--to"] == nil ? UInt64.max : UInt64(options.integer("--to"))
            log.excerpt = .init(path: path, from: from, to: to)
        }
        var gdbAddress: BusAddress?
        if let text = options.values["--gdb"] {
            do { gdbAddress = try GDBEndpoint.parse(text) } catch { options.fail("--gdb: \(error)") }
        }
        if let text = options.values["--checkpoint-budget"] {
            guard let budget = parseByteSize(text) else { options.fail("--checkpoint-budget: '\(text)' is not a size (e.g. 512M, 2G)") }
            log.checkpoints = CheckpointPolicy(budget: budget)
        }
        if options.values["--checkpoint-interval"] != nil {
            log.checkpoints = log.checkpoints ?? CheckpointPolicy()
            log.checkpoints?.interval = UInt64(max(1, options.integer("--checkpoint-interval")))
        } else if gdbAddress != nil {
            log.checkpoints?.interval = CheckpointPolicy.debuggerInterval
        }
        if options.values["--verify-checkpoints"] != nil {
            let seed = options.values["--seed"] == nil ? 1 : UInt64(options.integer("--seed"))
            log.verifyCheckpoints = (options.integer("--verify-checkpoints"), seed)
        }
        // SIGTERM, not SIGKILL, when rrctl dies: the sequencer ends the log and cleans up after it.
        dieWithParent(expectedParent: options.parentPID, signal: SIGTERM)
        options.pinToCPU()
        HostCPU.answerJoinsAtOnce()
        setProcessName("rrvm-sequencer")
        do {
            let node = try SequencerNode(runDirectory: options.runDirectory, options: log,
                                         consoleCapturePath: options.values["--console-capture"],
                                         supervisor: options.parentPID, gdbAddress: gdbAddress,
                                         devicesStartAside: options.values["--start-cpu"] != nil)
            let status = node.run()
            HostCPU.runIsOver()
            SliceTimes.write(role: "sequencer")
            // rrctl removes the run directory; if it died first, nobody else will.
            if let parent = options.parentPID, getppid() != parent { options.runDirectory.remove() }
            exit(processExitStatus(guestStatus: status))
        } catch {
            options.fail("\(error)")
        }
    }

    public static func hart(arguments: [String]) -> Never {
        let options = NodeOptions(role: "rrvm-hart", arguments: arguments,
                                  allowed: ["--run-dir", "--parent-pid", "--hart", "--gdb", "--cpu", "--split"])
        let index = options.integer("--hart")
        var gdbAddress: BusAddress?
        if let text = options.values["--gdb"] {
            do { gdbAddress = try GDBEndpoint.parse(text) } catch { options.fail("--gdb: \(error)") }
        }
        dieWithParent(expectedParent: options.parentPID)
        options.pinToCPU()
        setProcessName("rrvm-hart-\(index)")
        let status = HartNode(runDirectory: options.runDirectory, index: index, gdbAddress: gdbAddress).run()
        HostCPU.runIsOver()
        SliceTimes.write(role: "hart-\(index)")
        exit(status)
    }

    public static func device(arguments: [String]) -> Never {
        if arguments.contains("--replay") {
            // A device alone, fed from a log (no cluster, no run directory): see DeviceReplay.
            let options = NodeOptions(role: "rrvm-device", arguments: arguments, allowed: ["--replay", "--device"],
                                      needsRunDirectory: false)
            exit(DeviceReplay.run(logPath: options.values["--replay"]!, index: options.integer("--device")))
        }
        let options = NodeOptions(role: "rrvm-device", arguments: arguments,
                                  allowed: ["--run-dir", "--parent-pid", "--device", "--kind", "--cpu", "--start-cpu"])
        let index = options.integer("--device")
        dieWithParent(expectedParent: options.parentPID)
        options.pinToCPU()
        setProcessName("rrvm-dev-\(options.values["--kind"] ?? String(index))")
        let status = DeviceNode(runDirectory: options.runDirectory, index: index).run()
        HostCPU.runIsOver()
        exit(status)
    }
}

/// `--name value` pairs; anything unknown or malformed ends the process with one clear line.
struct NodeOptions {
    let role: String
    var values: [String: String] = [:]

    init(role: String, arguments: [String], allowed: Set<String>, needsRunDirectory: Bool = true) {
        self.role = role
        keepStandardDescriptorsOpen()
        if arguments.contains("--help") || arguments.contains("-h") {
            // These processes are started by rrctl, which writes their command lines; a person starts one by hand to
            // run it under a debugger (README, "How it is built"), or a device alone from a log.
            print("\(role): a process of an rrvm cluster, started by rrctl with the command line `ps -o args` shows "
                  + "(the same line starts it by hand, e.g. under gdb, while that rrctl runs).")
            if role == "rrvm-device" { print("       \(role) --replay LOG --device N: one device alone, fed what a full-detail log sent it") }
            print("options: \(allowed.sorted().joined(separator: ", "))")
            exit(0)
        }
        var index = 0
        while index < arguments.count {
            let name = arguments[index]
            guard allowed.contains(name) else { fail("unknown option '\(name)' (allowed: \(allowed.sorted().joined(separator: ", ")))") }
            guard index + 1 < arguments.count else { fail("option \(name) needs a value") }
            values[name] = arguments[index + 1]
            index += 2
        }
        if needsRunDirectory && values["--run-dir"] == nil { fail("--run-dir is required") }
    }

    var runDirectory: RunDirectory { RunDirectory(path: values["--run-dir"]!) }
    var parentPID: pid_t? { values["--parent-pid"].flatMap { pid_t($0) } }

    func integer(_ name: String) -> Int {
        guard let text = values[name], let value = Int(text), value >= 0 else { fail("\(name) needs a number") }
        return value
    }

    /// `--cpu N`: this process stays on host CPU N (see `HostCPU`); with `--start-cpu M`, on M until it has
    /// joined and set up (`HostCPU.settle`). A CPU the system refuses is reported, and the process runs wherever
    /// the kernel puts it. `--split 1`: the cluster is split (`HostCPU.isSplit`).
    func pinToCPU() {
        if let split = values["--split"] {
            guard split == "1" || split == "0" else { fail("--split needs 0 or 1") }
            HostCPU.isSplit = split == "1"
        }
        guard values["--cpu"] != nil else {
            if values["--start-cpu"] != nil { fail("--start-cpu needs --cpu") }
            return
        }
        let cpu = integer("--cpu")
        let pinned = values["--start-cpu"] == nil ? HostCPU.pin(to: cpu) : HostCPU.pin(to: cpu, startingOn: integer("--start-cpu"))
        if !pinned { report(role, "cannot keep to CPU \(values["--start-cpu"] ?? String(cpu)): \(String(cString: strerror(errno))); running on any") }
    }

    func fail(_ message: String) -> Never {
        report(role, message)
        exit(1)
    }
}
