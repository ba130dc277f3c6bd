import Foundation
import RRBus
import RRProto
import RRTestSupport
import SwiftProtobuf
import XCTest

/// The hand-written codec of a slice's messages must be SwiftProtobuf's, byte for byte, both ways, and leave to it
/// whatever it does not fully understand.
final class HotMessageCodecTests: XCTestCase {
    func testEncodesEveryHotMessageAsSwiftProtobufDoes() throws {
        var random = SplitMix64(seed: 0x401_C0DE)
        // A connection frames every message into one buffer: each frame is whole, whatever the one before left there,
        // and a frame kept from before stays as it was.
        var buffer: [UInt8] = []
        var kept: (frame: [UInt8], expected: [UInt8]) = ([], [])
        for round in 0..<3000 {
            let envelope = randomEnvelope(&random)
            let expected: [UInt8] = try envelope.serializedBytes()
            let encoded = try XCTUnwrap(HotMessageCodec.encode(envelope), "\(envelope)")
            XCTAssertEqual(encoded, expected, "\(envelope)")
            XCTAssertEqual(HotMessageCodec.framed(envelope), FrameCodec.encode(expected))
            XCTAssertTrue(HotMessageCodec.frame(envelope, into: &buffer))
            XCTAssertEqual(buffer, FrameCodec.encode(expected), "\(envelope)")
            if round % 100 == 0 { kept = (buffer, FrameCodec.encode(expected)) }
            XCTAssertEqual(kept.frame, kept.expected)
            XCTAssertEqual(HotMessageCodec.decode(expected), envelope, "\(envelope)")
        }
    }

    /// Long messages: a nested message whose length takes two or three bytes (the writer moves it on to make room), and a
    /// frame past the writer's buffer on the stack (it moves to the heap). Framed from a header and a body apart, and
    /// decoded into them, they are SwiftProtobuf's bytes too.
    func testLongMessagesAndTheHeaderAndBodyApart() throws {
        let declaration = (0..<40).map { index in
            Rrvm_StableRead.with {
                $0.offset = UInt64(index * 8)
                $0.size = 8
                $0.value = UInt64.max - UInt64(index)
                $0.moreValues = Array(repeating: UInt64(index) << 40, count: 3)
                $0.stride = 8
            }
        }
        var run = Rrvm_Envelope()
        run.g = 1 << 40
        run.to = 3
        run.body = .run(.with { $0.budget = 10_000; $0.stableReads = [.with { $0.device = 5; $0.reads = declaration }] })
        var done = Rrvm_Envelope()
        done.seq = 7
        done.past = true
        done.body = .deviceDone(.with { $0.console = Data(repeating: 0x41, count: 20_000); $0.stableReads = declaration })
        for envelope in [run, done] {
            let expected: [UInt8] = try envelope.serializedBytes()
            XCTAssertGreaterThan(expected.count, 1024)
            var frame: [UInt8] = [1, 2, 3]
            XCTAssertTrue(HotMessageCodec.frame(EnvelopeHeader(envelope), try XCTUnwrap(envelope.body), into: &frame))
            XCTAssertEqual(frame, FrameCodec.encode(expected))
            var header = EnvelopeHeader(g: 99)
            let body = try XCTUnwrap(HotMessageCodec.decode(expected, header: &header))
            XCTAssertEqual(header, EnvelopeHeader(envelope))
            XCTAssertEqual(header.envelope(body), envelope)
        }
    }

    /// The bus decodes every frame of a connection into one envelope: what the one before held must not show through.
    func testDecodingIntoAnEnvelopeReplacesAllItHeld() throws {
        var random = SplitMix64(seed: 0x1_7E05E)
        var reused = Rrvm_Envelope()
        // One the codec left to SwiftProtobuf first: with a field this rrvm does not know.
        var unknown = Rrvm_Envelope()
        unknown.g = 9
        unknown.body = .run(.with { $0.budget = 5 })
        var bytes: [UInt8] = try unknown.serializedBytes()
        bytes += [0xF8, 0x3F, 0x01]  // field 1023, varint 1
        reused = try Rrvm_Envelope(serializedBytes: bytes)
        XCTAssertFalse(reused.unknownFields.data.isEmpty)
        var previous = reused
        for _ in 0..<2000 {
            let envelope = randomEnvelope(&random)
            let kept = reused  // a receiver that kept the one before keeps it as it was
            XCTAssertTrue(HotMessageCodec.decode(try envelope.serializedBytes(), into: &reused), "\(envelope)")
            XCTAssertEqual(reused, envelope)
            XCTAssertEqual(kept, previous)
            previous = envelope
        }
    }

