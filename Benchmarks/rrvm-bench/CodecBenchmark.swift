import Foundation
import RRBus
import RRProto

/// The protobuf codec on the MMIO path: encode and decode of the messages one MMIO read exchanges.
func runCodecBenchmark(iterations: Int) throws -> String {
    var request = Rrvm_Envelope()
    request.g = 123_456_789
    request.body = .mmioRequest(.with { $0.address = 0x1000_0005; $0.size = 1; $0.executed = 4242 })
    var done = Rrvm_Envelope()
    done.g = 123_456_789
    done.body = .deviceDone(.with { $0.value = 0x60 })
    let start = EventLoop.monotonicNanoseconds()
    var checksum = 0
    for _ in 0..<iterations {
        let bytes: [UInt8] = try request.serializedBytes()
        let decoded = try Rrvm_Envelope(serializedBytes: bytes)
        let doneBytes: [UInt8] = try done.serializedBytes()
        let doneDecoded = try Rrvm_Envelope(serializedBytes: doneBytes)
        checksum &+= Int(decoded.g & 1) &+ Int(doneDecoded.g & 1)
    }
    let perPair = Double(EventLoop.monotonicNanoseconds() - start) / Double(iterations) / 2 / 1000
    return String(format: "codec: %.2f us per message encoded and decoded (%d pairs, checksum %d)", perPair, iterations, checksum)
}
