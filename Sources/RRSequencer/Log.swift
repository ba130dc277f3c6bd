#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto
import RVPlatform
import SwiftProtobuf

/// The log's file format (documented in proto/rrvm.proto, LOG FORMAT).
public enum LogFormat {
    public static let magic: [UInt8] = Array("RRVMLOG\n".utf8)
    public static var preamble: [UInt8] {
        magic + littleEndianBytes(logFormatVersion)
    }
    /// Records are at most this long: the length field has 24 bits.
    public static let maxRecordLength = (1 << 24) - 1

    /// A record's first word: its length in the low 24 bits, a check of those bits in the high 8.
    static func lengthWord(_ length: Int) -> UInt32 {
        UInt32(length) | UInt32(lengthCheck(length)) << 24
    }

    /// CRC-8 (polynomial 0x07) of the three length bytes, xor 0x55 so that zeros never pass. It catches
    /// every damage of up to 8 adjacent bits in the length, which a record cut short could not tell apart.
    static func lengthCheck(_ length: Int) -> UInt8 {
        var crc: UInt8 = 0
        for shift in [0, 8, 16] {
            crc ^= UInt8(truncatingIfNeeded: length >> shift)
            for _ in 0..<8 { crc = crc & 0x80 != 0 ? (crc << 1) ^ 0x07 : crc << 1 }
        }
        return crc ^ 0x55
    }

    /// The first payload byte of each kind of LogRecord: the tag of its oneof field (see proto/rrvm.proto).
    enum RecordTag: UInt8 {
        case event = 0x0A, end = 0x12, input = 0x1A, check = 0x22
    }
}

func littleEndianBytes(_ value: UInt32) -> [UInt8] {
    [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
     UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)]
}

func readUInt32<Bytes: Collection>(_ bytes: Bytes, at offset: Int) -> UInt32 where Bytes.Element == UInt8, Bytes.Index == Int {
    let base = bytes.startIndex + offset
    return UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8 | UInt32(bytes[base + 2]) << 16 | UInt32(bytes[base + 3]) << 24
}

public struct LogError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Appends records to a log file. Records are buffered and written in large pieces; `flush()` makes every
/// record so far durable in the file, so a crash or Ctrl-C loses nothing that was flushed.
public final class LogWriter {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    public let path: String
    public private(set) var bytesWritten = 0
    /// The byte offset the next record goes to (written or still buffered).
    public var offset: Int { bytesWritten + buffer.count }

