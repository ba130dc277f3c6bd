#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import SwiftProtobuf

/// A hand-written protobuf codec for the Envelopes a slice exchanges (Run, Yield, the MMIO request and reply, a
/// device's operation and answer, a hart's check, Cut, a device's tick, a source level): SwiftProtobuf's generic
/// visitors cost several microseconds for a Run that carries a declaration, and every slice sends a few of them.
/// It reads and writes exactly the protobuf wire format of proto/rrvm.proto, so the bus, the log and every other
/// tool see the same bytes: `encode` writes what SwiftProtobuf's `serializedBytes()` writes (fields in number
/// order, defaults left out, repeated scalars packed), byte for byte.
///
/// Anything else goes through SwiftProtobuf: `encode` returns nil for the other bodies and for a message that
/// holds unknown fields; `decode` returns nil for a frame it does not fully understand (another body, an unknown
/// field, a wire type other than the schema's, a body given twice, a truncated or malformed field), and
/// SwiftProtobuf then decodes the frame, or rejects it, as it always did.
///
/// A field added to one of these messages in proto/rrvm.proto must be added here too (`fields` lists what the codec
/// reads and writes; a test compares it with the schema).
public enum HotMessageCodec {
    /// The fields the codec reads and writes, by message (the Envelope's outside its body; its bodies are in
    /// `WireWriter.body` and `WireReader.body`).
    public static let fields: [String: [Int]] = [
        "Envelope": [1, 2, 3, 4, 5],
        "Run": [1, 2, 3, 4, 10, 11, 12, 13],
        "DeclaredValue": [1, 2, 3, 4],
        "DeviceStableReads": [1, 2],
        "StableRead": Array(1...11),
        "Yield": Array(1...6),
        "MmioRequest": Array(1...10),
        "MmioReply": Array(1...5),
        "DeviceAccess": Array(1...9),
        "SourceLevel": [1, 2],
        "DeviceTick": [],
        "DeviceDone": Array(1...15),
        "HartLine": [1, 2, 3],
        "TimerCompare": [1, 2],
        "Cut": [],
        "HartCheck": [1, 2],
    ]

    /// `envelope` framed for the bus (a 4-byte little-endian length, then the message), or nil if SwiftProtobuf
    /// must encode it.
    public static func framed(_ envelope: Rrvm_Envelope) -> [UInt8]? {
        var frame: [UInt8] = []
        frame.reserveCapacity(64)
        return self.frame(envelope, into: &frame) ? frame : nil
    }

    /// Writes `envelope` framed (see `framed`) into `frame`, replacing what it held but keeping its capacity, so that
    /// a sender that reuses one buffer allocates nothing per message; false if SwiftProtobuf must encode it (`frame`
    /// then holds nothing meaningful).
    public static func frame(_ envelope: Rrvm_Envelope, into frame: inout [UInt8]) -> Bool {
        guard envelope.unknownFields.data.isEmpty, let body = envelope.body else { return false }
        return self.frame(EnvelopeHeader(envelope), body, into: &frame)
    }

