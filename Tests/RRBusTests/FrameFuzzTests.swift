import Foundation
import RRBus
import RRProto
import RRTestSupport
import XCTest

/// The attack families that hostile peers use on framing, seeded and bounded in time: truncations, bit
/// flips, runs of zero bytes, huge and just-too-large lengths, garbage. First against the frame decoder
/// alone, then against a real sequencer's handshake. `RRVM_FUZZ_SEED` replays one seed; the seed is
/// printed with every failure.
final class FrameFuzzTests: XCTestCase {
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["RRVM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_F4A3
    }

    func testFrameDecoderSurvivesEveryAttackFamily() throws {
        var random = SplitMix64(seed: Self.seed)
        let deadline = Date().addingTimeInterval(2)
        var cases = 0
        var refused = 0
        while Date() < deadline || cases < 500 {
            cases += 1
            let limit = random.chance(4) ? FrameCodec.handshakeFrameLimit : FrameCodec.maximumFrameSize
            let payloads = (0..<random.int(1...8)).map { _ in
                random.bytes(count: random.chance(20) ? random.int(60_000...70_000) : random.int(0...300))
            }
            var stream: [UInt8] = []
            var starts: [Int] = []
            for payload in payloads {
                starts.append(stream.count)
                FrameCodec.append(payload, to: &stream)
            }
            // The first byte an attack changed; frames that end before it must come out intact.
            var firstDamage = stream.count
            var truncatedOnly = false
            switch random.int(0...5) {
            case 0:
                break
            case 1:
                let cut = random.int(0...stream.count)
                stream.removeSubrange(cut...)
                firstDamage = cut
                truncatedOnly = true
            case 2:
                for _ in 0..<random.int(1...8) {
                    let at = random.int(0..<stream.count)
                    stream[at] ^= UInt8(1) << UInt8(random.int(0...7))
                    firstDamage = min(firstDamage, at)
                }
            case 3:
                let at = random.int(0..<stream.count)
                let end = min(stream.count, at + random.int(1...64))
                if stream[at..<end].contains(where: { $0 != 0 }) { firstDamage = at }
                stream.replaceSubrange(at..<end, with: [UInt8](repeating: 0, count: end - at))
            case 4:
                let at = starts[random.int(0..<starts.count)]
                let length = random.chance(2) ? UInt32.max - UInt32(random.int(0...15)) : UInt32(limit + random.int(1...4096))
                stream.replaceSubrange(at..<(at + 4), with: withUnsafeBytes(of: length.littleEndian) { Array($0) })
                firstDamage = at
            default:
                let at = random.int(0...stream.count)
                stream.insert(contentsOf: random.bytes(count: random.int(1...64)), at: at)
                firstDamage = at
            }

            var decoder = FrameDecoder(maximumFrameSize: limit)
            var frames: [[UInt8]] = []
            var threw = false
            var offset = 0
            feeding: while offset < stream.count {
                let end = min(stream.count, offset + random.int(1...9000))
                stream[offset..<end].withUnsafeBytes { decoder.feed($0) }
                offset = end
                do {
                    while let frame = try decoder.next() {
                        XCTAssertLessThanOrEqual(frame.count, limit, "seed \(Self.seed), case \(cases)")
                        frames.append(frame)
                    }
                } catch let error as BusError {
                    guard case .oversizedFrame(let length) = error, length > limit else {
                        return XCTFail("seed \(Self.seed), case \(cases): unexpected \(error)")
                    }
                    threw = true
                    refused += 1
                    break feeding
                }
            }
            let context = "seed \(Self.seed), case \(cases)"
            XCTAssertLessThanOrEqual(frames.reduce(0) { $0 + 4 + $1.count }, stream.count, context)
            // Frames wholly before the first damaged byte come out as sent, up to one over the limit.
            let intact = payloads.indices.prefix { starts[$0] + 4 + payloads[$0].count <= firstDamage }.count
            let expected = payloads.prefix(intact).prefix { $0.count <= limit }.count
            XCTAssertGreaterThanOrEqual(frames.count, expected, context)
            XCTAssertEqual(Array(frames.prefix(expected)), Array(payloads.prefix(expected)), context)
            if expected < intact {
                XCTAssertTrue(threw && frames.count == expected, "\(context): a frame over the limit must be refused")
            }
            if truncatedOnly && payloads.allSatisfy({ $0.count <= limit }) { XCTAssertFalse(threw, context) }
        }
        XCTAssertGreaterThan(refused, 0, "some attacks announced lengths over the limit")
    }

