import CFuzzDriver
import Foundation
import RRBus
import RRSequencer

// libFuzzer over rrvm's untrusted-input decoders (built only by Benchmarks/fuzz/run.sh, with
// -sanitize=fuzzer; never part of the default build). RRVM_FUZZ_TARGET chooses the decoder:
//   frames  the bus frame decoder, fed in pieces, under the member and the handshake limits
//   log     the log reader, through its public entry (the one call to adjust when that API changes)
// A crash, a failed precondition or a frame over its limit is a finding; libFuzzer saves the input.

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
            }
        } catch {
            return // refused: what a connection does then is close
        }
    }
}

/// The log reader: any input must be read or refused with an error, never crash.
func fuzzLog(_ input: UnsafeBufferPointer<UInt8>) {
    // Read and checked whole, as `rrctl replay` and `rrctl log stats` do before anything runs.
    _ = try? LogSummary(reader: LogReader(bytes: Array(input), name: "fuzz input"))
}

let fuzzLogReader = ProcessInfo.processInfo.environment["RRVM_FUZZ_TARGET"] == "log"

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in
    let input = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    if fuzzLogReader { fuzzLog(input) } else { fuzzFrames(input) }
    return 0
})