    /// As `frame(_:into:)` for the envelope of `header` and `body`, which a sender holds apart: no Envelope is built
    /// (each move of a body in and out of one copies it through its value witnesses, a few hundred instructions).
    public static func frame(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body, into frame: inout [UInt8]) -> Bool {
        // Written into a buffer on the stack (a longer message moves to the heap), then copied into `frame` at once.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: WireWriter.stackCapacity) { scratch in
            var writer = WireWriter(scratch)
            defer { writer.release() }
            writer.reserveLength()
            writer.uint(1, header.g)
            writer.uint(2, header.seq)
            writer.uint(3, UInt64(header.from))
            writer.uint(4, UInt64(header.to))
            writer.bool(5, header.past)
            guard writer.body(body) else { return false }
            writer.writeLength()
            frame.removeAll(keepingCapacity: true)
            frame.append(contentsOf: writer.written)
            return true
        }
    }

    /// `envelope`'s protobuf encoding, or nil if SwiftProtobuf must encode it.
    public static func encode(_ envelope: Rrvm_Envelope) -> [UInt8]? {
        framed(envelope).map { Array($0.dropFirst(4)) }
    }

    /// The Envelope encoded in `bytes`, or nil if SwiftProtobuf must decode (or reject) them.
    public static func decode(_ bytes: [UInt8]) -> Rrvm_Envelope? {
        var envelope = Rrvm_Envelope()
        return decode(bytes, into: &envelope) ? envelope : nil
    }

    /// Decodes `bytes` into `envelope`, replacing all it held (as a fresh decode would), and returns true; false if
    /// SwiftProtobuf must decode (or reject) them, `envelope` then left in an unspecified state. A receiver that
    /// decodes every frame into the same envelope, and keeps none of them, allocates no envelope storage per frame
    /// (SwiftProtobuf's copy-on-write storage is reused while nothing else holds it).
    public static func decode(_ bytes: [UInt8], into envelope: inout Rrvm_Envelope) -> Bool {
        var header = EnvelopeHeader()
        guard let body = decode(bytes, header: &header) else { return false }
        header.write(to: &envelope)
        if !envelope.unknownFields.data.isEmpty { envelope.unknownFields = UnknownStorage() }
        envelope.body = body
        return true
    }

    /// The body of the Envelope encoded in `bytes`, its other fields in `header`; nil if SwiftProtobuf must decode
    /// (or reject) them. No Envelope is built: a receiver that needs only the body and the header saves the body's
    /// copies in and out of one.
    public static func decode(_ bytes: [UInt8], header: inout EnvelopeHeader) -> Rrvm_Envelope.OneOf_Body? {
        var body = Rrvm_Envelope.OneOf_Body.cut(Rrvm_Cut())
        return decode(bytes, header: &header, body: &body) ? body : nil
    }

    /// As `decode(_:header:)`, into `body` (left unspecified when it returns false). A body is a large value (the
    /// largest of its messages, 133 bytes): each return of one from a function, or wrapping in an Optional, copies it
    /// whole, which was half of decoding a slice's Run; a receiver that decodes every frame into the same body, and
    /// hands it on by reference, copies it once.
    public static func decode(_ bytes: [UInt8], header: inout EnvelopeHeader, body: inout Rrvm_Envelope.OneOf_Body) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var reader = WireReader(buffer)
            do {
                try reader.envelope(header: &header, body: &body)
                return true
            } catch {
                return false
            }
        }
    }
}

/// An Envelope's fields outside its body (see proto/rrvm.proto), for the path that keeps a message's body apart.
public struct EnvelopeHeader: Equatable, Sendable {
    public var g: UInt64 = 0
    public var seq: UInt64 = 0
    public var from: UInt32 = 0
    public var to: UInt32 = 0
    public var past = false

    public init(g: UInt64 = 0, seq: UInt64 = 0, from: UInt32 = 0, to: UInt32 = 0, past: Bool = false) {
        (self.g, self.seq, self.from, self.to, self.past) = (g, seq, from, to, past)
    }

    public init(_ envelope: Rrvm_Envelope) {
        (g, seq, from, to, past) = (envelope.g, envelope.seq, envelope.from, envelope.to, envelope.past)
    }

    /// Sets `envelope`'s fields outside its body to these.
    public func write(to envelope: inout Rrvm_Envelope) {
        envelope.g = g
        envelope.seq = seq
        envelope.from = from
        envelope.to = to
        envelope.past = past
    }

    /// The Envelope of this header and `body`.
    public func envelope(_ body: Rrvm_Envelope.OneOf_Body) -> Rrvm_Envelope {
        var envelope = Rrvm_Envelope()
        write(to: &envelope)
        envelope.body = body
        return envelope
    }
}

