import CFuzzDriver
import Foundation
import RRBus
import RRProto
import RRSequencer

// libFuzzer over rrvm's untrusted-input decoders (built only by Benchmarks/fuzz/run.sh, with
// -sanitize=fuzzer; never part of the default build). RRVM_FUZZ_TARGET chooses the decoder:
//   frames  the bus frame decoder, fed in pieces, under the member and the handshake limits; each frame
//           then decoded as an Envelope, as a connection does
//   log     the log reader, through its public entry (the one call to adjust when that API changes)
// A crash, a failed precondition or a frame over its limit is a finding; libFuzzer saves the input.
// `rrvm-fuzz --write-seed-logs DIR` writes the log corpus's seeds (see writeSeedLogs).

/// The frame decoder: the first byte picks the limit and the piece size, the rest is the stream.
func fuzzFrames(_ input: UnsafeBufferPointer<UInt8>) {
    guard let control = input.first else { return }
    let limit = control & 1 == 0 ? FrameCodec.maximumFrameSize : FrameCodec.handshakeFrameLimit
    let piece = Int(control >> 1) + 1
    var decoder = FrameDecoder(maximumFrameSize: limit)
    let stream = UnsafeBufferPointer(rebasing: input.dropFirst())
    var offset = 0
    var delivered = 0
    while offset < stream.count {
        let end = min(stream.count, offset + piece)
        decoder.feed(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: stream[offset..<end])))
        offset = end
        do {
            while let frame = try decoder.next() {
                precondition(frame.count <= limit, "a frame of \(frame.count) bytes passed the \(limit)-byte limit")
                delivered += 4 + frame.count
                precondition(delivered <= offset, "more frame bytes delivered than fed")
                _ = try? Rrvm_Envelope(serializedBytes: frame) // what Connection.onEnvelope does next
            }
        } catch {
            return // refused: what a connection does then is close
        }
    }
}

/// The log reader: any input must be read or refused with an error, never crash.
func fuzzLog(_ input: UnsafeBufferPointer<UInt8>) {
    let bytes = Array(input)
    // Read and checked whole, as `rrctl replay` and `rrctl log stats` do before anything runs...
    _ = try? LogSummary(reader: LogReader(bytes: bytes, name: "fuzz input"))
    // ...and replay's look-ahead for inputs, which skips the other records without decoding them.
    if let reader = try? LogReader(bytes: bytes, name: "fuzz input") {
        while (try? reader.nextInput()) != nil {}
    }
}

/// Seeds for the log corpus, written by the recorder's own LogWriter: a compact log (an input, a check, the
/// end) and a full one (a stamped message too). Without whole records to start from, the fuzzer rarely gets
/// a header past its length check and CRC.
func writeSeedLogs(into directory: String) throws {
    var header = Rrvm_LogHeader()
    header.formatVersion = logFormatVersion
    header.config.harts = 1
    header.config.devices = [Rrvm_DeviceKind.finisher, .uart].map { kind in
        var device = Rrvm_DeviceSpec()
        device.kind = kind
        return device
    }
    var input = Rrvm_LogRecord()
    input.input.g = 10
    input.input.console = Data("ls\n".utf8)
    var check = Rrvm_LogRecord()
    check.check.g = 20
    check.check.harts = [0x1234]
    check.check.devices = [0x5678, 0x9ABC]
    var end = Rrvm_LogRecord()
    end.end.g = 30
    end.end.events = 1
    var event = Rrvm_LogRecord()
    event.event.g = 5
    event.event.from = Endpoint.hart(0)
    event.event.to = Endpoint.sequencer
    event.event.yield.executed = 5
    for (name, detail, records) in [("seed-compact.log", Rrvm_LogDetail.compact, [input, check, end]),
                                    ("seed-full.log", .full, [event, input, check, end])] {
        header.detail = detail
        let writer = try LogWriter(path: directory + "/" + name, header: header)
        for record in records { try writer.append(record) }
        try writer.flush()
    }
}

if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--write-seed-logs" {
    do { try writeSeedLogs(into: CommandLine.arguments[2]) } catch {
        FileHandle.standardError.write(Data("rrvm-fuzz: \(error)\n".utf8))
        exit(1)
    }
    exit(0)
}

let fuzzLogReader = ProcessInfo.processInfo.environment["RRVM_FUZZ_TARGET"] == "log"

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in
    let input = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    if fuzzLogReader { fuzzLog(input) } else { fuzzFrames(input) }
    return 0
})
