#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto
import RVPlatform
import SwiftProtobuf

/// Exit statuses of a replay that did not end as recorded.
public enum ReplayExit {
    /// The log ended (the recording was interrupted) before the run did.
    public static let logEnded: Int32 = 2
    /// The run did something other than what was recorded.
    public static let diverged: Int32 = 3
}

/// Retired instructions between two checks unless `--check-interval` says otherwise: at about 110 bytes a
/// check on a 4-hart machine with 7 devices, 0.11 bytes per 1,000 instructions (README, "Log size").
public let defaultCheckInterval: UInt64 = 1_000_000

/// Writes a run to a log file (`rrctl up --record`): its inputs, checks and end, and with full detail
/// every stamped message as well.
public final class RecordJournal: EventJournal {
    public let writer: LogWriter
    public let checkInterval: UInt64
    private let full: Bool
    public private(set) var failure: String?
    public private(set) var events = 0
    /// The highest G of a record written so far.
    public private(set) var lastG: UInt64 = 0

    public init(writer: LogWriter, detail: Rrvm_LogDetail = .compact, checkInterval: UInt64 = defaultCheckInterval) {
        self.writer = writer
        self.full = detail == .full
        self.checkInterval = checkInterval
    }

    private func write(_ record: Rrvm_LogRecord) -> JournalStop? {
        guard failure == nil else { return nil }
        do {
            try writer.append(record)
            lastG = max(lastG, record.g)
        } catch {
            failure = "\(error)"
            return JournalStop(message: "recording stopped: \(error)", exitCode: 1)
        }
        return nil
    }

    public func note(_ envelope: Rrvm_Envelope) -> JournalStop? {
        events += 1
        return full ? write(.with { $0.event = envelope }) : nil
    }

    public func check(_ check: Rrvm_LogCheck) -> JournalStop? {
        write(.with { $0.check = check })
    }

    public func input(at g: UInt64, live: Rrvm_HostInput?, idleFrom: UInt64?) -> Result<Rrvm_HostInput?, JournalStop> {
        guard let live else { return .success(nil) }
        let record = Rrvm_LogInput.with {
            $0.g = g
            $0.console = live.console
            $0.frame = live.frame
            $0.endedIdle = idleFrom != nil
            $0.idleFrom = idleFrom ?? 0
        }
        if let stop = write(.with { $0.input = record }) { return .failure(stop) }
        return .success(live)
    }

    public func nextRecordedInputG() -> UInt64? { nil }
    public func stopAtBoundary(g: UInt64) -> JournalStop? { nil }

    public func end(_ end: Rrvm_LogEnd) -> JournalStop? {
        _ = write(.with { $0.end = end })
        try? writer.flush()
        return nil
    }

    /// Makes everything noted so far durable (called on signals and periodically).
    public func flush() { try? writer.flush() }

    /// Where the next record goes, for a checkpoint of a recording under a debugger (`TimeTravelJournal`): its
    /// kind left empty, since it is not written yet; a replay of this log reads on from that offset.
    public func position() -> Rrvm_LogPosition? {
        .with {
            $0.recordOffset = UInt64(writer.offset)
            $0.inputOffset = UInt64(writer.offset)
            $0.noted = UInt64(events)
            $0.lastRecordG = lastG
        }
    }
}

/// Replays a log (`rrctl replay`): supplies its inputs at their G and compares every check (and, in a
/// full-detail log, every message) with what the run does now, reading the log as the run goes: one reader
/// walks the records in order, a second one looks ahead for the next input. Optionally writes the full
/// stream of one G interval to an excerpt (`rrctl replay --full-stream`).
public final class ReplayJournal: EventJournal {
    /// Where to write the full stream of G `from`...`to`.
    public struct Excerpt {
        public var path: String
        public var from: UInt64
        public var to: UInt64
        public init(path: String, from: UInt64, to: UInt64) {
            self.path = path
            self.from = from
            self.to = to
        }
    }

    private let records: LogReader
    private let inputs: LogReader
    private let config: Rrvm_MachineConfig
    private let full: Bool
    public let checkInterval: UInt64
    /// A recording's past (`TimeTravelJournal`): the log is the one being written, flushed up to where the
    /// recording stopped, at G=`present`, past its last record. Nil: a finished log, or one cut short.
    public var present: UInt64?
    /// The next record to compare (a message, a check or the end; inputs go through `inputs`).
    private var next: LogEntry?
    private var nextInput: LogEntry?
    /// A damaged record met on the way: the replay stops with it.
    private var damage: String?
    /// The G of the last record read, for a log cut short without an end record.
    private var lastRecordG: UInt64 = 0
    private var noted: UInt64 = 0
    /// Where the checks last all agreed (nil: none yet).
    private var agreedAt: UInt64?
    private let excerpt: Excerpt?
    private var excerptWriter: LogWriter?
    /// Checks compared and (full detail) messages compared.
    public private(set) var checksMatched = 0
    public private(set) var messagesMatched = 0

