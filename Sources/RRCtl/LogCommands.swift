import ArgumentParser
import Foundation
import RRProto
import RRSequencer

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Inspect a recorded log.", subcommands: [Show.self, Stats.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the log's header and events as text.")

        @Argument(help: "The log file.") var log: String
        @Option(help: "Only events from or to this process: sequencer, rrctl, hart N, device N, or a device kind (uart).")
        var process: String?
        @Option(help: "Only events of this kind (yield, mmio_request, device_access, device_done, host_input...).")
        var kind: String?
        @Option(help: "Only events at G >= this.") var from: UInt64?
        @Option(help: "Only events at G <= this.") var to: UInt64?

        func run() throws {
            let file = try LogFile(path: log)
            let config = file.header.config
            print("log format \(file.header.formatVersion), rrvm \(file.header.rrvmVersion), "
                  + "\(config.harts) harts, \(config.ramSize >> 20) MiB, quantum \(config.quantum), icount shift \(config.icountShift)")
            for image in config.images {
                print("image \(image.role): \(image.path) sha256 \(image.sha256) at 0x\(String(image.loadAddress, radix: 16))")
            }
            for record in file.records {
                switch record.body {
                case .event(let event)?:
                    if let from, event.g < from { continue }
                    if let to, event.g > to { continue }
                    if let kind, event.kindName != kind { continue }
                    if let process, !matches(event, process: process, config: config) { continue }
                    print(summary(event, config: config))
                case .end(let end)?:
                    print("end at G=\(end.g): status \(end.exitCode), \(end.reason)")
                case nil:
                    break
                }
            }
            if let truncation = file.truncation { print("log ends early: \(truncation)") }
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
            abstract: "Counts by kind and process, bytes, instructions and bytes per million instructions.")

        @Argument(help: "The log file.") var log: String

        func run() throws {
            let file = try LogFile(path: log)
            let config = file.header.config
            var byKind: [String: Int] = [:]
            var byProcess: [String: Int] = [:]
            var lastG: UInt64 = 0
            var instructions: UInt64 = 0
            var ended: Rrvm_LogEnd?
            for record in file.records {
                switch record.body {
                case .event(let event)?:
                    byKind[event.kindName, default: 0] += 1
                    let endpoint = event.from == Endpoint.sequencer ? event.to : event.from
                    byProcess[Endpoint.describe(endpoint, config: config), default: 0] += 1
                    lastG = max(lastG, event.g)
                    if case .yield(let yield)? = event.body { instructions += yield.executed }
                case .end(let end)?:
                    ended = end
                    lastG = max(lastG, end.g)
                case nil:
                    break
                }
            }
            print("file: \(log)")
            print("bytes: \(file.byteCount)")
            print("events: \(file.records.count)")
            print("final G: \(lastG)")
            print("instructions retired: \(instructions)")
            if instructions > 0 {
                print(String(format: "bytes per million instructions: %.1f", Double(file.byteCount) * 1e6 / Double(instructions)))
            }
            print("ended: " + (ended.map { "status \($0.exitCode) at G=\($0.g) (\($0.reason))" }
                               ?? "no end record" + (file.truncation.map { " (\($0))" } ?? "")))
            print("by kind:")
            for (kind, count) in byKind.sorted(by: { $0.key < $1.key }) { print("  \(kind): \(count)") }
            print("by process:")
            for (process, count) in byProcess.sorted(by: { $0.key < $1.key }) { print("  \(process): \(count)") }
        }
    }
}