extension Rrvm_DeviceDone {
    /// Whether every field but `state_hash`, `hart_lines` and `timer_compares` is at its default (a foretold write's
    /// answer, `Sequencer.ForetoldWrite`), field by field: a copy compared with an empty answer cost about 850
    /// instructions per foretold write. A field added to DeviceDone must be added here too (as to the codec, whose
    /// `fields` a test holds to the schema).
    public var isEmptyApartFromStateHashAndHartChanges: Bool {
        value == 0 && !fault && sourceLevels.isEmpty && wakeAt == 0 && console.isEmpty && !exit && exitCode == 0
            && !reset && !wantsWake && stableReads.isEmpty && foretoldAnswers == 0 && !hasInputBacklog
            && unknownFields.data.isEmpty
    }
}

// MARK: - Writing

/// Protobuf's binary encoding, appended to a buffer (proto3: a field at its default value is left out). The buffer is
/// raw memory, not an array: an array checks its uniqueness and capacity on every byte appended, most of a small
/// message's cost. It starts as the caller's (`init`) and moves to the heap when a message outgrows it; `release`
/// frees the heap's.
struct WireWriter {
    static let stackCapacity = 512
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0
    private var onHeap = false

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    mutating func release() {
        if onHeap { base.deallocate() }
        onHeap = false
        capacity = 0
    }

    /// The bytes written so far.
    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    /// Makes room for `more` bytes after those written.
    @inline(__always)
    private mutating func reserve(_ more: Int) {
        if capacity &- count < more { grow(more) }
    }

    private mutating func grow(_ more: Int) {
        let newCapacity = max(capacity * 2, count + more)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        if onHeap { base.deallocate() }
        (base, capacity, onHeap) = (newBase, newCapacity, true)
    }

    @inline(__always)
    private mutating func byte(_ value: UInt8) {
        base[count] = value
        count &+= 1
    }

    /// The frame's length prefix: four bytes kept here (the first written), filled in by `writeLength`.
    mutating func reserveLength() {
        reserve(4)
        count += 4
    }