    /// `open` gives a fresh reader of the log each time (two are used).
    public init(open: () throws -> LogReader, excerpt: Excerpt? = nil) throws {
        records = try open()
        inputs = try open()
        let header = records.header
        guard !header.excerpt else {
            throw LogError("'\(records.name)' is the full stream of G=\(header.excerptFrom)..\(header.excerptTo) of a "
                           + "replay, not a recording: compare it with rrctl log diff")
        }
        config = header.config
        full = header.detail == .full
        checkInterval = header.checkInterval
        self.excerpt = excerpt
        if let excerpt {
            var excerptHeader = header
            excerptHeader.detail = .full
            excerptHeader.excerpt = true
            excerptHeader.excerptFrom = excerpt.from
            excerptHeader.excerptTo = excerpt.to
            excerptWriter = try LogWriter(path: excerpt.path, header: excerptHeader)
        }
        advance()
        advanceInput()
    }

    public convenience init(path: String, excerpt: Excerpt? = nil) throws {
        try self.init(open: { try LogReader(path: path) }, excerpt: excerpt)
    }

    private func advance() {
        do {
            repeat {
                next = try records.next()
                if let next { lastRecordG = max(lastRecordG, next.record.g) }
            } while next.map({ if case .input? = $0.record.body { return true } else { return false } }) ?? false
        } catch {
            damage = "\(error)"
            next = nil
        }
    }

    private func advanceInput() {
        do { nextInput = try inputs.nextInput() } catch {
            damage = "\(error)"
            nextInput = nil
        }
    }

    /// The recording's end, once every record before it has been compared.
    private var recordedEnd: Rrvm_LogEnd? {
        if case .end(let end)? = next?.record.body { return end }
        return nil
    }

    /// The G the recording reaches when it has no end record (cut short); nil while records remain.
    private var cutShortAt: UInt64? {
        next == nil && damage == nil ? max(lastRecordG, present ?? 0) : nil
    }

    /// Whether every record has been compared or supplied (a recording's past: the replay is at its present).
    public var isExhausted: Bool { next == nil && nextInput == nil && damage == nil }

    public var isReplaying: Bool { true }

    private var logEndedHere: JournalStop {
        JournalStop(message: "replay reached the end of the log at byte \(records.offset): the recording ends there"
                    + (records.truncation.map { " (\($0))" } ?? ""), exitCode: ReplayExit.logEnded)
    }

    private func damageStop() -> JournalStop? {
        damage.map { JournalStop(message: "replay stopped: \($0)", exitCode: 1) }
    }

    /// A divergence: where, who, what, since when all checks agreed, and how to find the first message.
    private func diverged(g: UInt64, process: String, what: String) -> JournalStop {
        let since = agreedAt.map { "every check agreed up to G=\($0)" } ?? "no check agreed before"
        var message = "replay diverged at G=\(g), \(process): \(what); \(since)"
        if !full {
            let from = agreedAt ?? 0
            message += ". The first differing message is in G=\(from)..\(g): write that interval's full stream "
                + "(rrctl replay \(records.name) --full-stream NEW.log --from \(from) --to \(g)), the same with the "
                + "rrvm that recorded the log (OLD.log), and compare: rrctl log diff OLD.log NEW.log"
        }
        return JournalStop(message: message, exitCode: ReplayExit.diverged)
    }

    private func describe(_ entry: LogEntry?) -> String {
        guard let entry else { return "nothing (the log ends)" }
        switch entry.record.body {
        case .event(let event)?: return summary(event, config: config) + " (log byte \(entry.offset))"
        case .check(let check)?: return "a check at G=\(check.g) (log byte \(entry.offset))"
        case .end(let end)?: return "the end at G=\(end.g), status \(end.exitCode) (log byte \(entry.offset))"
        default: return "a \(entry.record.kindName) record (log byte \(entry.offset))"
        }
    }