    public init(path: String, header: Rrvm_LogHeader) throws {
        self.path = path
        // 0600: a log holds what was typed on the console. No symlink is followed (rrctl refused one already; one
        // planted since, in a directory others can write, is refused here).
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw LogError("cannot create log '\(path)': \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(1 << 20)
        buffer += LogFormat.preamble
        try append(bytes: header.serializedBytes())
        try flush()
    }

    deinit { close(descriptor) }

    public func append(_ record: Rrvm_LogRecord) throws {
        try append(bytes: record.serializedBytes())
    }

    private func append(bytes: [UInt8]) throws {
        guard !bytes.isEmpty, bytes.count <= LogFormat.maxRecordLength else {
            throw LogError("cannot write a record of \(bytes.count) bytes to '\(path)' (1 to \(LogFormat.maxRecordLength))")
        }
        buffer += littleEndianBytes(LogFormat.lengthWord(bytes.count))
        buffer += littleEndianBytes(CRC32.checksum(bytes))
        buffer += bytes
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func flush() throws {
        if let reason = buffer.withUnsafeBytes({ writeWholeFailure(descriptor, $0) }) {
            throw LogError("cannot write log '\(path)': \(reason)")
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Bytes read front to back through a bounded window: a file read in pieces, or bytes in memory.
final class ByteStream {
    private let descriptor: Int32
    private var window: [UInt8]
    private var windowStart = 0
    private var cursor = 0
    /// The size of the file when it was opened: reading never goes past it.
    let size: Int
    var offset: Int { windowStart + cursor }
    static let chunk = 1 << 20

    init(descriptor: Int32, size: Int) {
        self.descriptor = descriptor
        self.size = size
        window = []
    }

    init(bytes: [UInt8]) {
        descriptor = -1
        size = bytes.count
        window = bytes
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The next `count` bytes (fewer only where the file ends), moving past them.
    func take(_ count: Int) throws -> ArraySlice<UInt8> {
        if window.count - cursor < count { try refill(atLeast: count) }
        let taken = window[cursor..<min(window.count, cursor + count)]
        cursor += taken.count
        return taken
    }

    /// Moves past `count` bytes without keeping them.
    func skip(_ count: Int) throws {
        let buffered = window.count - cursor
        if count <= buffered {
            cursor += count
        } else if descriptor >= 0 {
            windowStart = offset + count
            window = []
            cursor = 0
            guard lseek(descriptor, off_t(windowStart), SEEK_SET) >= 0 else {
                throw LogError("cannot read the log: \(String(cString: strerror(errno)))")
            }
        } else {
            cursor = window.count
        }
    }

    private func refill(atLeast count: Int) throws {
        guard descriptor >= 0 else { return }
        var next = Array(window[cursor...])
        windowStart += cursor
        cursor = 0
        let wanted = min(max(count, ByteStream.chunk), size - windowStart) - next.count
        if wanted > 0 {
            let kept = next.count
            next += repeatElement(0, count: wanted)
            let got = next.withUnsafeMutableBytes { readUpTo(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: $0[kept...])) }
            guard let filled = got else { throw LogError("cannot read the log: \(String(cString: strerror(errno)))") }
            next.removeLast(wanted - filled)
        }
        window = next
    }
}

/// One record of a log and where it starts in the file.
public struct LogEntry {
    public var offset: Int
    public var record: Rrvm_LogRecord
}

/// Reads a log front to back, one record at a time, holding one record (and a 1 MiB window) in memory.
/// The magic and the format version are checked before anything else, then the header; `next()` returns
/// each record checked (framing, CRC, decoding, G order of inputs, checks and the end, checks naming only
/// processes the machine has) or throws naming the byte offset. A record cut short at the very end of the
/// file (a recording that was interrupted) ends the log: `next()` returns nil and `truncation` says where.
public final class LogReader {
    public let name: String
    public private(set) var header: Rrvm_LogHeader
    /// Why reading stopped before the end of the file, once it did (a record cut short at the end).
    public private(set) var truncation: String?
    public var byteCount: Int { stream.size }
    /// Byte offset of the next record.
    public var offset: Int { stream.offset }
    public var isFull: Bool { header.detail == .full }
    private let stream: ByteStream
    private var ended = false
    private var sawEnd = false
    /// The G of the last input, check or end: those come in G order.
    private var orderedG: UInt64 = 0

    public convenience init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw LogError("cannot read log '\(path)': \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw LogError("cannot read log '\(path)': not a regular file")
        }
        try self.init(stream: ByteStream(descriptor: descriptor, size: Int(info.st_size)), name: path)
    }

    /// A log held in memory (tests, fuzzing): read exactly as a file would be.
    public convenience init(bytes: [UInt8], name: String) throws {
        try self.init(stream: ByteStream(bytes: bytes), name: name)
    }

    private init(stream: ByteStream, name: String) throws {
        self.stream = stream
        self.name = name
        let magic = try stream.take(LogFormat.magic.count)
        guard Array(magic) == LogFormat.magic else {
            throw LogError("'\(name)' is not an rrvm log (no RRVMLOG magic at byte 0)")
        }
        let versionBytes = try stream.take(4)
        guard versionBytes.count == 4 else {
            throw LogError("'\(name)' is cut short at byte \(stream.offset): expected the format version at byte 8")
        }
        let version = readUInt32(versionBytes, at: 0)
        guard version == logFormatVersion else {
            throw LogError("'\(name)' has log format version \(version); this rrvm reads version \(logFormatVersion)")
        }
        // `header` is set below; the framing helper needs no header.
        header = Rrvm_LogHeader()
        let headerOffset = stream.offset
        guard let payload = try nextPayload(verify: true) else {
            throw LogError("'\(name)' is cut short at byte \(headerOffset): expected the log header"
                           + (truncation.map { " (\($0))" } ?? ""))
        }
        let decoded: Rrvm_LogHeader
        do { decoded = try Rrvm_LogHeader(serializedBytes: Array(payload.bytes)) } catch {
            throw LogError("'\(name)' is damaged at byte \(headerOffset): the header does not decode")
        }
        if let problem = LogReader.problem(with: decoded) {
            throw LogError("'\(name)' is damaged at byte \(headerOffset): \(problem)")
        }
        header = decoded
    }

    private static func problem(with header: Rrvm_LogHeader) -> String? {
        if header.formatVersion != logFormatVersion {
            return "the header names format version \(header.formatVersion), the file \(logFormatVersion)"
        }
        if case .UNRECOGNIZED(let level) = header.detail { return "unknown detail level \(level)" }
        if header.config.harts == 0 || header.config.devices.isEmpty {
            return "the header describes no machine (\(header.config.harts) harts, \(header.config.devices.count) devices)"
        }
        if header.excerpt && header.detail != .full { return "an excerpt must be a full-detail stream" }
        if header.excerpt && header.excerptFrom > header.excerptTo {
            return "the excerpt's interval G=\(header.excerptFrom)..\(header.excerptTo) is empty"
        }
        return nil
    }

    /// The next record, checked; nil at the end of the log (see `truncation`).
    public func next() throws -> LogEntry? {
        guard let (offset, payload) = try nextPayload(verify: true) else { return nil }
        let record: Rrvm_LogRecord
        do { record = try Rrvm_LogRecord(serializedBytes: Array(payload)) } catch {
            throw damaged(offset, "the record does not decode")
        }
        try check(record, at: offset)
        return LogEntry(offset: offset, record: record)
    }

    /// Goes back (or forward) to the record at byte `offset`, which a checkpoint noted, and reads it: it must be
    /// a whole record there (a checkpoint of another log, or a log changed since, is refused with its offset).
    public func seek(to offset: Int) throws -> LogEntry {
        guard offset < stream.size else {
            throw LogError("'\(name)' has no record at byte \(offset) (the log holds \(stream.size) bytes)")
        }
        try move(to: offset)
        guard let entry = try next() else { throw damaged(offset, "no whole record at a checkpoint's position") }
        return entry
    }

    /// Reads nothing more: the reader is at the log's end.
    public func moveToEnd() { ended = true }

    /// Goes to byte `offset` without reading (a record boundary a writer reported, or the end of the log): the
    /// next `next()` reads from there, checked as ever.
    public func move(to offset: Int) throws {
        let headerEnd = 12
        guard offset >= headerEnd, offset <= stream.size else {
            throw LogError("'\(name)' has no record boundary at byte \(offset) (the log holds \(stream.size) bytes)")
        }
        stream.rewind(to: offset)
        ended = false
        sawEnd = false
        orderedG = 0
        truncation = nil
    }

    /// Walks the rest of the log checking every record's framing and CRC without decoding it: a quick
    /// check of a whole log before a replay reads it as it goes (which checks the rest).
    public func checkFraming() throws {
        while try nextPayload(verify: true) != nil {}
    }

    /// The next input record, moving past the others without decoding them (replay's look-ahead for
    /// the next input, a second reader beside the one that checks every record).
    public func nextInput() throws -> LogEntry? {
        while let (offset, tag) = try nextTag() {
            guard tag == LogFormat.RecordTag.input.rawValue else { continue }
            stream.rewind(to: offset)
            return try next()
        }
        return nil
    }

    /// The offset and first payload byte of the next record, moving past it.
    private func nextTag() throws -> (Int, UInt8)? {
        guard let (offset, payload) = try nextPayload(verify: false) else { return nil }
        return (offset, payload.first ?? 0)
    }

    private func damaged(_ offset: Int, _ what: String) -> LogError {
        LogError("'\(name)' is damaged at byte \(offset): \(what)")
    }

    /// The next record's payload and offset. With `verify` false only its first byte is read (and its CRC
    /// not checked). Nil at the end of the file, or where the last record is cut short.
    private func nextPayload(verify: Bool) throws -> (offset: Int, bytes: ArraySlice<UInt8>)? {
        guard !ended else { return nil }
        let start = stream.offset
        let remaining = stream.size - start
        if remaining == 0 {
            ended = true
            return nil
        }
        let head = try stream.take(8)
        guard head.count == 8 else {
            truncation = "record header cut short at byte \(start) (expected 8 bytes, found \(head.count))"
            ended = true
            return nil
        }
        let word = readUInt32(head, at: 0)
        let length = Int(word & 0xFF_FFFF)
        guard UInt8(word >> 24) == LogFormat.lengthCheck(length) else {
            throw damaged(start, "the record's length field fails its check (a damaged length, or not a record)")
        }
        guard length > 0 else { throw damaged(start, "an empty record") }
        guard remaining - 8 >= length else {
            // An interrupted recording ends so. A damaged length that overruns the file looks the same,
            // except that whole records follow it: then it is damage.
            let rest = try stream.take(remaining - 8)
            if let found = LogReader.wholeRecord(in: rest) {
                throw damaged(start, "the record claims \(length) bytes, past the end of the file, but a whole record "
                              + "follows at byte \(start + 8 + found)")
            }
            truncation = "record at byte \(start) cut short (expected \(length) bytes, found \(remaining - 8))"
            ended = true
            return nil
        }
        if !verify {
            let first = try stream.take(1)
            try stream.skip(length - 1)
            return (start, first)
        }
        let payload = try stream.take(length)
        guard payload.count == length else {
            truncation = "record at byte \(start) cut short (the file shrank while it was read)"
            ended = true
            return nil
        }
        guard CRC32.checksum(payload) == readUInt32(head, at: 4) else {
            throw damaged(start, "record checksum does not match")
        }
        return (start, payload)
    }

    /// The offset of the first whole record (a frame whose check byte, kind tag and CRC hold, of at most
    /// 64 KiB) in bytes that follow a record cut short, if any.
    static func wholeRecord(in bytes: ArraySlice<UInt8>) -> Int? {
        var position = bytes.startIndex
        while position + 9 <= bytes.endIndex {
            defer { position += 1 }
            guard LogFormat.RecordTag(rawValue: bytes[position + 8]) != nil else { continue }
            let word = readUInt32(bytes, at: position - bytes.startIndex)
            let length = Int(word & 0xFF_FFFF)
            guard length > 0, length <= 1 << 16, position + 8 + length <= bytes.endIndex,
                  UInt8(word >> 24) == LogFormat.lengthCheck(length) else { continue }
            let crc = readUInt32(bytes, at: position + 4 - bytes.startIndex)
            if CRC32.checksum(bytes[(position + 8)..<(position + 8 + length)]) == crc { return position - bytes.startIndex }
        }
        return nil
    }

    /// What a decoded record must satisfy beyond its framing.
    private func check(_ record: Rrvm_LogRecord, at offset: Int) throws {
        guard !sawEnd else { throw damaged(offset, "a record after the end record") }
        let config = header.config
        var orderedAt: UInt64?
        switch record.body {
        case .event?:
            guard isFull else { throw damaged(offset, "a stamped message in a compact log") }
        case .input(let input)?:
            guard input.frame.isEmpty || input.console.isEmpty && EthernetFrame.sizes.contains(input.frame.count)
                    && config.devices.contains(where: { $0.kind == .virtioNet }) else {
                throw damaged(offset, "an input frame of \(input.frame.count) bytes (a frame is \(EthernetFrame.sizes.lowerBound)-"
                              + "\(EthernetFrame.sizes.upperBound) bytes, without console bytes, for a machine with a network card)")
            }
            orderedAt = input.g
        case .check(let check)?:
            guard check.harts.count == Int(config.harts) else {
                throw damaged(offset, "the check at G=\(check.g) has \(check.harts.count) hart hashes, but the "
                              + "machine has \(config.harts) harts"
                              + (check.harts.count > Int(config.harts) ? " (no hart \(config.harts))" : ""))
            }
            guard check.devices.count == config.devices.count else {
                throw damaged(offset, "the check at G=\(check.g) has \(check.devices.count) device hashes, but "
                              + "the machine has \(config.devices.count) devices"
                              + (check.devices.count > config.devices.count ? " (no device \(config.devices.count))" : ""))
            }
            orderedAt = check.g
        case .end(let end)?:
            sawEnd = true
            orderedAt = end.g
        case nil:
            throw damaged(offset, "a record of a kind this rrvm does not know")
        }
        if let g = orderedAt {
            guard g >= orderedG else {
                throw damaged(offset, "\(record.kindName) at G=\(g) comes after G=\(orderedG): records out of G order")
            }
            orderedG = g
        }
    }
}

extension ByteStream {
    /// Goes back to a record just passed (its bytes are still in the window, or read again).
    func rewind(to position: Int) {
        if position >= windowStart && position - windowStart <= window.count {
            cursor = position - windowStart
        } else {
            windowStart = position
            window = []
            cursor = 0
            _ = lseek(descriptor, off_t(position), SEEK_SET)
        }
    }
}

extension Rrvm_LogRecord {
    /// "check", "input", "end", or the message's kind ("yield", "device_access"...).
    public var kindName: String {
        switch body {
        case .event(let event)?: return event.kindName
        case .input?: return "input"
        case .check?: return "check"
        case .end?: return "end"
        case nil: return "empty"
        }
    }

    /// The G the record is stamped with.
    public var g: UInt64 {
        switch body {
        case .event(let event)?: return event.g
        case .input(let input)?: return input.g
        case .check(let check)?: return check.g
        case .end(let end)?: return end.g
        case nil: return 0
        }
    }
}

/// A log read through once: what `log stats` prints and what a replay checks before it starts.
public struct LogSummary {
    public var header: Rrvm_LogHeader
    public var byteCount: Int
    public var records = 0
    public var byKind: [String: Int] = [:]
    public var byProcess: [String: Int] = [:]
    /// The G of the last record.
    public var lastG: UInt64 = 0
    /// Instructions retired by all harts: from the end record, else the last check, else the yields.
    public var retired: UInt64 = 0
    public var end: Rrvm_LogEnd?
    public var truncation: String?

    public init(path: String) throws {
        try self.init(reader: LogReader(path: path))
    }

    public init(reader: LogReader) throws {
        header = reader.header
        byteCount = reader.byteCount
        let config = header.config
        var yielded: UInt64 = 0
        var checked: UInt64 = 0
        while let entry = try reader.next() {
            records += 1
            byKind[entry.record.kindName, default: 0] += 1
            lastG = max(lastG, entry.record.g)
            switch entry.record.body {
            case .event(let event)?:
                let endpoint = event.from == Endpoint.sequencer ? event.to : event.from
                byProcess[Endpoint.describe(endpoint, config: config), default: 0] += 1
                if case .yield(let yield)? = event.body { yielded += yield.executed }
            case .check(let check)?:
                checked = check.retired
            case .end(let end)?:
                self.end = end
            default:
                break
            }
        }
        retired = end?.retired ?? max(checked, yielded)
        truncation = reader.truncation
    }
}

/// The detail levels as command lines name them (`--log-detail compact|full`).
/// The schedule policy's name on the command line and in `rrctl log show`.
public enum SchedulePolicyName: String, CaseIterable {
    case loneHartToEvent = "lone-hart-to-event", quantum
    public var policy: Rrvm_SchedulePolicy { self == .quantum ? .quantum : .loneHartToEvent }
    public init(_ policy: Rrvm_SchedulePolicy) { self = policy == .quantum ? .quantum : .loneHartToEvent }
}

public enum LogDetailName: String, CaseIterable {
    case compact, full
    public var detail: Rrvm_LogDetail { self == .full ? .full : .compact }
}