    /// Fills in the frame's length prefix (little-endian): what follows it.
    mutating func writeLength() {
        let length = UInt32(count - 4)
        for index in 0..<4 { base[index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        reserve(10)
        var value = value
        while value >= 0x80 {
            byte(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        byte(UInt8(value))
    }

    @inline(__always)
    mutating func tag(_ field: Int, _ wireType: UInt8) { varint(UInt64(field) << 3 | UInt64(wireType)) }

    @inline(__always)
    mutating func uint(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(value)
    }

    @inline(__always)
    mutating func bool(_ field: Int, _ value: Bool) {
        guard value else { return }
        tag(field, 0)
        varint(1)
    }

    /// An int32 (negative values take ten bytes, sign-extended, as protobuf says).
    mutating func int(_ field: Int, _ value: Int32) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func data(_ field: Int, _ value: Data) {
        guard !value.isEmpty else { return }
        tag(field, 2)
        varint(UInt64(value.count))
        reserve(value.count)
        value.copyBytes(to: base + count, count: value.count)
        count += value.count
    }

    mutating func packed(_ field: Int, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        tag(field, 2)
        var length = 0
        for value in values { length += Self.varintSize(value) }
        varint(UInt64(length))
        for value in values { varint(value) }
    }

    /// A nested message, written by `content` (which returns false to give up: unknown fields). Its length goes
    /// before it: one byte is kept for it, and the message moved on to make room when it is longer than 127 bytes.
    @inline(__always)
    mutating func message(_ field: Int, _ content: (inout WireWriter) -> Bool) -> Bool {
        tag(field, 2)
        let lengthAt = count
        reserve(1)
        count += 1
        guard content(&self) else { return false }
        let length = count - lengthAt - 1
        if length < 0x80 {
            base[lengthAt] = UInt8(length)
        } else {
            let extra = Self.varintSize(UInt64(length)) - 1
            reserve(extra)
            memmove(base + lengthAt + 1 + extra, base + lengthAt + 1, length)
            let end = count + extra
            count = lengthAt
            varint(UInt64(length))
            count = end
        }
        return true
    }

    static func varintSize(_ value: UInt64) -> Int { value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7 }

    // The messages, each field in number order as SwiftProtobuf writes them.

    /// The envelope's body (field 10 and on), or false if SwiftProtobuf must encode it.
    mutating func body(_ body: Rrvm_Envelope.OneOf_Body) -> Bool {
        switch body {
        case .run(let run): return message(13) { $0.run(run) }
        case .yield(let yield): return message(14) { $0.yield(yield) }
        case .mmioRequest(let request): return message(15) { $0.mmioRequest(request) }
        case .mmioReply(let reply): return message(16) { $0.mmioReply(reply) }
        case .deviceAccess(let access): return message(17) { $0.deviceAccess(access) }
        case .sourceLevel(let level): return message(18) { $0.sourceLevel(level) }
        case .deviceTick(let tick): return message(19) { _ in tick.unknownFields.data.isEmpty }
        case .deviceDone(let done): return message(21) { $0.deviceDone(done) }
        case .cut(let cut): return message(42) { _ in cut.unknownFields.data.isEmpty }
        case .hartCheck(let check): return message(43) { $0.hartCheck(check) }
        default: return false
        }
    }

    mutating func run(_ run: Rrvm_Run) -> Bool {
        uint(1, run.budget)
        uint(2, run.interruptLines)
        bool(3, run.spinHintsYield)
        guard run.stableReads.withUnsafeBufferPointer({ entries in
            // Each entry read in place: a loop over the array, or its subscript, takes a copy (its arrays retained).
            entries.indices.allSatisfy { index in message(4) { $0.deviceStableReads(entries[index]) } }
        }) else { return false }
        uint(10, run.sliceLimit)
        uint(11, run.checkAt)
        uint(12, run.checkInterval)
        for value in run.declaredValues {
            guard message(13, { writer in
                writer.uint(1, UInt64(value.device))
                writer.uint(2, UInt64(value.entry))
                writer.uint(3, UInt64(value.index))
                writer.uint(4, value.value)
                return value.unknownFields.data.isEmpty
            }) else { return false }
        }
        return run.unknownFields.data.isEmpty
    }

    mutating func deviceStableReads(_ entry: Rrvm_DeviceStableReads) -> Bool {
        uint(1, UInt64(entry.device))
        return stableReads(2, entry.reads) && entry.unknownFields.data.isEmpty
    }

    mutating func stableReads(_ field: Int, _ reads: [Rrvm_StableRead]) -> Bool {
        reads.withUnsafeBufferPointer { reads in
            // Read in place (see `run`).
            reads.indices.allSatisfy { index in message(field) { $0.stableRead(reads[index]) } }
        }
    }

    mutating func stableRead(_ read: Rrvm_StableRead) -> Bool {
        uint(1, read.offset)
        uint(2, UInt64(read.size))
        uint(3, read.value)
        packed(4, read.keptByWritesTo)
        packed(5, read.outputWritesTo)
        uint(6, read.setByWriteMask)
        uint(7, UInt64(read.lineMipBit))
        uint(8, UInt64(read.lineHart))
        bool(9, read.lineIsTimerCompare)
        packed(10, read.moreValues)
        uint(11, read.stride)
        return read.unknownFields.data.isEmpty
    }

    mutating func yield(_ yield: Rrvm_Yield) -> Bool {
        if case .UNRECOGNIZED = yield.reason { return false }
        uint(1, yield.executed)
        uint(2, UInt64(yield.reason.rawValue))
        uint(3, yield.timerDeadline)
        uint(4, yield.wakeMask)
        uint(5, yield.stateHash)
        uint(6, yield.pc)
        return yield.unknownFields.data.isEmpty
    }

    mutating func mmioRequest(_ request: Rrvm_MmioRequest) -> Bool {
        uint(1, request.address)
        uint(2, UInt64(request.size))
        bool(3, request.write)
        uint(4, request.value)
        uint(5, request.executed)
        bool(6, request.posted)
        bool(7, request.answered)
        uint(8, request.answeredReads)
        data(9, request.output)
        uint(10, request.outputAddress)
        return request.unknownFields.data.isEmpty
    }

    mutating func mmioReply(_ reply: Rrvm_MmioReply) -> Bool {
        uint(1, reply.value)
        bool(2, reply.fault)
        uint(3, reply.interruptLines)
        guard stableReads(4, reply.stableReads) else { return false }
        uint(5, reply.sliceLeft)
        return reply.unknownFields.data.isEmpty
    }

    mutating func deviceAccess(_ access: Rrvm_DeviceAccess) -> Bool {
        uint(1, access.offset)
        uint(2, UInt64(access.size))
        bool(3, access.write)
        uint(4, access.value)
        bool(5, access.cached)
        uint(6, access.reads)
        data(7, access.output)
        uint(8, access.outputOffset)
        bool(9, access.foretold)
        return access.unknownFields.data.isEmpty
    }

    mutating func sourceLevel(_ level: Rrvm_SourceLevel) -> Bool {
        uint(1, UInt64(level.source))
        bool(2, level.level)
        return level.unknownFields.data.isEmpty
    }

    mutating func deviceDone(_ done: Rrvm_DeviceDone) -> Bool {
        uint(1, done.value)
        bool(2, done.fault)
        for level in done.sourceLevels {
            guard message(3, { $0.sourceLevel(level) }) else { return false }
        }
        for line in done.hartLines {
            guard message(4, { writer in
                writer.uint(1, UInt64(line.hart))
                writer.uint(2, UInt64(line.mipBit))
                writer.bool(3, line.level)
                return line.unknownFields.data.isEmpty
            }) else { return false }
        }
        for compare in done.timerCompares {
            guard message(5, { writer in
                writer.uint(1, UInt64(compare.hart))
                writer.uint(2, compare.mtimecmp)
                return compare.unknownFields.data.isEmpty
            }) else { return false }
        }
        uint(6, done.wakeAt)
        data(7, done.console)
        bool(8, done.exit)
        int(9, done.exitCode)
        bool(10, done.reset)
        uint(11, done.stateHash)
        bool(12, done.wantsWake)
        guard stableReads(13, done.stableReads) else { return false }
        uint(14, done.foretoldAnswers)
        if done.hasInputBacklog {  // optional: present even at 0
            tag(15, 0)
            varint(UInt64(done.inputBacklog))
        }
        return done.unknownFields.data.isEmpty
    }

    mutating func hartCheck(_ check: Rrvm_HartCheck) -> Bool {
        uint(1, check.executed)
        uint(2, check.stateHash)
        return check.unknownFields.data.isEmpty
    }
}

// MARK: - Reading

/// Thrown when the reader meets what it leaves to SwiftProtobuf (see `HotMessageCodec`).
struct NotHot: Error {}

/// Reads protobuf's binary encoding from a buffer, field by field. Every field is checked against the schema's wire
/// type; anything else throws `NotHot`.
struct WireReader {
    private let buffer: UnsafeRawBufferPointer
    private var position: Int
    private let end: Int

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        position = 0
        end = buffer.count
    }

    private init(_ buffer: UnsafeRawBufferPointer, from start: Int, to end: Int) {
        self.buffer = buffer
        position = start
        self.end = end
    }

    /// A varint of at most ten bytes whose tenth holds only bit 63 (anything longer or larger is malformed).
    @inline(__always)
    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = buffer[position]
            position += 1
            if shift == 63 && byte > 1 { throw NotHot() }
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
            if shift > 63 { throw NotHot() }
        }
        throw NotHot()
    }

    /// The next field's number and wire type, nil at the end of the message.
    @inline(__always)
    mutating func field() throws -> (number: Int, wireType: UInt64)? {
        guard position < end else { return nil }
        let key = try varint()
        guard key <= UInt64(UInt32.max), key >> 3 != 0 else { throw NotHot() }
        return (Int(key >> 3), key & 7)
    }

    /// A length-delimited field's extent, checked against the message's end.
    private mutating func extent() throws -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw NotHot() }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// A nested message, read by `read` from a reader over its bytes.
    mutating func message<Message>(_ read: (inout WireReader) throws -> Message) throws -> Message {
        let range = try extent()
        var nested = WireReader(buffer, from: range.lowerBound, to: range.upperBound)
        return try read(&nested)
    }

