import Foundation
import RRProto
import SwiftProtobuf

/// The log's file format (documented in proto/rrvm.proto, LOG FORMAT).
public enum LogFormat {
    public static let magic: [UInt8] = Array("RRVMLOG\n".utf8)
    public static var preamble: [UInt8] {
        magic + littleEndianBytes(logFormatVersion)
    }
}

func littleEndianBytes(_ value: UInt32) -> [UInt8] {
    [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
     UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)]
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

    public init(path: String, header: Rrvm_LogHeader) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) // a log holds what was typed on the console
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
        buffer += littleEndianBytes(UInt32(bytes.count))
        buffer += littleEndianBytes(CRC32.checksum(bytes))
        buffer += bytes
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw LogError("cannot write log '\(path)': \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}

/// A log read back whole: its header, its records (with each one's byte offset), and how it ended.
public struct LogFile {
    public var header: Rrvm_LogHeader
    public var records: [Rrvm_LogRecord]
    public var offsets: [Int]
    public var byteCount: Int
    /// Why reading stopped before the end of the file, if it did (a cut-short final record).
    public var truncation: String?

    /// Reads and checks a log. A foreign file, another format version, a damaged record or a damaged
    /// header are refused with the byte offset; a record cut short at the end (a recording that was
    /// interrupted) is reported in `truncation`, and the records before it are kept.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LogError("cannot read log '\(path)': no such file or not readable")
        }
        try self.init(bytes: [UInt8](data), name: path)
    }

    public init(bytes: [UInt8], name: String) throws {
        byteCount = bytes.count
        let magic = LogFormat.magic
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw LogError("'\(name)' is not an rrvm log (no RRVMLOG magic at byte 0)")
        }
        guard bytes.count >= 12 else {
            throw LogError("'\(name)' is cut short at byte \(bytes.count): expected the format version at byte 8")
        }
        let version = LogFile.readUInt32(bytes, at: 8)
        guard version == logFormatVersion else {
            throw LogError("'\(name)' has log format version \(version); this rrvm reads version \(logFormatVersion)")
        }
        var offset = 12
        var payloads: [(offset: Int, bytes: ArraySlice<UInt8>)] = []
        var truncation: String?
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else {
                truncation = "record header cut short at byte \(offset) (expected 8 bytes, found \(bytes.count - offset))"
                break
            }
            let length = Int(LogFile.readUInt32(bytes, at: offset))
            let crc = LogFile.readUInt32(bytes, at: offset + 4)
            guard length <= 64 << 20 else {
                throw LogError("'\(name)' is damaged at byte \(offset): record length \(length) is implausible")
            }
            guard bytes.count - offset - 8 >= length else {
                truncation = "record at byte \(offset) cut short (expected \(length) bytes, found \(bytes.count - offset - 8))"
                break
            }
            let payload = bytes[(offset + 8)..<(offset + 8 + length)]
            guard CRC32.checksum(payload) == crc else {
                throw LogError("'\(name)' is damaged at byte \(offset): record checksum does not match")
            }
            payloads.append((offset, payload))
            offset += 8 + length
        }
        guard let first = payloads.first else {
            throw LogError("'\(name)' is cut short at byte \(offset): expected the log header")
        }
        do {
            header = try Rrvm_LogHeader(serializedBytes: Array(first.bytes))
        } catch {
            throw LogError("'\(name)' is damaged at byte \(first.offset): the header does not decode")
        }
        records = []
        offsets = []
        for (recordOffset, payload) in payloads.dropFirst() {
            guard let record = try? Rrvm_LogRecord(serializedBytes: Array(payload)) else {
                throw LogError("'\(name)' is damaged at byte \(recordOffset): the record does not decode")
            }
            records.append(record)
            offsets.append(recordOffset)
        }
        self.truncation = truncation
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}
