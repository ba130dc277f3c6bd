import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRNode
import RRProto
import RRRoles
import RRSequencer
import RVPlatform

/// `rrctl`: brings clusters up, replays and inspects their logs.
public struct RRCtlCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rrctl",
        abstract: "Run, record and replay deterministic multi-process RISC-V machines.",
        subcommands: [Up.self, RR.self, Replay.self, LogCommand.self, PS.self, Guest.self])

    public init() {}

    /// ArgumentParser's main, except that a bad command line gets one line (what is wrong, with the accepted
    /// values where there is a list), not the usage block after it; `--help` shows that.
    public static func main() {
        if keepStandardDescriptorsOpen().contains(STDOUT_FILENO) {
            // As when the reader of the output goes away during a run (Cluster), but before anything starts.
            report("rrctl", "standard output is closed: nowhere to write the console or results")
            Glibc.exit(128 + SIGPIPE)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error where !(error is ExitCode) && exitCode(for: error) == .validationFailure {
            report("Error", message(for: error))
            Glibc.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}

/// Options describing the machine, shared by `up` and the benchmarks.
struct MachineOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Number of harts (1 to 8).")
    var smp: Int = 4

    @Option(parsing: .unconditional, help: "Guest RAM, e.g. 256M or 1G.")
    var memory: String = "256M"

    @Option(help: "Firmware loaded at 0x80000000 (OpenSBI fw_jump.bin), or 'none' to start --kernel (an ELF) in M-mode.")
    var bios: String?

    @Option(help: "The kernel: a RISC-V Image at 0x80200000 after firmware, or an ELF with --bios none.")
    var kernel: String?

    @Option(help: "An initial RAM disk.")
    var initrd: String?

    @Option(help: "The kernel command line.")
    var append: String?

    @Option(help: "A raw disk image for the virtio-blk device.")
    var disk: String?

    @Option(parsing: .unconditional, help: "Instructions per round-robin slice.")
    var quantum: UInt64 = Schedule.defaultQuantum

    @Option(help: "How slices are cut: lone-hart-to-event (a hart no other could run beside runs on to the next scheduled event while it only computes) or quantum (every slice at most one quantum, as logs before format 6).")
    var schedule: SchedulePolicyName = .loneHartToEvent

    @Option(parsing: .unconditional, help: "Virtual time: mtime advances one 10 MHz tick every 2^N instructions.")
    var icountShift: UInt32 = 4

    @Option(help: "Page-table format the harts offer: sv39 or sv48.")
    var mmu: String = "sv39"

    @Option(help: "The network card: 'user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]...[,restrict=on]' (user-mode networking: the guest is 10.0.2.15, the host's 127.0.0.1 is 10.0.2.2) or 'none'. Default: user for the default guest, none with --kernel.")
    var net: String?
}

/// GDB (DESIGN §9): the sequencer serves every hart as a thread (or one hart serves itself, --gdb-hart), and
/// the machine waits for the debugger.
struct DebuggerOptions: ParsableArguments {
    @Option(parsing: .unconditional,
            help: "Serve the GDB remote protocol, every hart a thread, on this TCP port of localhost (0: any free port, printed), or on the Unix socket unix:PATH (mode 0600: only this user); the machine waits for the debugger before its first instruction. In rrctl replay, gdb can also run backwards (reverse-stepi, reverse-continue).")
    var gdb: String?

    @Option(parsing: .unconditional, help: "With --gdb: serve this hart alone, from its own process (the other harts run as the schedule says).")
    var gdbHart: Int?

    func validate(harts: Int) throws {
        guard let gdb else {
            if gdbHart != nil { throw ValidationError("--gdb-hart needs --gdb") }
            return
        }
        if let gdbHart, !(0..<harts).contains(gdbHart) {
            throw ValidationError("--gdb-hart must name one of the \(harts) harts")
        }
        do {
            if case .unix(let path) = try GDBEndpoint.parse(gdb), FileManager.default.fileExists(atPath: path) {
                throw ValidationError("--gdb \(gdb): \(path) exists; name a path that does not")
            }
        } catch let error as NodeError {
            throw ValidationError("--gdb: \(error)")
        }
    }
}

/// Automatic checkpoints (DESIGN §9): taken by a replay, and by a recording under gdb, to go back through them.
struct CheckpointOptions: ParsableArguments {
    @Option(help: "Take checkpoints automatically, within this much memory (e.g. 512M, 2G; default 512M with --checkpoint-interval or --gdb).")
    var checkpointBudget: String?

    @Option(help: "G between two automatic checkpoints (default 20000000; 10000000 under --gdb).")
    var checkpointInterval: UInt64?

    /// The sequencer's arguments; under a debugger checkpoints are taken by default (`defaultBudget`).
    func arguments(defaultBudget: Bool) throws -> [String] {
        var arguments: [String] = []
        if let budget = checkpointBudget ?? (defaultBudget && checkpointInterval == nil ? "\(CheckpointPolicy.defaultBudget >> 20)M" : nil) {
            guard parseByteSize(budget) != nil else {
                throw ValidationError("--checkpoint-budget: '\(budget)' is not a size (e.g. 512M, 2G)")
            }
            arguments += ["--checkpoint-budget", budget]
        }
        if let checkpointInterval {
            guard checkpointInterval > 0 else { throw ValidationError("--checkpoint-interval must be at least 1") }
            arguments += ["--checkpoint-interval", String(checkpointInterval)]
        }
        return arguments
    }
}

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring a cluster up and boot a guest; the console is this terminal, the exit status the guest's.")

    @OptionGroup var machine: MachineOptions
    @OptionGroup var debugger: DebuggerOptions

    @OptionGroup var eval: EvalOptions

    @Option(help: "Record the run into this log file (a new file; see --force).")
    var record: String?

    @Option(help: "What --record keeps: compact (inputs, checks, the end) or full (every stamped message too).")
    var logDetail: LogDetailName = .compact

    @Option(help: "Instructions (all harts together) between two checks of every process's state hash in the log.")
    var checkInterval: UInt64 = defaultCheckInterval

    /// With --record and --gdb: the checkpoints that going back uses.
    @OptionGroup var checkpoints: CheckpointOptions

    func validate() throws {
        guard checkInterval > 0 else { throw ValidationError("--check-interval must be at least 1") }
    }

    @Flag(help: "Let --record overwrite an existing file (never one of the run's images, nor a log being recorded).")
    var force = false

    func run() throws {
        let plan = try MachineBuilder.plan(machine, recording: record != nil, eval: eval.eval)
        try debugger.validate(harts: Int(plan.config.harts))
        // Claimed (and locked) for the whole run, before anything starts.
        let recording = try record.map { path in
            try RecordingFile(path: path, force: force, images: plan.imagePaths)
        }
        var logArguments = recording.map {
            ["--record", $0.path, "--log-detail", logDetail.rawValue, "--check-interval", String(checkInterval)]
        } ?? []
        if recording != nil && debugger.gdb != nil && debugger.gdbHart == nil {
            // Under gdb a recording can go back (reverse-stepi, reverse-continue): it keeps checkpoints.
            logArguments += try checkpoints.arguments(defaultBudget: true)
        } else if checkpoints.checkpointBudget != nil || checkpoints.checkpointInterval != nil {
            throw ValidationError("--checkpoint-budget and --checkpoint-interval go with --record and --gdb (or rrctl replay)")
        }
        // With --eval the commands come from the command line: the terminal is not the guest's input.
        let status = try launch(plan: plan, sequencerArguments: logArguments, forwardInput: eval.eval == nil,
                                debugger: debugger, timeout: eval.effectiveTimeout)
        withExtendedLifetime(recording) {}
        throw ExitCode(status)
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-run a recorded log; stops at the first difference, naming G, the process and what differed.")

    @Argument(help: "The log written by `rrctl up --record`.")
    var log: String

    @Option(help: "Look for the recorded images in this directory (by file name) instead of their recorded paths.")
    var imageDir: String?

    @OptionGroup var debugger: DebuggerOptions

    @Option(help: "Write every message the replay stamps (the full stream) in G --from...--to to this file.")
    var fullStream: String?

    @Option(help: "With --full-stream: the interval's first G (default 0).")
    var from: UInt64?

    @Option(help: "With --full-stream: the interval's last G (default the log's last).")
    var to: UInt64?

    @OptionGroup var checkpoints: CheckpointOptions

    @Option(help: "Check N checkpoint round trips at random points: checkpoint at G1, run to G2, restore, run to G2 again; every state and the console must be identical.")
    var verifyCheckpoints: Int?

    @Option(help: "With --verify-checkpoints: the seed that places the points (default 1).")
    var seed: UInt64?

    func run() throws {
        // The whole log's framing is checked before anything runs (every record, when an interval must be
        // placed in it); the sequencer then reads it as it goes.
        let reader = try LogReader(path: log)
        let header = reader.header
        guard !header.excerpt else {
            throw LogError("'\(log)' is the full stream of G=\(header.excerptFrom)..\(header.excerptTo) of a "
                           + "replay, not a recording: compare it with rrctl log diff")
        }
        var arguments = ["--replay", log]
        if let fullStream {
            let lastG = try LogSummary(reader: reader).lastG
            let (first, last) = (from ?? 0, to ?? lastG)
            guard first <= last, last <= lastG else {
                throw LogError("the interval G=\(first)..\(last) is outside the log, which spans G=0..\(lastG)")
            }
            arguments += ["--full-stream", fullStream, "--from", String(first), "--to", String(last)]
        } else if from != nil || to != nil {
            throw ValidationError("--from and --to choose the interval of --full-stream")
        } else {
            try reader.checkFraming()
        }
        // Under a debugger the replay takes checkpoints by default (going back needs them).
        arguments += try checkpoints.arguments(defaultBudget: debugger.gdb != nil && verifyCheckpoints == nil)
        if let verifyCheckpoints {
            guard verifyCheckpoints > 0, fullStream == nil else {
                throw ValidationError("--verify-checkpoints needs a number of rounds (at least 1), without --full-stream")
            }
            arguments += ["--verify-checkpoints", String(verifyCheckpoints), "--seed", String(seed ?? 1)]
        } else if seed != nil {
            throw ValidationError("--seed places the points of --verify-checkpoints")
        }
        let plan = try MachineBuilder.replan(header.config, imageDirectory: imageDir)
        try debugger.validate(harts: Int(plan.config.harts))
        let status = try launch(plan: plan, sequencerArguments: arguments, forwardInput: false, debugger: debugger)
        if status == 0 {
            report("rrctl", fullStream.map { "replay of \(log) wrote the full stream of its interval to \($0)" }
                   ?? verifyCheckpoints.map { "replay of \(log): \($0) checkpoint round trips identical, and it matched the recording" }
                   ?? "replay of \(log) matched the recording")
        }
        throw ExitCode(status)
    }
}

struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List the processes of running clusters (pid, role, state).")

    func run() throws {
        let clusters = try RunDirectory.live()
        if clusters.isEmpty {
            print("no cluster is running")
            return
        }
        for directory in clusters {
            print("cluster \(directory.clusterID) (rrctl pid \(directory.supervisorPID().map(String.init) ?? "?"))")
            guard let status = try? StatusQuery.ask(directory) else {
                print("  (the sequencer does not answer: starting or stopping)")
                continue
            }
            print("  G=\(status.g)")
            print("  " + column("PID", 8) + column("ROLE", 22) + column("STATE", 10) + "INSTRUCTIONS")
            for process in status.processes {
                let executed = process.role.hasPrefix("hart") ? String(process.executed) : ""
                print("  " + column(String(process.pid), 8) + column(process.role, 22) + column(process.state, 10) + executed)
            }
        }
    }
}

