import Foundation
import XCTest

/// Runs the real rrctl (the release build that cluster/test.sh names in RRVM_BIN_DIR) and the
/// project's guest programs (built into RRVM_GUEST_PROGRAMS).
enum Harness {
    static var binDirectory: String {
        if let explicit = ProcessInfo.processInfo.environment["RRVM_BIN_DIR"] { return explicit }
        // The executables are built beside the test bundle (or in its parent, depending on the platform).
        let bundle = Bundle(for: Box.self).bundleURL
        let candidates = [bundle.path, bundle.deletingLastPathComponent().path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/rrvm-sequencer") } ?? bundle.path
    }

    static var rrctl: String { binDirectory + "/rrctl" }

    static var projectRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// A guest program of Tests/GuestPrograms. They are built (incrementally) once per test run; a build
    /// that fails is a failure showing the build's output, never a skip.
    static func guest(_ name: String) throws -> String {
        let path = try programsBuilt.get() + "/\(name).elf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw GuestBuildFailure(description: "Tests/GuestPrograms/build.sh built no \(path)")
        }
        return path
    }

    /// The default Linux guest's images (cluster/build-guest.sh output) as rrctl's options, or a skip when
    /// they are not built.
    static func linuxGuest() throws -> [String] {
        let directory = ProcessInfo.processInfo.environment["RRVM_GUEST_DIR"] ?? projectRoot + "/cluster/out"
        let files = ["fw_jump.bin", "Image", "initramfs.cpio", "disk.ext2"].map { directory + "/" + $0 }
        for file in files where !FileManager.default.fileExists(atPath: file) {
            throw XCTSkip("the default guest is not built (\(file) is missing; cluster/test.sh builds it)")
        }
        return ["--bios", files[0], "--kernel", files[1], "--initrd", files[2], "--disk", files[3]]
    }

    struct GuestBuildFailure: Error, CustomStringConvertible {
        var description: String
    }

    private static let programsBuilt: Result<String, GuestBuildFailure> = {
        let directory = ProcessInfo.processInfo.environment["RRVM_GUEST_PROGRAMS"] ?? projectRoot + "/.build/guest-programs"
        let build = Process()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-guest-build-\(getpid()).log")
        defer { try? FileManager.default.removeItem(at: log) }
        do {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            build.executableURL = URL(fileURLWithPath: "/bin/bash")
            build.arguments = [projectRoot + "/Tests/GuestPrograms/build.sh", directory]
            build.standardOutput = try FileHandle(forWritingTo: log)
            build.standardError = build.standardOutput
            try build.run()
            build.waitUntilExit()
        } catch {
            return .failure(GuestBuildFailure(description: "cannot run Tests/GuestPrograms/build.sh: \(error)"))
        }
        guard build.terminationStatus == 0 else {
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return .failure(GuestBuildFailure(
                description: "Tests/GuestPrograms/build.sh failed (status \(build.terminationStatus)):\n\(output)"))
        }
        return .success(directory)
    }()

    private final class Box {}
}

/// One rrctl invocation (or of another of rrvm's executables) with its output collected in files (no pipe
/// can fill up and stall it).
final class RRCtlRun {
    let process = Process()
    private let outputURL: URL
    private let errorURL: URL
    private var inputPipe: Pipe?

    /// `environment` is added to this process's; `standardOutput` replaces the collected output (a pipe
    /// the test reads, or does not).
    init(_ arguments: [String], input: String? = nil, keepInputOpen: Bool = false, executable: String = Harness.rrctl,
         environment: [String: String] = [:], standardOutput: FileHandle? = nil) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rrctl-\(UUID().uuidString)")
        outputURL = base.appendingPathExtension("out")
        errorURL = base.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try standardOutput ?? FileHandle(forWritingTo: outputURL)
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardError = try FileHandle(forWritingTo: errorURL)
        if input != nil || keepInputOpen {
            let pipe = Pipe()
            inputPipe = pipe
            process.standardInput = pipe
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        if let input { send(input) }
    }

    func send(_ text: String) {
        inputPipe?.fileHandleForWriting.write(Data(text.utf8))
    }

    /// The writing end of rrctl's standard input (with `keepInputOpen`), for writes that must not block.
    var inputDescriptor: Int32? { inputPipe?.fileHandleForWriting.fileDescriptor }

    var pid: Int32 { process.processIdentifier }

    /// Whether rrctl ended by exiting (not by a signal: a crash, or SIGPIPE).
    var exitedNormally: Bool { !process.isRunning && process.terminationReason == .exit }

