import Foundation
import RRBus
import RRNode
import RRProto
import RRRoles
import RVMachine

/// The protobuf codec on the MMIO path: encode and decode of the messages one MMIO read exchanges, by SwiftProtobuf
/// and by the bus's hand-written codec of a slice's messages (HotMessageCodec), which writes the same bytes.
func runCodecBenchmark(iterations: Int) throws -> String {
    var request = Rrvm_Envelope()
    request.g = 123_456_789
    request.body = .mmioRequest(.with { $0.address = 0x1000_0005; $0.size = 1; $0.executed = 4242 })
    var done = Rrvm_Envelope()
    done.g = 123_456_789
    done.body = .deviceDone(.with { $0.value = 0x60 })
    let run = try runWithDeclarations()
    let runSize = (try run.serializedBytes() as [UInt8]).count
    let entries = run.run.stableReads.reduce(0) { $0 + $1.reads.count }
    var lines: [String] = []
    for codec in Codec.allCases {
        let perMessage = try codec.microseconds(per: [request, done], iterations: iterations)
        let perRun = try codec.microseconds(per: [run], iterations: iterations / 10)
        lines.append(String(format: "codec (%@): %.2f us per message encoded and decoded (%d pairs); %.2f us per Run with "
                            + "the 4-hart machine's declarations (%d entries, %d bytes)",
                            codec.rawValue, perMessage, iterations, perRun, entries, runSize))
    }
    lines.append(try sliceRunDecoding(iterations: iterations * 10))
    return lines.joined(separator: "\n")
}

/// A slice's Run as a contended hart usually gets one (one declared register changed since its last), decoded as the
/// bus does: its header and body apart, every frame into the same body (`Connection.onMessage`).
private func sliceRunDecoding(iterations: Int) throws -> String {
    let header = EnvelopeHeader(g: 123_456_789, to: Endpoint.hart(1))
    let run = Rrvm_Envelope.OneOf_Body.run(.with {
        $0.budget = 1_000_000
        $0.spinHintsYield = true
        $0.declaredValues = [.with { $0.device = 2; $0.entry = 1; $0.index = 3; $0.value = 0x1234_5678 }]
    })
    var frame: [UInt8] = []
    guard HotMessageCodec.frame(header, run, into: &frame) else { throw NodeError("HotMessageCodec left a Run to SwiftProtobuf") }
    let bytes = Array(frame.dropFirst(4))  // the frame without its length, as the lane's decoder hands it on
    var decodedHeader = EnvelopeHeader()
    var body = Rrvm_Envelope.OneOf_Body.cut(Rrvm_Cut())
    var checksum: UInt64 = 0
    let start = EventLoop.monotonicNanoseconds()
    for _ in 0..<iterations {
        guard HotMessageCodec.decode(bytes, header: &decodedHeader, body: &body), case .run(let decoded) = body else {
            throw NodeError("a slice's Run did not decode")
        }
        checksum &+= decoded.budget &+ decodedHeader.g
    }
    precondition(checksum != 1)  // keeps the work
    let nanoseconds = Double(EventLoop.monotonicNanoseconds() - start) / Double(iterations)
    return String(format: "codec (HotMessageCodec, the bus's decoding): %.0f ns per slice's Run decoded (%d bytes, one declared "
                  + "value; %d Runs)", nanoseconds, bytes.count, iterations)
}

private enum Codec: String, CaseIterable {
    case swiftProtobuf = "SwiftProtobuf"
    case hot = "HotMessageCodec"
    /// Decoding every message into one envelope, as the bus does: its storage is reused, not allocated per message.
    case hotIntoOne = "HotMessageCodec into one envelope"

    /// Host time per message to encode and decode each of `messages`, `iterations` times.
    func microseconds(per messages: [Rrvm_Envelope], iterations: Int) throws -> Double {
        let start = EventLoop.monotonicNanoseconds()
        var checksum: UInt64 = 0
        var reused = Rrvm_Envelope()
        for _ in 0..<iterations {
            for message in messages {
                let decoded: Rrvm_Envelope
                switch self {
                case .hotIntoOne:
                    guard let bytes = HotMessageCodec.encode(message), HotMessageCodec.decode(bytes, into: &reused) else {
                        throw NodeError("HotMessageCodec left \(message) to SwiftProtobuf")
                    }
                    checksum &+= reused.g
                    reused.body = nil  // as the bus does once the receiver is done with it
                    continue
                case .swiftProtobuf: decoded = try Rrvm_Envelope(serializedBytes: try message.serializedBytes() as [UInt8])
                case .hot:
                    guard let bytes = HotMessageCodec.encode(message), let back = HotMessageCodec.decode(bytes) else {
                        throw NodeError("HotMessageCodec left \(message) to SwiftProtobuf")
                    }
                    decoded = back
                }
                checksum &+= decoded.g
            }
        }
        precondition(checksum != 1)  // keeps the work
        return Double(EventLoop.monotonicNanoseconds() - start) / Double(iterations * messages.count) / 1000
    }
}

/// A Run as the sequencer hands out a slice on the default 4-hart machine: with the stable-read declarations of
/// the UART, the PLIC and the CLINT (each as the device's answer to a read carries them).
private func runWithDeclarations() throws -> Rrvm_Envelope {
    let models: [DeviceModel] = [UART16550(), PLIC(harts: 4), CLINT(harts: 4)]
    var read = Rrvm_Envelope()
    read.body = .deviceAccess(.with { $0.offset = 0; $0.size = 4 })
    let declarations: [Rrvm_DeviceStableReads] = try models.enumerated().map { device, model in
        guard case .done(let done) = DeviceRunner(model: model, icountShift: 0).apply(read) else {
            throw NodeError("\(model.name) did not answer a read")
        }
        return .with { $0.device = UInt32(device); $0.reads = done.stableReads }
    }
    var run = Rrvm_Envelope()
    run.g = 123_456_789
    run.body = .run(.with { $0.budget = 100_000; $0.stableReads = declarations })
    return run
}