    /// A repeated uint64: packed (wire type 2) or one value (wire type 0), both of which protobuf accepts.
    mutating func appendUInt64s(to values: inout [UInt64], wireType: UInt64) throws {
        if wireType == 0 { return values.append(try varint()) }
        guard wireType == 2 else { throw NotHot() }
        let range = try extent()
        // One value ends at each byte without the continuation bit.
        values.reserveCapacity(values.count + buffer[range].reduce(0) { $0 + ($1 < 0x80 ? 1 : 0) })
        var packed = WireReader(buffer, from: range.lowerBound, to: range.upperBound)
        while packed.position < packed.end { values.append(try packed.varint()) }
    }

    /// A scalar field's varint (wire type 0).
    @inline(__always)
    mutating func scalar(_ wireType: UInt64) throws -> UInt64 {
        guard wireType == 0 else { throw NotHot() }
        return try varint()
    }

    @inline(__always)
    mutating func uint32(_ wireType: UInt64) throws -> UInt32 { UInt32(truncatingIfNeeded: try scalar(wireType)) }

    @inline(__always)
    mutating func bool(_ wireType: UInt64) throws -> Bool { try scalar(wireType) != 0 }

    @inline(__always)
    mutating func nested<Message>(_ wireType: UInt64, _ read: (inout WireReader) throws -> Message) throws -> Message {
        guard wireType == 2 else { throw NotHot() }
        return try message(read)
    }

