#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform

/// The console as the sequencer stamped it: each batch of UART output with its G, then the run's end.
/// `rrvm-sequencer --console-capture FILE` writes it in record, replay or plain runs alike; `rrctl rr`
/// compares the files of a recording and its replay (stdout is not compared: it is what reached the
/// terminal, after batching and whatever the supervisor adds).
///
/// File layout (little-endian): the magic "RRVMCON1", then records: 'O' G:u64 length:u32 bytes
/// (console output stamped at G) and one 'E' G:u64 instructions:u64 status:i32 (the end of the run).
public enum ConsoleCapture {
    static let magic = Array("RRVMCON1".utf8)
    static let outputTag = UInt8(ascii: "O")
    static let endTag = UInt8(ascii: "E")
    /// A capture larger than this is refused when read (it is ours, but it is a file under /tmp).
    public static let maximumBytes = 1 << 30

    /// Appends records to a new file (never an existing one, never through a symlink).
    public final class Writer {
        private let descriptor: Int32
        private var pending: [UInt8] = []

        public init(path: String) throws {
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw CaptureError("cannot create the console capture \(path): \(String(cString: strerror(errno)))")
            }
            pending = ConsoleCapture.magic
        }

        deinit { close(descriptor) }

        public func output(g: UInt64, bytes: [UInt8]) {
            guard !bytes.isEmpty else { return }
            pending.append(ConsoleCapture.outputTag)
            append(g)
            append(UInt32(bytes.count))
            pending += bytes
            if pending.count >= 1 << 16 { flush() }
        }

        public func end(g: UInt64, instructions: UInt64, exitCode: Int32) {
            pending.append(ConsoleCapture.endTag)
            append(g)
            append(instructions)
            append(UInt32(bitPattern: exitCode))
            flush()
        }

        public func flush() {
            // A failed write (a full disk) leaves the capture cut short: its reader finds that and says so.
            _ = pending.withUnsafeBytes { writeWhole(descriptor, $0) }
            pending = []
        }

        private func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { pending += $0 }
        }
    }

    /// A capture read back: the console bytes, the G of each batch, and the end of the run.
    public struct Recording {
        public var bytes: [UInt8] = []
        /// (offset into `bytes`, G) of each batch, in order.
        public var batches: [(offset: Int, g: UInt64)] = []
        public var end: (g: UInt64, instructions: UInt64, exitCode: Int32)?

        /// The G at which the byte at `offset` was stamped (the last batch's for the end of the output).
        public func g(atOffset offset: Int) -> UInt64? {
            var low = 0, high = batches.count
            while low < high {
                let middle = (low + high) / 2
                if batches[middle].offset <= offset { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? nil : batches[low - 1].g
        }
    }

    public static func read(path: String) throws -> Recording {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CaptureError("cannot open the console capture \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= maximumBytes else {
            throw CaptureError("\(path) is not a console capture (not a regular file of at most \(maximumBytes) bytes)")
        }
        var data = [UInt8](repeating: 0, count: Int(info.st_size))
        guard let filled = data.withUnsafeMutableBytes({ readUpTo(descriptor, into: $0) }) else {
            throw CaptureError("cannot read the console capture \(path): \(String(cString: strerror(errno)))")
        }
        data.removeLast(data.count - filled)
        return try parse(data, path: path)
    }

    static func parse(_ data: [UInt8], path: String) throws -> Recording {
        guard data.starts(with: magic) else { throw CaptureError("\(path) is not a console capture (no RRVMCON1 magic)") }
        var recording = Recording()
        var offset = magic.count
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard data.count - offset >= size else {
                throw CaptureError("\(path) is cut short at byte \(offset): expected a \(size)-byte field")
            }
            var value: T = 0
            for index in 0..<size { value |= T(data[offset + index]) << (8 * index) }
            offset += size
            return value
        }
        while offset < data.count {
            let tag = data[offset]
            let at = offset
            offset += 1
            if recording.end != nil { throw CaptureError("\(path) has a record after its end, at byte \(at)") }
            switch tag {
            case outputTag:
                let g = try integer(UInt64.self)
                let length = Int(try integer(UInt32.self))
                guard data.count - offset >= length else {
                    throw CaptureError("\(path) is cut short at byte \(offset): expected \(length) console bytes")
                }
                recording.batches.append((recording.bytes.count, g))
                recording.bytes += data[offset..<offset + length]
                offset += length
            case endTag:
                recording.end = (try integer(UInt64.self), try integer(UInt64.self), Int32(bitPattern: try integer(UInt32.self)))
            default:
                throw CaptureError("\(path) has an unknown record '\(tag)' at byte \(at)")
            }
        }
        return recording
    }

    public struct CaptureError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