    public func note(_ envelope: Rrvm_Envelope) -> JournalStop? {
        if let stop = damageStop() { return stop }
        if let end = recordedEnd, !end.guestEnded, noted >= end.events { return logEndedHere }
        if let last = cutShortAt, envelope.g > last { return logEndedHere }
        if let stop = excerptDone(at: envelope.g) { return stop }
        // Named only for a divergence: the name is a string built per message, which most messages never need.
        var process: String { Endpoint.describe(envelope.from == Endpoint.sequencer ? envelope.to : envelope.from, config: config) }
        if full {
            guard case .event(let expected)? = next?.record.body else {
                return diverged(g: envelope.g, process: process,
                                what: "the run sent \(summary(envelope, config: config)), the recording has \(describe(next))")
            }
            guard expected == envelope else {
                return diverged(g: expected.g, process: process,
                                what: "expected \(summary(expected, config: config)), found \(summary(envelope, config: config)) "
                                    + "(log byte \(next!.offset))")
            }
            messagesMatched += 1
            advance()
        } else if case .check(let check)? = next?.record.body, check.g < envelope.g {
            return diverged(g: envelope.g, process: process,
                            what: "the recording checks every process at G=\(check.g), which the run passed without a check "
                                + "(its instruction count differs)")
        } else if let end = recordedEnd, end.guestEnded, noted >= end.events {
            return diverged(g: envelope.g, process: process,
                            what: "the recorded guest ended at G=\(end.g) (status \(end.exitCode)) after \(end.events) "
                                + "messages; the run goes on with \(summary(envelope, config: config))")
        }
        noted += 1
        writeExcerpt(.with { $0.event = envelope }, g: envelope.g)
        return nil
    }

    public func check(_ check: Rrvm_LogCheck) -> JournalStop? {
        if let stop = damageStop() { return stop }
        if let stop = excerptDone(at: check.g) { return stop }
        writeExcerpt(.with { $0.check = check }, g: check.g)
        guard case .check(let recorded)? = next?.record.body else {
            if let end = recordedEnd, end.guestEnded || noted < end.events {
                return diverged(g: check.g, process: "sequencer",
                                what: "the run reached a check (\(check.retired) instructions retired) where the recording has \(describe(next))")
            }
            if recordedEnd != nil || cutShortAt != nil { return logEndedHere }
            return diverged(g: check.g, process: "sequencer",
                            what: "the run reached a check where the recording has \(describe(next))")
        }
        let offset = next!.offset
        guard recorded.g == check.g, recorded.retired == check.retired else {
            return diverged(g: min(recorded.g, check.g), process: "sequencer",
                            what: "the recording checks at G=\(recorded.g) after \(recorded.retired) instructions, the run at "
                                + "G=\(check.g) after \(check.retired) (log byte \(offset))")
        }
        for (hart, hash) in check.harts.enumerated() where recorded.harts[hart] != hash {
            return diverged(g: check.g, process: "hart \(hart)",
                            what: "state hash \(hex(hash)), recorded \(hex(recorded.harts[hart])) (check at log byte \(offset))")
        }
        for (device, hash) in check.devices.enumerated() where recorded.devices[device] != hash {
            return diverged(g: check.g, process: Endpoint.describe(Endpoint.device(device), config: config),
                            what: "state hash \(hex(hash)), recorded \(hex(recorded.devices[device])) (check at log byte \(offset))")
        }
        agreedAt = check.g
        checksMatched += 1
        advance()
        return nil
    }

    public func input(at g: UInt64, live: Rrvm_HostInput?, idleFrom: UInt64?) -> Result<Rrvm_HostInput?, JournalStop> {
        if let stop = damageStop() { return .failure(stop) }
        guard let entry = nextInput, case .input(let recorded)? = entry.record.body, recorded.g == g else {
            return .success(nil)
        }
        if recorded.endedIdle != (idleFrom != nil) || recorded.idleFrom != (idleFrom ?? 0) {
            let was = recorded.endedIdle ? "ended an idle period that began at G=\(recorded.idleFrom)" : "came while the machine ran"
            let now = idleFrom.map { "ends one that began at G=\($0)" } ?? "comes while the machine runs"
            return .failure(diverged(g: g, process: "sequencer",
                                     what: "the recorded input (log byte \(entry.offset)) \(was); in the run it \(now)"))
        }
        advanceInput()
        return .success(.with {
            $0.console = recorded.console
            $0.frame = recorded.frame
        })
    }

    public func nextRecordedInputG() -> UInt64? {
        if case .input(let input)? = nextInput?.record.body { return input.g }
        return nil
    }

    public func stopAtBoundary(g: UInt64) -> JournalStop? {
        if let stop = damageStop() { return stop }
        if let stop = excerptDone(at: g) { return stop }
        if let end = recordedEnd, !end.guestEnded, noted >= end.events { return logEndedHere }
        if let last = cutShortAt, g > last || present == nil && nextInput == nil && isQuietAfter(g) { return logEndedHere }
        if !full, case .check(let check)? = next?.record.body, check.g < g {
            return diverged(g: g, process: "sequencer",
                            what: "the recording checks every process at G=\(check.g), which the run passed without a check")
        }
        return nil
    }