    /// Waits for rrctl to end; fails the test (and kills it) after `seconds`, saying what `explaining` finds (by
    /// default what rrctl printed so far) while the processes are still there.
    @discardableResult
    func wait(seconds: Double = 120, explaining: (() -> String)? = nil, file: StaticString = #filePath, line: UInt = #line) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            let explanation = explaining?() ?? """
                output so far:
                \(output)
                \(errors)
                its processes still there (pid, state, kernel wait channel, CPU seconds, name):
                \((["pid \(pid): rrctl"] + leftovers()).compactMap { Processes.describe($0)?.line }.joined(separator: "\n"))
                """
            XCTFail("rrctl did not finish within \(seconds) s; \(explanation)", file: file, line: line)
            process.interrupt()
            usleep(500_000)
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// Waits until the console output contains `text`.
    func waitForOutput(_ text: String, seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// Waits until `text` has appeared `count` times in the console output.
    func waitForOutputCount(_ text: String, _ count: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.components(separatedBy: text).count - 1 >= count { return true }
            if !process.isRunning { break }
            usleep(50_000)
        }
        return output.components(separatedBy: text).count - 1 >= count
    }

    var output: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "" }

    /// Processes started by this rrctl that still exist (they carry --parent-pid PID on their command line).
    func leftovers() -> [String] { Processes.children(ofSupervisor: pid) }

    /// The TCP port a run started with `--gdb 0` listens on, once it waits for the debugger. Tests ask for a free
    /// port so: a fixed one may be one the host has just handed to another socket.
    func gdbPort(seconds: Double = 30) throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        while !errors.contains("waits for a debugger") && process.isRunning && Date() < deadline { usleep(20_000) }
        let printed = errors
        guard let match = printed.range(of: #"target remote :\d+"#, options: .regularExpression),
              let port = Int(printed[match].dropFirst("target remote :".count)) else {
            throw NoGDBPort(errors: printed)
        }
        return port
    }

    /// The cluster's processes still alive, polled until none is left or `seconds` have passed (the
    /// kernel reaps a killed process a moment after its parent has seen it end).
    func leftoversOnceGone(seconds: Double = 10) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var remaining = leftovers()
        while !remaining.isEmpty && Date() < deadline {
            usleep(20_000)
            remaining = leftovers()
        }
        return remaining
    }

    deinit {
        if process.isRunning { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: outputURL)
        try? FileManager.default.removeItem(at: errorURL)
    }
}

enum Processes {
    /// Command lines of live processes whose arguments name `supervisor` as their parent.
    static func children(ofSupervisor supervisor: Int32) -> [String] {
        let marker = "--parent-pid\u{0}\(supervisor)\u{0}"
        var found: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty else { continue }
            let commandLine = String(decoding: data, as: UTF8.self)
            // A zombie already reaped by nobody still shows an empty cmdline; only live ones count.
            if commandLine.contains(marker) {
                found.append("pid \(entry): " + commandLine.replacingOccurrences(of: "\u{0}", with: " "))
            }
        }
        return found
    }

    /// One of `children(ofSupervisor:)`'s lines ("pid N: COMMAND LINE") as its pid and "pid state kernel-wait-channel
    /// CPU-seconds name" (the name the process gave itself, e.g. rrvm-dev-uart), for a run that hangs; nil if it
    /// names no pid.
    static func describe(_ member: String) -> (pid: Int32, line: String)? {
        guard let pid = Int32(member.dropFirst("pid ".count).prefix { $0 != ":" }) else { return nil }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return (pid, "\(pid) gone") }
        let name = stat[stat.index(after: open)..<close]
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        let channel = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? "?"
        return (pid, "\(pid) \(state) \(channel.isEmpty ? "-" : channel) \(String(format: "%.2f", cpuSeconds(pid))) \(name)")
    }

    /// User plus system CPU time a process has used, in seconds (0 once it is gone).
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Whether process `pid` has a handler for `signal` (which would end one that has none), from its SigCgt mask.
    static func catches(_ signal: Int32, _ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    /// The pid of the live process whose command line contains all of `parts`.
    static func find(_ parts: [String]) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let commandLine = String(decoding: data, as: UTF8.self)
            if parts.allSatisfy({ commandLine.contains($0) }) { return pid }
        }
        return nil
    }
}

/// A run that was to serve GDB printed no port to connect to (what it printed instead is in `errors`).
struct NoGDBPort: Error, CustomStringConvertible {
    let errors: String
    var description: String { "the run printed no GDB port:\n\(errors)" }
}
