import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform
import RRProto
import RRSequencer
import SwiftProtobuf

extension LogDetailName: ExpressibleByArgument {}
extension SchedulePolicyName: ExpressibleByArgument {}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Inspect a recorded log.", subcommands: [Show.self, Stats.self, Diff.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the log's header and records as text, or as JSON lines (one record each).")

        @Argument(help: "The log file.") var log: String
        @Option(help: "Only messages from or to this process: sequencer, rrctl, hart N, device N, or a device kind (uart).")
        var process: String?
        @Option(help: "Only records of this kind (input, check, end; in a full log also yield, mmio_request, device_access, device_done...).")
        var kind: String?
        @Option(help: "Only records at G >= this.") var from: UInt64?
        @Option(help: "Only records at G <= this.") var to: UInt64?
        @Flag(help: "JSON lines: the header, then one object per record (see the README).") var json = false

        func validate() throws {
            if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to): no record is in between") }
        }

        func run() throws {
            let reader = try LogReader(path: log)
            let config = reader.header.config
            print(json ? LogText.json(reader.header) : LogText.describe(reader.header))
            while let entry = try reader.next() {
                let record = entry.record
                if let from, record.g < from { continue }
                if let to, record.g > to { continue }
                if let kind, record.kindName != kind { continue }
                if let process {
                    guard case .event(let event)? = record.body, matches(event, process: process, config: config) else { continue }
                }
                print(json ? LogText.json(entry, config: config) : LogText.describe(entry.record, config: config))
            }
            if let truncation = reader.truncation {
                print(json ? "{\"record\":\"cut_short\",\"detail\":\(LogText.quoted(truncation))}" : "log ends early: \(truncation)")
            }
        }

        private func matches(_ event: Rrvm_Envelope, process: String, config: Rrvm_MachineConfig) -> Bool {
            [event.from, event.to].contains { endpoint in
                let name = Endpoint.describe(endpoint, config: config)
                return name == process || name.hasPrefix(process + " ") || name.contains("(\(process))")
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counts by kind and process, bytes, instructions and bytes per 1,000 instructions.")

        @Argument(help: "The log file.") var log: String

        func run() throws {
            let summary = try LogSummary(path: log)
            let header = summary.header
            print("file: \(log)")
            print("format: \(header.formatVersion), detail \(header.detail == .full ? "full" : "compact"), "
                  + "check every \(header.checkInterval) instructions"
                  + (header.excerpt ? ", the full stream of G=\(header.excerptFrom)..\(header.excerptTo) of a replay" : ""))
            print("bytes: \(summary.byteCount)")
            print("records: \(summary.records)")
            print("final G: \(summary.lastG)")
            print("instructions retired: \(summary.retired)")
            if summary.retired > 0 {
                let perThousand = Double(summary.byteCount) * 1000 / Double(summary.retired)
                print("bytes per 1,000 instructions: " + fixedPoint(perThousand, decimals: 3))
                print("bytes per million instructions: " + fixedPoint(perThousand * 1000, decimals: 1))
            }
            print("ended: " + (summary.end.map { "status \($0.exitCode) at G=\($0.g) (\($0.reason))" }
                               ?? "no end record" + (summary.truncation.map { " (\($0))" } ?? "")))
            print("by kind:")
            for (kind, count) in summary.byKind.sorted(by: { $0.key < $1.key }) { print("  \(kind): \(count)") }
            if !summary.byProcess.isEmpty {
                print("by process:")
                for (process, count) in summary.byProcess.sorted(by: { $0.key < $1.key }) { print("  \(process): \(count)") }
            }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the stamped messages and checks of two full logs or streams; print the first difference (exit 3).")

        @Argument(help: "The first log (e.g. a full stream written by the rrvm that recorded).") var first: String
        @Argument(help: "The second log.") var second: String

        func run() throws {
            let a = try LogReader(path: first)
            let b = try LogReader(path: second)
            // The run directory's RAM path differs from run to run and means nothing to the guest.
            var (configA, configB) = (a.header.config, b.header.config)
            configA.ramPath = ""
            configB.ramPath = ""
            if configA != configB {
                print("note: the two logs' machine configurations differ (images, start time or devices)")
            }
            let config = a.header.config
            var compared = 0
            while true {
                let left = try nextCompared(a), right = try nextCompared(b)
                if left == nil && right == nil { break }
                guard let left, let right, left.record == right.record else {
                    print("first difference at record \(compared + 1):")
                    print("  \(first): " + (left.map { LogText.describe($0.record, config: config) + " (byte \($0.offset))" } ?? "ends here"))
                    print("  \(second): " + (right.map { LogText.describe($0.record, config: config) + " (byte \($0.offset))" } ?? "ends here"))
                    throw ExitCode(ReplayExit.diverged)
                }
                compared += 1
            }
            print("the two logs hold the same \(compared) messages and checks")
        }

        /// The next message or check: a stream of the replay of a compact log has no inputs or end, which
        /// a full recording has (its messages carry the inputs).
        private func nextCompared(_ reader: LogReader) throws -> LogEntry? {
            while let entry = try reader.next() {
                switch entry.record.body {
                case .event?, .check?: return entry
                default: continue
                }
            }
            return nil
        }
    }
}

/// A log's records as text lines and as JSON lines.
enum LogText {
    static func describe(_ header: Rrvm_LogHeader) -> String {
        let config = header.config
        var lines = ["log format \(header.formatVersion), rrvm \(header.rrvmVersion), detail \(header.detail == .full ? "full" : "compact"), "
            + "check every \(header.checkInterval) instructions, \(config.harts) harts, \(config.ramSize >> 20) MiB, "
            + "quantum \(config.quantum), schedule \(SchedulePolicyName(config.schedule).rawValue), icount shift \(config.icountShift)"]
        if header.excerpt { lines.append("the full stream of G=\(header.excerptFrom)..\(header.excerptTo) of a replay") }
        for image in config.images {
            lines.append("image \(image.role): \(image.path) sha256 \(image.sha256) at 0x\(String(image.loadAddress, radix: 16))")
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ record: Rrvm_LogRecord, config: Rrvm_MachineConfig) -> String {
        switch record.body {
        case .event(let event)?:
            return summary(event, config: config)
        case .input(let input)?:
            let what = input.frame.isEmpty ? "console \(quoted(String(decoding: input.console, as: UTF8.self)))"
                : "frame of \(input.frame.count) bytes \(input.frame.prefix(34).map { hexadecimal($0) }.joined())"
                    + (input.frame.count > 34 ? "..." : "")
            return "G=\(input.g) input \(what)"
                + (input.endedIdle ? " (ended the idle period from G=\(input.idleFrom))" : "")
        case .check(let check)?:
            let harts = check.harts.enumerated().map { "hart \($0.offset) \(hex($0.element))" }
            let devices = check.devices.enumerated().map {
                "\(Endpoint.describe(Endpoint.device($0.offset), config: config)) \(hex($0.element))"
            }
            return "G=\(check.g) check after \(check.retired) instructions: " + (harts + devices).joined(separator: ", ")
        case .end(let end)?:
            return "end at G=\(end.g): status \(end.exitCode), \(end.reason)"
        case nil:
            return "empty record"
        }
    }

    static func json(_ header: Rrvm_LogHeader) -> String {
        let config = header.config
        var fields = [
            "\"record\":\"header\"", "\"format\":\(header.formatVersion)", "\"rrvm\":\(quoted(header.rrvmVersion))",
            "\"detail\":\"\(header.detail == .full ? "full" : "compact")\"", "\"check_interval\":\(header.checkInterval)",
            "\"harts\":\(config.harts)", "\"ram_size\":\(config.ramSize)", "\"quantum\":\(config.quantum)",
            "\"schedule\":\(quoted(SchedulePolicyName(config.schedule).rawValue))",
            "\"icount_shift\":\(config.icountShift)",
            "\"devices\":[" + config.devices.map { quoted($0.kindName) }.joined(separator: ",") + "]",
            "\"images\":[" + config.images.map {
                "{\"role\":\(quoted($0.role)),\"path\":\(quoted($0.path)),\"sha256\":\(quoted($0.sha256))}"
            }.joined(separator: ",") + "]",
        ]
        if header.excerpt { fields += ["\"excerpt_from\":\(header.excerptFrom)", "\"excerpt_to\":\(header.excerptTo)"] }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func json(_ entry: LogEntry, config: Rrvm_MachineConfig) -> String {
        var fields = ["\"record\":\"\(kind(entry.record))\"", "\"offset\":\(entry.offset)", "\"g\":\(entry.record.g)"]
        switch entry.record.body {
        case .event(let event)?:
            fields += ["\"seq\":\(event.seq)", "\"from\":\(quoted(Endpoint.describe(event.from, config: config)))",
                       "\"to\":\(quoted(Endpoint.describe(event.to, config: config)))", "\"kind\":\"\(event.kindName)\"",
                       "\"message\":" + ((try? event.jsonString()) ?? "null")]
        case .input(let input)?:
            fields += [input.frame.isEmpty ? "\"console\":\(quoted(String(decoding: input.console, as: UTF8.self)))"
                       : "\"frame\":\"\(input.frame.map { hexadecimal($0) }.joined())\"",
                       "\"ended_idle\":\(input.endedIdle)"]
            if input.endedIdle { fields.append("\"idle_from\":\(input.idleFrom)") }
        case .check(let check)?:
            fields += ["\"retired\":\(check.retired)",
                       "\"harts\":[" + check.harts.map { "\"\(hex($0))\"" }.joined(separator: ",") + "]",
                       "\"devices\":[" + check.devices.map { "\"\(hex($0))\"" }.joined(separator: ",") + "]"]
        case .end(let end)?:
            fields += ["\"status\":\(end.exitCode)", "\"reason\":\(quoted(end.reason))", "\"guest_ended\":\(end.guestEnded)",
                       "\"retired\":\(end.retired)", "\"events\":\(end.events)"]
        case nil:
            break
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    private static func kind(_ record: Rrvm_LogRecord) -> String {
        if case .event? = record.body { return "event" }
        return record.kindName
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u" + hexadecimal(scalar.value, width: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