    // The messages.

    /// The message's body into `body`; its other fields go to `header` (each not in the message at its default).
    @inline(__always)
    mutating func envelope(header: inout EnvelopeHeader, body: inout Rrvm_Envelope.OneOf_Body) throws {
        header = EnvelopeHeader()
        while let (number, wireType) = try field() {
            if try headerField(number, wireType, &header) { continue }
            try self.body(number, wireType, into: &body)
            while let (number, wireType) = try field() {
                // A body given twice is merged or replaced by SwiftProtobuf: left to it.
                guard try headerField(number, wireType, &header) else { throw NotHot() }
            }
            return
        }
        throw NotHot()
    }

    /// Reads field `number` into `header` if it is one of the Envelope's outside its body.
    @inline(__always)
    private mutating func headerField(_ number: Int, _ wireType: UInt64, _ header: inout EnvelopeHeader) throws -> Bool {
        switch number {
        case 1: header.g = try scalar(wireType)
        case 2: header.seq = try scalar(wireType)
        case 3: header.from = try uint32(wireType)
        case 4: header.to = try uint32(wireType)
        case 5: header.past = try bool(wireType)
        default: return false
        }
        return true
    }

    /// The body in field `number`, into `body` (each case stored where it stays, not returned through copies).
    @inline(__always)
    mutating func body(_ number: Int, _ wireType: UInt64, into body: inout Rrvm_Envelope.OneOf_Body) throws {
        switch number {
        case 13: body = .run(try nested(wireType) { try $0.run() })
        case 14: body = .yield(try nested(wireType) { try $0.yield() })
        case 15: body = .mmioRequest(try nested(wireType) { try $0.mmioRequest() })
        case 16: body = .mmioReply(try nested(wireType) { try $0.mmioReply() })
        case 17: body = .deviceAccess(try nested(wireType) { try $0.deviceAccess() })
        case 18: body = .sourceLevel(try nested(wireType) { try $0.sourceLevel() })
        case 19: body = .deviceTick(try nested(wireType) { try $0.empty(Rrvm_DeviceTick()) })
        case 21: body = .deviceDone(try nested(wireType) { try $0.deviceDone() })
        case 42: body = .cut(try nested(wireType) { try $0.empty(Rrvm_Cut()) })
        case 43: body = .hartCheck(try nested(wireType) { try $0.hartCheck() })
        default: throw NotHot()
        }
    }

    /// A message without fields (any field in it is unknown).
    mutating func empty<Message>(_ message: Message) throws -> Message {
        guard try field() == nil else { throw NotHot() }
        return message
    }

