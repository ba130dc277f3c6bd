import Foundation
import RRBus
import RRNode
import RRProto
import RRRoles
import RVMachine

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
    let line = String(format: "codec: %.2f us per message encoded and decoded (%d pairs, checksum %d)", perPair, iterations, checksum)
    return line + "\n" + (try runDeclarationsCodec(iterations: iterations / 10))
}

/// A Run as the sequencer hands out a slice on the default 4-hart machine: with the stable-read declarations of
/// the UART, the PLIC and the CLINT (each as the device's answer to a read carries them).
private func runDeclarationsCodec(iterations: Int) throws -> String {
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
    let size = (try run.serializedBytes() as [UInt8]).count
    let start = EventLoop.monotonicNanoseconds()
    var checksum = 0
    for _ in 0..<iterations {
        let bytes: [UInt8] = try run.serializedBytes()
        let decoded = try Rrvm_Envelope(serializedBytes: bytes)
        checksum &+= decoded.run.stableReads.count
    }
    let perRun = Double(EventLoop.monotonicNanoseconds() - start) / Double(iterations) / 1000
    return String(format: "codec: %.2f us per Run with the 4-hart machine's declarations (%d entries, %d bytes) encoded and decoded",
                  perRun, declarations.reduce(0) { $0 + $1.reads.count }, size)
}