    /// `Connection.onMessage` decodes every frame into one body and header: each frame's, whatever the one before held.
    func testDecodingIntoOneBodyReplacesWhatItHeld() throws {
        var random = SplitMix64(seed: 0xB0D1)
        var header = EnvelopeHeader(g: 1, seq: 2, from: 3, to: 4, past: true)
        var body = Rrvm_Envelope.OneOf_Body.run(.with {
            $0.budget = 7
            $0.declaredValues = [.with { $0.device = 1; $0.value = 9 }]
        })
        var decoded = 0
        var previous = body
        for _ in 0..<2000 {
            let envelope = randomEnvelope(&random)
            let bytes: [UInt8] = try envelope.serializedBytes()
            let kept = body  // a handler that kept the body before keeps it as it was
            guard HotMessageCodec.decode(bytes, header: &header, body: &body) else {
                XCTAssertNil(HotMessageCodec.decode(bytes), "\(envelope)")  // left to SwiftProtobuf either way
                body = kept
                continue
            }
            decoded += 1
            XCTAssertEqual(header.envelope(body), envelope)
            XCTAssertEqual(kept, previous)
            previous = body
        }
        XCTAssertGreaterThan(decoded, 1000)
    }

    func testEdgeValues() throws {
        let edges: [UInt64] = [0, 1, 127, 128, 16_383, 16_384, UInt64(UInt32.max), UInt64(UInt32.max) + 1, .max]
        for value in edges {
            var envelope = Rrvm_Envelope()
            envelope.g = value
            envelope.seq = value
            envelope.from = UInt32(truncatingIfNeeded: value)
            envelope.body = .deviceDone(.with {
                $0.value = value
                $0.exitCode = Int32(truncatingIfNeeded: value)  // -1 for the largest: ten bytes
                $0.console = Data(repeating: 7, count: Int(min(value, 20_000)))
                $0.stableReads = [.with { $0.moreValues = [value, 0, value]; $0.keptByWritesTo = [] }]
            })
            let expected: [UInt8] = try envelope.serializedBytes()
            XCTAssertEqual(HotMessageCodec.encode(envelope), expected, "value \(value)")
            XCTAssertEqual(HotMessageCodec.decode(expected), envelope, "value \(value)")
        }
        // Empty bodies, and a body of only defaults, are written (a oneof's message is present even when empty).
        for body: Rrvm_Envelope.OneOf_Body in [.cut(.init()), .deviceTick(.init()), .run(.init()), .yield(.init())] {
            var envelope = Rrvm_Envelope()
            envelope.body = body
            let expected: [UInt8] = try envelope.serializedBytes()
            XCTAssertEqual(HotMessageCodec.encode(envelope), expected)
            XCTAssertEqual(HotMessageCodec.decode(expected), envelope)
        }
    }

    func testLeavesOtherMessagesAndUnknownFieldsToSwiftProtobuf() throws {
        var hello = Rrvm_Envelope()
        hello.body = .hello(.with { $0.protocolVersion = protocolVersion })
        XCTAssertNil(HotMessageCodec.encode(hello))
        XCTAssertNil(HotMessageCodec.decode(try hello.serializedBytes()))
        XCTAssertNil(HotMessageCodec.decode(try Rrvm_Envelope().serializedBytes()), "an envelope without a body")

        // A field this rrvm does not know (from a newer peer, say) is kept by SwiftProtobuf, so the codec stands back.
        var run = Rrvm_Envelope()
        run.body = .run(.with { $0.budget = 5 })
        var bytes: [UInt8] = try run.serializedBytes()
        bytes[1] += 3                      // the Run's length: room for field 99 (varint 1) inside it
        bytes += [0x98, 0x06, 0x01]
        XCTAssertNil(HotMessageCodec.decode(bytes))
        let withUnknown = try Rrvm_Envelope(serializedBytes: bytes)
        XCTAssertFalse(withUnknown.run.unknownFields.data.isEmpty)
        XCTAssertNil(HotMessageCodec.encode(withUnknown))

        // A stop reason this rrvm does not know.
        var yield = Rrvm_Envelope()
        yield.body = .yield(.with { $0.reason = .UNRECOGNIZED(9) })
        XCTAssertNil(HotMessageCodec.encode(yield))
        XCTAssertNil(HotMessageCodec.decode(try yield.serializedBytes()))
    }

    /// Encodings that protobuf accepts though SwiftProtobuf never writes them: fields out of order or repeated (the last
    /// one counts), repeated numbers one by one instead of packed.
    func testDecodesOtherValidEncodingsAsSwiftProtobufDoes() throws {
        let cases: [[UInt8]] = [
            // g 9, Yield {pc 5, executed 300, executed 2}: out of order and repeated.
            [0x08, 0x09, 0x72, 0x07, 0x30, 0x05, 0x08, 0xac, 0x02, 0x08, 0x02],
            // MmioReply {stable_reads {more_values 1 (one by one), more_values 2 (packed)}}.
            [0x82, 0x01, 0x07, 0x22, 0x05, 0x50, 0x01, 0x52, 0x01, 0x02],
            // DeviceAccess {write, value 2^64 - 1}, g after the body.
            [0x8a, 0x01, 0x0d, 0x18, 0x01, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x08, 0x07],
        ]
        for bytes in cases {
            let expected = try Rrvm_Envelope(serializedBytes: bytes)
            XCTAssertEqual(HotMessageCodec.decode(bytes), expected, "\(bytes)")
        }
    }

