#if RRVM_OP_PROFILE
import Glibc

/// A measurement build's count of dispatched operations by the two dispatched before them, to tell which fused forms
/// would pay (`Decoder.fused`). Compiled only with `-Xswiftc -DRRVM_OP_PROFILE` (a counter in every dispatch of the
/// loop: never in a build that is timed). At exit, with RRVM_OP_PROFILE=PATH set, writes one line per triple seen:
/// "count first second third" (operation names, the last being the one counted), most frequent first.
enum OpProfile {
    nonisolated(unsafe) private static var previous = 0
    nonisolated(unsafe) private static var beforePrevious = 0
    nonisolated(unsafe) private static let counts: UnsafeMutablePointer<UInt64> = {
        let table = UnsafeMutablePointer<UInt64>.allocate(capacity: 1 << 24)
        table.initialize(repeating: 0, count: 1 << 24)
        atexit { OpProfile.write() }
        return table
    }()

    @inline(__always)
    static func count(_ op: Op) {
        let index = Int(op.rawValue)
        counts[beforePrevious << 16 | previous << 8 | index] &+= 1
        beforePrevious = previous
        previous = index
    }

    private static func write() {
        guard let path = getenv("RRVM_OP_PROFILE"), let file = fopen(path, "w") else { return }
        func name(_ raw: Int) -> String { Op(rawValue: UInt8(raw)).map { "\($0)" } ?? "\(raw)" }
        let seen = (0..<(1 << 24)).filter { counts[$0] != 0 }.sorted { counts[$0] > counts[$1] }
        for triple in seen {
            fputs("\(counts[triple]) \(name(triple >> 16)) \(name(triple >> 8 & 0xff)) \(name(triple & 0xff))\n", file)
        }
        fclose(file)
    }
}
#endif