    mutating func run() throws -> Rrvm_Run {
        var run = Rrvm_Run()
        while let (number, wireType) = try field() {
            switch number {
            case 1: run.budget = try scalar(wireType)
            case 2: run.interruptLines = try scalar(wireType)
            case 3: run.spinHintsYield = try bool(wireType)
            case 4: run.stableReads.append(try nested(wireType) { try $0.deviceStableReads() })
            case 10: run.sliceLimit = try scalar(wireType)
            case 11: run.checkAt = try scalar(wireType)
            case 12: run.checkInterval = try scalar(wireType)
            case 13:
                // Room for a few at once: each growth of an array of messages costs hundreds of instructions.
                if run.declaredValues.isEmpty { run.declaredValues.reserveCapacity(8) }
                run.declaredValues.append(try nested(wireType) { try $0.declaredValue() })
            default: throw NotHot()
            }
        }
        return run
    }

    mutating func declaredValue() throws -> Rrvm_DeclaredValue {
        var value = Rrvm_DeclaredValue()
        while let (number, wireType) = try field() {
            switch number {
            case 1: value.device = try uint32(wireType)
            case 2: value.entry = try uint32(wireType)
            case 3: value.index = try uint32(wireType)
            case 4: value.value = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return value
    }

    mutating func deviceStableReads() throws -> Rrvm_DeviceStableReads {
        var entry = Rrvm_DeviceStableReads()
        while let (number, wireType) = try field() {
            switch number {
            case 1: entry.device = try uint32(wireType)
            case 2: entry.reads.append(try nested(wireType) { try $0.stableRead() })
            default: throw NotHot()
            }
        }
        return entry
    }

    mutating func stableRead() throws -> Rrvm_StableRead {
        var read = Rrvm_StableRead()
        while let (number, wireType) = try field() {
            switch number {
            case 1: read.offset = try scalar(wireType)
            case 2: read.size = try uint32(wireType)
            case 3: read.value = try scalar(wireType)
            case 4: try appendUInt64s(to: &read.keptByWritesTo, wireType: wireType)
            case 5: try appendUInt64s(to: &read.outputWritesTo, wireType: wireType)
            case 6: read.setByWriteMask = try scalar(wireType)
            case 7: read.lineMipBit = try uint32(wireType)
            case 8: read.lineHart = try uint32(wireType)
            case 9: read.lineIsTimerCompare = try bool(wireType)
            case 10: try appendUInt64s(to: &read.moreValues, wireType: wireType)
            case 11: read.stride = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return read
    }

    mutating func yield() throws -> Rrvm_Yield {
        var yield = Rrvm_Yield()
        while let (number, wireType) = try field() {
            switch number {
            case 1: yield.executed = try scalar(wireType)
            case 2:
                // A reason this rrvm does not know is kept by SwiftProtobuf as such: left to it.
                let raw = try scalar(wireType)
                guard raw <= UInt64(Int32.max), let reason = Rrvm_StopReason(rawValue: Int(raw)) else { throw NotHot() }
                if case .UNRECOGNIZED = reason { throw NotHot() }
                yield.reason = reason
            case 3: yield.timerDeadline = try scalar(wireType)
            case 4: yield.wakeMask = try scalar(wireType)
            case 5: yield.stateHash = try scalar(wireType)
            case 6: yield.pc = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return yield
    }

    mutating func mmioRequest() throws -> Rrvm_MmioRequest {
        var request = Rrvm_MmioRequest()
        while let (number, wireType) = try field() {
            switch number {
            case 1: request.address = try scalar(wireType)
            case 2: request.size = try uint32(wireType)
            case 3: request.write = try bool(wireType)
            case 4: request.value = try scalar(wireType)
            case 5: request.executed = try scalar(wireType)
            case 6: request.posted = try bool(wireType)
            case 7: request.answered = try bool(wireType)
            case 8: request.answeredReads = try scalar(wireType)
            case 9: request.output = try nested(wireType) { try $0.rest() }
            case 10: request.outputAddress = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return request
    }

    mutating func mmioReply() throws -> Rrvm_MmioReply {
        var reply = Rrvm_MmioReply()
        while let (number, wireType) = try field() {
            switch number {
            case 1: reply.value = try scalar(wireType)
            case 2: reply.fault = try bool(wireType)
            case 3: reply.interruptLines = try scalar(wireType)
            case 4: reply.stableReads.append(try nested(wireType) { try $0.stableRead() })
            case 5: reply.sliceLeft = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return reply
    }

    mutating func deviceAccess() throws -> Rrvm_DeviceAccess {
        var access = Rrvm_DeviceAccess()
        while let (number, wireType) = try field() {
            switch number {
            case 1: access.offset = try scalar(wireType)
            case 2: access.size = try uint32(wireType)
            case 3: access.write = try bool(wireType)
            case 4: access.value = try scalar(wireType)
            case 5: access.cached = try bool(wireType)
            case 6: access.reads = try scalar(wireType)
            case 7: access.output = try nested(wireType) { try $0.rest() }
            case 8: access.outputOffset = try scalar(wireType)
            case 9: access.foretold = try bool(wireType)
            default: throw NotHot()
            }
        }
        return access
    }

    mutating func sourceLevel() throws -> Rrvm_SourceLevel {
        var level = Rrvm_SourceLevel()
        while let (number, wireType) = try field() {
            switch number {
            case 1: level.source = try uint32(wireType)
            case 2: level.level = try bool(wireType)
            default: throw NotHot()
            }
        }
        return level
    }

    mutating func hartLine() throws -> Rrvm_HartLine {
        var line = Rrvm_HartLine()
        while let (number, wireType) = try field() {
            switch number {
            case 1: line.hart = try uint32(wireType)
            case 2: line.mipBit = try uint32(wireType)
            case 3: line.level = try bool(wireType)
            default: throw NotHot()
            }
        }
        return line
    }

    mutating func timerCompare() throws -> Rrvm_TimerCompare {
        var compare = Rrvm_TimerCompare()
        while let (number, wireType) = try field() {
            switch number {
            case 1: compare.hart = try uint32(wireType)
            case 2: compare.mtimecmp = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return compare
    }

    mutating func deviceDone() throws -> Rrvm_DeviceDone {
        var done = Rrvm_DeviceDone()
        while let (number, wireType) = try field() {
            switch number {
            case 1: done.value = try scalar(wireType)
            case 2: done.fault = try bool(wireType)
            case 3: done.sourceLevels.append(try nested(wireType) { try $0.sourceLevel() })
            case 4: done.hartLines.append(try nested(wireType) { try $0.hartLine() })
            case 5: done.timerCompares.append(try nested(wireType) { try $0.timerCompare() })
            case 6: done.wakeAt = try scalar(wireType)
            case 7: done.console = try nested(wireType) { try $0.rest() }
            case 8: done.exit = try bool(wireType)
            case 9: done.exitCode = Int32(truncatingIfNeeded: try scalar(wireType))
            case 10: done.reset = try bool(wireType)
            case 11: done.stateHash = try scalar(wireType)
            case 12: done.wantsWake = try bool(wireType)
            case 13: done.stableReads.append(try nested(wireType) { try $0.stableRead() })
            case 14: done.foretoldAnswers = try scalar(wireType)
            case 15: done.inputBacklog = try uint32(wireType)
            default: throw NotHot()
            }
        }
        return done
    }

    mutating func hartCheck() throws -> Rrvm_HartCheck {
        var check = Rrvm_HartCheck()
        while let (number, wireType) = try field() {
            switch number {
            case 1: check.executed = try scalar(wireType)
            case 2: check.stateHash = try scalar(wireType)
            default: throw NotHot()
            }
        }
        return check
    }

    /// The rest of the reader's bytes (a bytes field's content, through `nested`).
    mutating func rest() throws -> Data {
        defer { position = end }
        return Data(UnsafeRawBufferPointer(rebasing: buffer[position..<end]))
    }
}
