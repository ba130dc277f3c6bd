/// Length-prefixed framing: each frame is a 4-byte little-endian length followed by that many bytes.
public enum FrameCodec {
    /// Frames above this size are refused: 1 MiB frames must pass, runaway lengths must not allocate.
    public static let maximumFrameSize = 16 << 20
    /// The limit before a peer has been admitted: Hello takes a few hundred bytes, and a stranger must not
    /// make the sequencer hold megabytes for it.
    public static let handshakeFrameLimit = 64 << 10

    /// Appends `payload` as one frame to `buffer`.
    public static func append(_ payload: [UInt8], to buffer: inout [UInt8]) {
        let length = UInt32(payload.count)
        buffer.append(UInt8(truncatingIfNeeded: length))
        buffer.append(UInt8(truncatingIfNeeded: length >> 8))
        buffer.append(UInt8(truncatingIfNeeded: length >> 16))
        buffer.append(UInt8(truncatingIfNeeded: length >> 24))
        buffer.append(contentsOf: payload)
    }

    public static func encode(_ payload: [UInt8]) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(payload.count + 4)
        append(payload, to: &buffer)
        return buffer
    }
}

public enum BusError: Error, CustomStringConvertible, Equatable {
    case oversizedFrame(Int)
    case malformedMessage(String)
    case peerClosed
    case io(String)
    case refused(String)

    public var description: String {
        switch self {
        case .oversizedFrame(let size):
            return "frame of \(size) bytes exceeds the frame size limit (\(FrameCodec.maximumFrameSize) bytes, "
                + "\(FrameCodec.handshakeFrameLimit) before the handshake)"
        case .malformedMessage(let why): return "malformed message: \(why)"
        case .peerClosed: return "peer closed the connection"
        case .io(let why): return why
        case .refused(let why): return "refused: \(why)"
        }
    }
}

/// Reassembles frames from a byte stream that arrives in arbitrary pieces.
public struct FrameDecoder {
    private var buffer: [UInt8] = []
    private var start = 0
    /// A frame announcing more than this is refused as soon as its length arrives.
    public var maximumFrameSize: Int

    public init(maximumFrameSize: Int = FrameCodec.maximumFrameSize) {
        self.maximumFrameSize = maximumFrameSize
    }

    /// Whether every byte fed has been taken as frames (no frame, nor part of one, is held).
    public var isDrained: Bool { start == buffer.count }

    /// Adds bytes read from the stream.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, nil when more bytes are needed; throws on a length over the limit.
    public mutating func next() throws -> [UInt8]? {
        var frame: [UInt8] = []
        return try next(into: &frame) ? frame : nil
    }

    /// Like `next()`, the payload written into `frame` (replacing what it held, its capacity kept: a receiver that
    /// reuses one array allocates nothing per frame); false while no frame is complete.
    public mutating func next(into frame: inout [UInt8]) throws -> Bool {
        let available = buffer.count - start
        guard available >= 4 else { compact(); return false }
        let length = Int(buffer[start]) | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2]) << 16
            | Int(buffer[start + 3]) << 24
        guard length <= maximumFrameSize else { throw BusError.oversizedFrame(length) }
        guard available >= 4 + length else { compact(); return false }
        frame.removeAll(keepingCapacity: true)
        frame.append(contentsOf: buffer[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        return true
    }

    /// Drops consumed bytes once they dominate the buffer, so a long stream does not grow it forever.
    private mutating func compact() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }
}