    func testRealSequencerHandshakeSurvivesEveryAttackFamilyAndStillAdmitsMembers() throws {
        signal(SIGPIPE, SIG_IGN) // attacks may still be writing when the hub drops them
        let hub = try HubFixture()
        defer { hub.stop() }
        let loop = EventLoop()
        let credentials = try hub.directory.credentials()
        var random = SplitMix64(seed: Self.seed ^ 0x4E11_0)
        var hello = Rrvm_Envelope()
        hello.body = .hello(.with {
            $0.protocolVersion = protocolVersion
            $0.role = .hart
            $0.clusterID = credentials.clusterID
            $0.secret = Data(random.bytes(count: 32)) // never the real one: nothing here may be admitted
            $0.pid = 4242
        })
        let valid = FrameCodec.encode(try hello.serializedBytes())

        let deadline = Date().addingTimeInterval(4)
        var cases = 0
        var answered = 0
        while Date() < deadline {
            // A batch of connections at once, each with one attack; the hub must drop or answer every one.
            var closed = 0
            var peers: [Connection] = []
            for _ in 0..<12 {
                cases += 1
                var bytes = valid
                switch random.int(0...4) {
                case 0: bytes.removeSubrange(random.int(0..<bytes.count)...)
                case 1:
                    for _ in 0..<random.int(1...6) { bytes[random.int(0..<bytes.count)] ^= UInt8(1) << UInt8(random.int(0...7)) }
                case 2:
                    let at = random.int(0..<bytes.count)
                    let end = min(bytes.count, at + random.int(1...16))
                    bytes.replaceSubrange(at..<end, with: [UInt8](repeating: 0, count: end - at))
                case 3: bytes.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, UInt8(random.int(0...255))])
                default: bytes = random.bytes(count: random.int(1...512))
                }
                connect(loop: loop, to: hub.directory.busAddress, name: "fuzz") { result in
                    guard let connection = try? result.get() else { closed += 1; return }
                    peers.append(connection)
                    connection.onFrame = { frame in
                        if let envelope = try? Rrvm_Envelope(serializedBytes: frame), case .welcome? = envelope.body {
                            XCTFail("seed \(Self.seed): a mutated Hello with a wrong secret was admitted")
                        }
                        answered += 1
                    }
                    connection.onClose = { _ in closed += 1 }
                    connection.sendUnframed(bytes)
                }
            }
            loop.run(seconds: 1) { closed == 12 }
            // Whatever is still open waits for more bytes (a truncated frame): hang up on it.
            for peer in peers { peer.close() }
            loop.run(seconds: 0.05) { false }
            XCTAssertTrue(hub.isRunning, "seed \(Self.seed): the hub survives case \(cases)")
        }
        XCTAssertGreaterThan(cases, 24)
        XCTAssertGreaterThan(answered, 3, "some attacks got a Refused answer")
        // Strangers cannot flood the user's terminal: a few refusals are reported, the rest only counted.
        let errors = hub.errorOutput
        XCTAssertEqual(errors.components(separatedBy: "refused a peer").count - 1, 3, errors)
        XCTAssertTrue(errors.contains("further refusals are not reported"), errors)

        // The members still join and the hub still works.
        var joined = 0
        for (role, index) in [(Rrvm_Role.hart, 0), (.device, 0)] {
            join(loop: loop, address: hub.directory.busAddress, role: role, index: index, credentials: credentials,
                 name: "\(role)") { if (try? $0.get()) != nil { joined += 1 } }
        }
        loop.run(seconds: 5) { joined == 2 }
        XCTAssertEqual(joined, 2, "members join after the attacks")
    }
}
