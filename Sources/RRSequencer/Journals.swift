import Foundation
import RRProto
import SwiftProtobuf

/// Exit statuses of a replay that did not end as recorded.
public enum ReplayExit {
    /// The log ended (the recording was interrupted) before the run did.
    public static let logEnded: Int32 = 2
    /// The run did something other than what was recorded.
    public static let diverged: Int32 = 3
}

/// Writes every event to a log file (`rrctl up --record`).
public final class RecordJournal: EventJournal {
    public let writer: LogWriter
    public private(set) var failure: String?
    public private(set) var events = 0
    /// The highest G stamped on an event so far: a run stopped from outside mid-slice ends no earlier.
    private var lastEventG: UInt64 = 0

    public init(writer: LogWriter) { self.writer = writer }

    public func note(_ envelope: Rrvm_Envelope) -> JournalStop? {
        events += 1
        lastEventG = max(lastEventG, envelope.g)
        do {
            try writer.append(.with { $0.event = envelope })
        } catch {
            failure = "\(error)"
            return JournalStop(message: "recording stopped: \(error)", exitCode: 1)
        }
        return nil
    }

    public func recordedInput(at g: UInt64) -> Rrvm_HostInput? { nil }
    public func nextRecordedInputG() -> UInt64? { nil }
    public var isExhausted: Bool { false }

    public func end(g: UInt64, exitCode: Int32, reason: String) {
        _ = try? writer.append(.with { $0.end = .with { $0.g = max(g, lastEventG); $0.exitCode = exitCode; $0.reason = reason } })
        try? writer.flush()
    }

    /// Makes everything noted so far durable (called on signals and periodically).
    public func flush() { try? writer.flush() }
}

/// Checks every event against a recorded log and supplies its host inputs (`rrctl replay`).
public final class ReplayJournal: EventJournal {
    private let log: LogFile
    private let config: Rrvm_MachineConfig
    private var cursor = 0
    private var nextInputIndex: Int?
    /// How the recorded run ended, once replay reaches that record.
    public private(set) var recordedEnd: Rrvm_LogEnd?
    public private(set) var matched = 0

    public init(log: LogFile) {
        self.log = log
        self.config = log.header.config
        recomputeNextInput()
    }

    private func recomputeNextInput() {
        nextInputIndex = log.records[cursor...].firstIndex { $0.event.body.isHostInput }
    }

    public func note(_ envelope: Rrvm_Envelope) -> JournalStop? {
        guard cursor < log.records.count, case .event(let expected)? = log.records[cursor].body else {
            let offset = cursor < log.offsets.count ? log.offsets[cursor] : log.byteCount
            return JournalStop(message: "replay reached the end of the log at byte \(offset), G=\(envelope.g): "
                               + "the recording ends there" + (log.truncation.map { " (\($0))" } ?? ""),
                               exitCode: ReplayExit.logEnded)
        }
        guard expected == envelope else {
            return JournalStop(message: divergence(expected: expected, found: envelope, offset: log.offsets[cursor]),
                               exitCode: ReplayExit.diverged)
        }
        cursor += 1
        matched += 1
        if let index = nextInputIndex, index < cursor { recomputeNextInput() }
        if cursor < log.records.count, case .end(let end)? = log.records[cursor].body { recordedEnd = end }
        return nil
    }

    private func divergence(expected: Rrvm_Envelope, found: Rrvm_Envelope, offset: Int) -> String {
        let process = Endpoint.describe(expected.from == Endpoint.sequencer ? expected.to : expected.from,
                                        config: config)
        return "replay diverged at G=\(expected.g) (log byte \(offset)), \(process): "
            + "expected \(summary(expected, config: config)), found \(summary(found, config: config))"
    }

    public func recordedInput(at g: UInt64) -> Rrvm_HostInput? {
        guard cursor < log.records.count, case .event(let event)? = log.records[cursor].body,
              event.g == g, case .hostInput(let input)? = event.body else { return nil }
        return input
    }

    public func nextRecordedInputG() -> UInt64? {
        guard let index = nextInputIndex, index < log.records.count else { return nil }
        return log.records[index].event.g
    }

    public var isExhausted: Bool {
        cursor >= log.records.count || log.records[cursor].body.isEnd
    }

    public func end(g: UInt64, exitCode: Int32, reason: String) {}
}

extension Optional where Wrapped == Rrvm_Envelope.OneOf_Body {
    var isHostInput: Bool { if case .hostInput? = self { return true } else { return false } }
}

extension Optional where Wrapped == Rrvm_LogRecord.OneOf_Body {
    var isEnd: Bool { if case .end? = self { return true } else { return false } }
}

/// One line describing a stamped event: "G=1234 #56 hart 0 -> device 3 (uart) mmio_request { ... }".
public func summary(_ envelope: Rrvm_Envelope, config: Rrvm_MachineConfig? = nil) -> String {
    var text = "G=\(envelope.g) #\(envelope.seq) \(Endpoint.describe(envelope.from, config: config)) -> "
        + "\(Endpoint.describe(envelope.to, config: config)) \(envelope.kindName)"
    let fields: String
    switch envelope.body {
    case .yield(let message)?: fields = message.textFormatString()
    case .mmioRequest(let message)?: fields = message.textFormatString()
    case .deviceAccess(let message)?: fields = message.textFormatString()
    case .deviceDone(let message)?: fields = message.textFormatString()
    case .hostInput(let message)?: fields = message.textFormatString()
    case .sourceLevel(let message)?: fields = message.textFormatString()
    default: fields = ""
    }
    let compact = fields.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    if !compact.isEmpty { text += " { \(compact) }" }
    return text
}