/// Creates the run directory and guest RAM, loads the images and runs the cluster to its end.
func launch(plan: MachinePlan, sequencerArguments: [String], forwardInput: Bool, debugger: DebuggerOptions,
            timeout: Double? = nil) throws -> Int32 {
    let directory = try RunDirectory.create()
    var config = plan.config
    let ram: SharedRAM
    do {
        ram = try SharedRAM.createAnonymous(size: Int(config.ramSize))
        try plan.load(into: ram)
    } catch {
        directory.remove()
        throw error
    }
    config.ramPath = ram.path
    return withExtendedLifetime(ram) {
        let cluster = Cluster(runDirectory: directory, config: config, sequencerArguments: sequencerArguments,
                              forwardInput: forwardInput, debugger: debugger)
        cluster.timeout = timeout
        return cluster.run()
    }
}

/// Parses "256M", "1G", "65536" into bytes.
func parseSize(_ text: String) throws -> UInt64 {
    let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    var digits = text.uppercased()
    var multiplier: UInt64 = 1
    if let last = digits.last, let unit = units[last] {
        multiplier = unit
        digits.removeLast()
    }
    // Any size that is a number: whether the machine can have it is MachineLimits' to say, with its range.
    guard let value = UInt64(digits), value <= UInt64.max / multiplier else {
        throw ValidationError("bad size '\(text)': expected a number with an optional K, M or G suffix")
    }
    return value * multiplier
}

/// `text` padded with spaces to `width` characters.
func column(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