    /// Damaged frames: whatever the codec accepts, SwiftProtobuf accepts as the same message; the rest it leaves to
    /// SwiftProtobuf, which rejects it or not as before.
    func testDamagedFramesDecodeAsSwiftProtobufDecodesThem() throws {
        var random = SplitMix64(seed: 0xBAD_F4A3)
        var accepted = 0
        var rejected = 0
        for _ in 0..<20_000 {
            var bytes: [UInt8] = try randomEnvelope(&random).serializedBytes()
            switch random.int(0...2) {
            case 0: bytes.removeSubrange(random.int(0...bytes.count)...)
            case 1:
                for _ in 0..<random.int(1...3) where !bytes.isEmpty {
                    bytes[random.int(0..<bytes.count)] ^= UInt8(1) << UInt8(random.int(0...7))
                }
            default: bytes.insert(contentsOf: random.bytes(count: random.int(1...6)), at: random.int(0...bytes.count))
            }
            let reference = try? Rrvm_Envelope(serializedBytes: bytes)
            if let decoded = HotMessageCodec.decode(bytes) {
                XCTAssertEqual(decoded, reference, "\(bytes)")
                accepted += 1
            } else if reference == nil {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(accepted, 1000)
        XCTAssertGreaterThan(rejected, 1000)
    }

    /// A field added to a hot message in the schema, and not to the codec, would be dropped on the bus: the codec's
    /// list of fields must be the schema's.
    func testCodecKnowsEveryFieldOfItsMessagesInTheSchema() throws {
        let protoPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../proto/rrvm.proto")
        let lines = try String(contentsOf: protoPath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "" }
        for (message, fields) in HotMessageCodec.fields {
            let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("message \(message) {") }, message)
            var schema: [Int] = []
            var depth = 0
            for line in lines[start...] {
                // Fields directly in the message (the Envelope's oneof, one level deeper, is left out).
                if depth == 1, let number = line.split(separator: "=").last.flatMap({ Int($0.filter { $0 != " " && $0 != ";" }) }),
                   line.contains("=") {
                    schema.append(number)
                }
                depth += line.filter { $0 == "{" }.count - line.filter { $0 == "}" }.count
                if depth == 0 { break }
            }
            XCTAssertEqual(schema.sorted(), fields, "\(message): proto/rrvm.proto against HotMessageCodec.fields")
        }
    }

    /// The sequencer takes a device's answer as the one it foretold when `isEmptyApartFromStateHashAndHartChanges`
    /// holds: that check must agree with SwiftProtobuf's equality on every field, a field added to the schema later
    /// included (else a device's different answer would pass unseen). Each field number, set alone in each wire form,
    /// decoded by SwiftProtobuf.
    func testForetoldAnswerCheckCoversEveryField() throws {
        func varint(_ value: Int) -> [UInt8] { value < 0x80 ? [UInt8(value)] : [UInt8(value & 0x7f | 0x80)] + varint(value >> 7) }
        var decoded = 0
        for number in 1...40 {
            // A varint 1, and a length-delimited 08 01 (a valid message, packed varints or bytes).
            for payload in [varint(number << 3) + [1], varint(number << 3 | 2) + [2, 0x08, 0x01]] {
                guard let done = try? Rrvm_DeviceDone(serializedBytes: payload) else { continue }
                decoded += 1
                var rest = done
                rest.stateHash = 0
                rest.hartLines = []
                rest.timerCompares = []
                XCTAssertEqual(done.isEmptyApartFromStateHashAndHartChanges, rest == Rrvm_DeviceDone(), "field \(number), \(payload)")
            }
        }
        XCTAssertGreaterThan(decoded, 40)
    }

