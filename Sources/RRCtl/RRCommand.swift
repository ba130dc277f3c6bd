import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform
import RRNode
import RRSequencer

/// `rrctl rr`: record a run of --eval commands, replay it, and compare the two consoles byte for byte.
struct RR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rr",
        abstract: "Record a run of --eval commands, replay it, and compare the two consoles byte for byte.",
        discussion: """
            The compared bytes are the UART output as the sequencer stamped it with G, in each run. Prints \
            "identical" or the first differing line with its G, then the instructions, record and replay \
            times and the log size. Exit status: 0 only when the consoles are identical and the guest's \
            commands succeeded (the guest's status when identical, 1 when they differ).
            """)

    @OptionGroup var machine: MachineOptions
    @OptionGroup var eval: EvalOptions

    @Option(help: "Keep the log in this new file (default: a temporary file, removed at the end).")
    var record: String?

    @Flag(help: "Let --record overwrite an existing file (never one of the run's images, nor a log being recorded).")
    var force = false

    func validate() throws {
        guard eval.eval != nil else { throw ValidationError("rr needs --eval 'COMMANDS' (the guest powers off after them)") }
    }

    func run() throws {
        let plan = try MachineBuilder.plan(machine, recording: true, eval: eval.eval)
        // Claimed before anything runs, by `up --record`'s rules.
        let kept = try record.map { try RecordingFile(path: $0, force: force, images: plan.imagePaths) }
        let work = try PrivateDirectory(prefix: "rrctl-rr")
        defer { work.remove() }
        let log = kept?.path ?? work.path + "/run.log"
        let captures = (record: work.path + "/record.console", replay: work.path + "/replay.console")
        let noDebugger = try DebuggerOptions.parse([])

        let recordStart = Date()
        let recordStatus = try launch(plan: plan, sequencerArguments: ["--record", log, "--console-capture", captures.record],
                                      forwardInput: false, debugger: noDebugger, timeout: eval.effectiveTimeout)
        let recordSeconds = Date().timeIntervalSince(recordStart)
        let recorded = try ConsoleCapture.read(path: captures.record)
        // Only a run the guest ended itself is worth replaying (not one stopped by --timeout, Ctrl-C, a crash).
        guard let recordedEnd = recorded.end, recordedEnd.exitCode == recordStatus,
              recordStatus != timeoutExitCode, recordStatus < 128 else {
            summary("the recording did not end with the guest powering off (status \(recordStatus)): nothing to compare")
            throw ExitCode(recordStatus == 0 ? 1 : recordStatus)
        }

        // The replay's console is not shown again: only its captured bytes matter.
        let replayPlan = try MachineBuilder.replan(try LogReader(path: log).header.config, imageDirectory: nil)
        let replayStart = Date()
        let replayStatus = try withStandardOutputSilenced {
            try launch(plan: replayPlan, sequencerArguments: ["--replay", log, "--console-capture", captures.replay],
                       forwardInput: false, debugger: noDebugger, timeout: eval.effectiveTimeout)
        }
        let replaySeconds = Date().timeIntervalSince(replayStart)
        withExtendedLifetime(kept) {}
        let replayed = try ConsoleCapture.read(path: captures.replay)

        let difference = ConsoleComparison.firstDifference(recorded, replayed)
        if let difference {
            summary(difference)
        } else {
            summary("identical: \(recorded.bytes.count) console bytes in \(recorded.batches.count) batches, stamped at the same G")
        }
        let logBytes = fileStatus(log).map { Int($0.st_size) } ?? 0
        summary("\(recordedEnd.instructions) instructions, G=\(recordedEnd.g); record \(formatSeconds(recordSeconds)) s, "
                + "replay \(formatSeconds(replaySeconds)) s; log \(logBytes) bytes" + (record.map { " in \($0)" } ?? " (temporary)"))
        summary("guest status \(recordedEnd.exitCode) recorded, \(replayStatus) replayed")
        guard difference == nil, replayStatus == recordStatus else { throw ExitCode(replayStatus != 0 ? replayStatus : 1) }
        throw ExitCode(recordStatus)
    }

    private func summary(_ line: String) {
        print("rrctl rr: " + line)
        fflush(stdout)
    }
}

/// Where two captured consoles first differ, as a user reads it: the line, and the G of each side.
enum ConsoleComparison {
    static func firstDifference(_ recorded: ConsoleCapture.Recording, _ replayed: ConsoleCapture.Recording) -> String? {
        let a = recorded.bytes, b = replayed.bytes
        var offset = 0
        let common = min(a.count, b.count)
        while offset < common && a[offset] == b[offset] { offset += 1 }
        if offset == a.count && offset == b.count {
            // Same bytes: the stamps must agree too (a byte shown at another G is a divergence).
            let batches = max(recorded.batches.count, replayed.batches.count)
            guard let index = (0..<batches).first(where: { index in
                index >= recorded.batches.count || index >= replayed.batches.count
                    || recorded.batches[index] != replayed.batches[index]
            }) else { return nil }
            func stamp(_ run: ConsoleCapture.Recording) -> String {
                index < run.batches.count ? "byte \(run.batches[index].offset) at G=\(run.batches[index].g)" : "no further batch"
            }
            return "the consoles hold the same bytes, stamped differently: batch \(index + 1) starts with "
                + "\(stamp(recorded)) when recorded, \(stamp(replayed)) when replayed"
        }
        func side(_ name: String, _ run: ConsoleCapture.Recording) -> String {
            guard offset < run.bytes.count else { return "  \(name): (the console ends here)" }
            return "  \(name) at G=\(run.g(atOffset: offset) ?? 0): \(lineText(run.bytes, around: offset))"
        }
        return "the consoles differ at line \(lineNumber(a, at: offset)), byte \(offset):\n"
            + side("recorded", recorded) + "\n" + side("replayed", replayed)
    }

    static func lineNumber(_ bytes: [UInt8], at offset: Int) -> Int {
        bytes[..<offset].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }

    /// The line holding `offset`, printable (control bytes escaped) and cut at 160 characters.
    static func lineText(_ bytes: [UInt8], around offset: Int) -> String {
        let start = bytes[..<offset].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        var text = ""
        for byte in bytes[start..<min(end, start + 160)] {
            text += byte >= 0x20 && byte < 0x7f ? String(UnicodeScalar(byte)) : "\\x" + hexadecimal(byte)
        }
        return "\"" + text + "\"" + (end - start > 160 ? "..." : "")
    }
}

/// A 0700 directory of our own under $TMPDIR (mkdtemp), removed with what it holds.
struct PrivateDirectory {
    let path: String

    init(prefix: String) throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array((base + "/\(prefix)-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ValidationError("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` with file descriptor 1 on /dev/null, restoring it afterwards.
func withStandardOutputSilenced<T>(_ body: () throws -> T) rethrows -> T {
    fflush(stdout)
    let saved = dup(1)
    let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
    if saved >= 0 && null >= 0 { dup2(null, 1) }
    if null >= 0 { close(null) }
    defer {
        if saved >= 0 {
            dup2(saved, 1)
            close(saved)
        }
    }
    return try body()
}