    /// A log cut short ends at its last record; at that G, nothing recorded remains to be compared.
    private func isQuietAfter(_ g: UInt64) -> Bool { g >= lastRecordG }

    public func end(_ end: Rrvm_LogEnd) -> JournalStop? {
        try? excerptWriter?.flush()
        guard end.guestEnded else { return nil }
        if let stop = damageStop() { return stop }
        guard let recorded = recordedEnd, recorded.guestEnded, recorded.g == end.g, recorded.events == end.events,
              recorded.exitCode == end.exitCode else {
            return diverged(g: end.g, process: "sequencer",
                            what: "the guest ended (\(end.reason)) where the recording has \(describe(next))")
        }
        return nil
    }

    // MARK: - Position (checkpoints)

    public func position() -> Rrvm_LogPosition? {
        .with {
            if let next {
                $0.recordOffset = UInt64(next.offset)
                $0.recordG = next.record.g
                $0.recordKind = next.record.kindName
            }
            if let nextInput {
                $0.inputOffset = UInt64(nextInput.offset)
                $0.inputG = nextInput.record.g
            }
            $0.noted = noted
            $0.lastRecordG = lastRecordG
            if let agreedAt { $0.agreedAt = agreedAt }
            $0.checksMatched = UInt64(checksMatched)
            $0.messagesMatched = UInt64(messagesMatched)
        }
    }

    /// Reads on from `position`: each reader goes back to its record, which must be the one noted there (same
    /// kind and G). A position past a log's end (none left) leaves that reader at the end. A position a
    /// recording gave (`RecordJournal.position`: no kind, the next record was not written then) puts both
    /// readers at that offset, reading on from there.
    public func seek(to position: Rrvm_LogPosition) throws {
        if position.recordKind.isEmpty && position.hasRecordOffset {
            try records.move(to: Int(clamping: position.recordOffset))
            try inputs.move(to: Int(clamping: position.inputOffset))
            damage = nil
            noted = position.noted
            lastRecordG = position.lastRecordG
            agreedAt = nil
            advance()
            advanceInput()
            return
        }
        func entry(_ reader: LogReader, offset: UInt64?, g: UInt64, kind: String?) throws -> LogEntry? {
            guard let offset else {
                reader.moveToEnd()
                return nil
            }
            guard let found = try? reader.seek(to: Int(clamping: offset)), found.record.g == g,
                  kind.map({ found.record.kindName == $0 }) ?? true else {
                throw LogError("the checkpoint expects \(kind ?? "an input") at G=\(g) at byte \(offset) of '\(records.name)', "
                               + "which holds something else there: a checkpoint of another log")
            }
            return found
        }
        let record: LogEntry?, input: LogEntry?
        do {
            record = try entry(records, offset: position.hasRecordOffset ? position.recordOffset : nil,
                               g: position.recordG, kind: position.recordKind)
            input = try entry(inputs, offset: position.hasInputOffset ? position.inputOffset : nil,
                              g: position.inputG, kind: "input")
        } catch {
            // Refused: both readers go back to where they were.
            _ = try? entry(records, offset: next.map { UInt64($0.offset) }, g: next?.record.g ?? 0, kind: nil)
            _ = try? entry(inputs, offset: nextInput.map { UInt64($0.offset) }, g: nextInput?.record.g ?? 0, kind: nil)
            throw error
        }
        next = record
        nextInput = input
        damage = nil
        noted = position.noted
        lastRecordG = position.lastRecordG
        agreedAt = position.hasAgreedAt ? position.agreedAt : nil
        checksMatched = Int(clamping: position.checksMatched)
        messagesMatched = Int(clamping: position.messagesMatched)
    }

    // MARK: - Excerpt

    private func writeExcerpt(_ record: Rrvm_LogRecord, g: UInt64) {
        guard let excerpt, let writer = excerptWriter, g >= excerpt.from, g <= excerpt.to else { return }
        do { try writer.append(record) } catch {
            damage = "cannot write the full stream: \(error)"
            excerptWriter = nil
        }
    }

    /// Past the excerpt's interval the replay has done its work: it stops there.
    private func excerptDone(at g: UInt64) -> JournalStop? {
        guard let excerpt, g > excerpt.to else { return nil }
        if let stop = damageStop() { return stop }
        try? excerptWriter?.flush()
        return JournalStop(message: "wrote the full stream of G=\(excerpt.from)..\(excerpt.to) to \(excerpt.path)",
                           exitCode: 0)
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

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
    let compact = fields.split(separator: "\n").map { trimmingWhitespace($0) }.joined(separator: " ")
    if !compact.isEmpty { text += " { \(compact) }" }
    return text
}