    private func randomEnvelope(_ random: inout SplitMix64) -> Rrvm_Envelope {
        func number(_ random: inout SplitMix64) -> UInt64 {
            switch random.int(0...5) {
            case 0: return 0
            case 1: return UInt64(random.int(1...127))
            case 2: return UInt64(random.int(128...100_000))
            case 3: return .max - UInt64(random.int(0...3))
            default: return random.next() >> UInt64(random.int(0...63))
            }
        }
        func small(_ random: inout SplitMix64) -> UInt32 { UInt32(truncatingIfNeeded: number(&random)) }
        func flag(_ random: inout SplitMix64) -> Bool { random.chance(2) }
        func numbers(_ random: inout SplitMix64) -> [UInt64] { (0..<random.int(0...4)).map { _ in number(&random) } }
        func bytes(_ random: inout SplitMix64) -> Data {
            Data(random.bytes(count: random.chance(3) ? 0 : random.int(1...(random.chance(10) ? 300 : 8))))
        }
        func reads(_ random: inout SplitMix64) -> [Rrvm_StableRead] {
            (0..<random.int(0...(random.chance(8) ? 12 : 3))).map { _ in
                .with {
                    $0.offset = number(&random)
                    $0.size = small(&random)
                    $0.value = number(&random)
                    $0.keptByWritesTo = numbers(&random)
                    $0.outputWritesTo = numbers(&random)
                    $0.setByWriteMask = number(&random)
                    $0.lineMipBit = small(&random)
                    $0.lineHart = small(&random)
                    $0.lineIsTimerCompare = flag(&random)
                    $0.moreValues = numbers(&random)
                    $0.stride = number(&random)
                }
            }
        }
        var envelope = Rrvm_Envelope()
        envelope.g = number(&random)
        envelope.seq = number(&random)
        envelope.from = small(&random)
        envelope.to = small(&random)
        envelope.past = flag(&random)
        switch random.int(0...9) {
        case 0:
            envelope.body = .run(.with {
                $0.budget = number(&random)
                $0.interruptLines = number(&random)
                $0.spinHintsYield = flag(&random)
                $0.stableReads = (0..<random.int(0...3)).map { _ in
                    .with { $0.device = small(&random); $0.reads = reads(&random) }
                }
                $0.sliceLimit = number(&random)
                $0.checkAt = number(&random)
                $0.checkInterval = number(&random)
                $0.declaredValues = (0..<random.int(0...3)).map { _ in
                    .with { $0.device = small(&random); $0.entry = small(&random); $0.index = small(&random); $0.value = number(&random) }
                }
            })
        case 1:
            envelope.body = .yield(.with {
                $0.executed = number(&random)
                $0.reason = [.stopBudget, .stopWfi, .stopBreakpoint, .stopSpinHint][random.int(0...3)]
                $0.timerDeadline = number(&random)
                $0.wakeMask = number(&random)
                $0.stateHash = number(&random)
                $0.pc = number(&random)
            })
        case 2:
            envelope.body = .mmioRequest(.with {
                $0.address = number(&random)
                $0.size = small(&random)
                $0.write = flag(&random)
                $0.value = number(&random)
                $0.executed = number(&random)
                $0.posted = flag(&random)
                $0.answered = flag(&random)
                $0.answeredReads = number(&random)
                $0.output = bytes(&random)
                $0.outputAddress = number(&random)
            })
        case 3:
            envelope.body = .mmioReply(.with {
                $0.value = number(&random)
                $0.fault = flag(&random)
                $0.interruptLines = number(&random)
                $0.stableReads = reads(&random)
                $0.sliceLeft = number(&random)
            })
        case 4:
            envelope.body = .deviceAccess(.with {
                $0.offset = number(&random)
                $0.size = small(&random)
                $0.write = flag(&random)
                $0.value = number(&random)
                $0.cached = flag(&random)
                $0.reads = number(&random)
                $0.output = bytes(&random)
                $0.outputOffset = number(&random)
                $0.foretold = flag(&random)
            })
        case 5:
            envelope.body = .deviceDone(.with {
                $0.value = number(&random)
                $0.fault = flag(&random)
                $0.sourceLevels = (0..<random.int(0...3)).map { _ in .with { $0.source = small(&random); $0.level = flag(&random) } }
                $0.hartLines = (0..<random.int(0...3)).map { _ in
                    .with { $0.hart = small(&random); $0.mipBit = small(&random); $0.level = flag(&random) }
                }
                $0.timerCompares = (0..<random.int(0...2)).map { _ in
                    .with { $0.hart = small(&random); $0.mtimecmp = number(&random) }
                }
                $0.wakeAt = number(&random)
                $0.console = bytes(&random)
                $0.exit = flag(&random)
                $0.exitCode = Int32(truncatingIfNeeded: number(&random))
                $0.reset = flag(&random)
                $0.stateHash = number(&random)
                $0.wantsWake = flag(&random)
                $0.stableReads = reads(&random)
                $0.foretoldAnswers = number(&random)
            })
        case 6: envelope.body = .hartCheck(.with { $0.executed = number(&random); $0.stateHash = number(&random) })
        case 7: envelope.body = .sourceLevel(.with { $0.source = small(&random); $0.level = flag(&random) })
        case 8: envelope.body = .cut(.init())
        default: envelope.body = .deviceTick(.init())
        }
        return envelope
    }
}
