#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform

/// Where a slice switch's time goes, in host time (issue 16): with `RRVM_SLICE_TIMES=PREFIX` in the environment, each
/// hart and the sequencer note the monotonic clock at fixed points of every hand-over from one slice to the next, and
/// write them when they end to `PREFIX.hart-N` and `PREFIX.sequencer`; `Benchmarks/slice-times.py PREFIX` lines them
/// up slice by slice (the yielding hart's part, the way to the sequencer, its turn, the way to the next hart, that
/// hart's start). Profilers count instructions or samples; this measures the latencies between processes, which is
/// most of a switch. Without the variable each point costs a test of a flag read once.
public enum SliceTimes {
    /// The points noted. A hart notes 1-5, the sequencer 11 and 12 (its tag: the hart that yielded).
    public enum Point: UInt8 {
        /// The hart's slice ended: it begins its Yield.
        case sliceEnded = 1
        /// The Yield has left the hart.
        case yieldSent = 2
        /// A Run reached the hart (decoded).
        case runArrived = 3
        /// The hart's interpreter starts the slice.
        case sliceStarted = 4
        /// The hart stops polling: it waits in the kernel for its next message (unless one is there already), which
        /// then comes with a wake-up.
        case sleeps = 5
        /// A hart waiting for its Run has the CPU and looks for it (a polling round).
        case looks = 6
        /// A hart waiting for its Run rests: another hart is next (`TurnBoard`), or it has waited long.
        case rests = 7
        /// A Yield reached the sequencer (decoded).
        case yieldArrived = 11
        /// The sequencer is done with that Yield (the next Run, if any, has left).
        case yieldHandled = 12
    }

    /// The file prefix, if measuring.
    public static let prefix: String? = ProcessInfo.processInfo.environment["RRVM_SLICE_TIMES"].flatMap { $0.isEmpty ? nil : $0 }
    public static let isOn = prefix != nil
    /// At most this many points are kept (16 bytes each); later ones are counted, not kept.
    static let limit = 1 << 21

    // One process, one thread (its event loop): nothing else touches these.
    nonisolated(unsafe) private static var points: [(point: Point, tag: UInt8, nanoseconds: UInt64)] = []
    nonisolated(unsafe) private static var dropped = 0

    @inline(__always)
    public static func note(_ point: Point, tag: Int = 0) {
        guard isOn else { return }
        record(point, tag: tag)
    }

    private static func record(_ point: Point, tag: Int) {
        guard points.count < limit else { dropped += 1; return }
        if points.isEmpty { points.reserveCapacity(1 << 16) }
        points.append((point, UInt8(truncatingIfNeeded: tag), monotonicNanoseconds()))
    }

    /// Writes the points noted to `PREFIX.role`, a new file (an existing one, or a symlink, is not touched: the
    /// reason goes to standard error).
    public static func write(role: String) {
        guard let prefix else { return }
        let path = "\(prefix).\(role)"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let message = Array("rrvm: RRVM_SLICE_TIMES: cannot create \(path): \(String(cString: strerror(errno)))\n".utf8)
            _ = message.withUnsafeBytes { writeWhole(2, $0) }
            return
        }
        defer { close(fd) }
        var text = "# point tag nanoseconds (see SliceTimes.Point)\(dropped > 0 ? "; \(dropped) more not kept" : "")\n"
        text.reserveCapacity(points.count * 24)
        for (point, tag, nanoseconds) in points { text += "\(point.rawValue) \(tag) \(nanoseconds)\n" }
        _ = Array(text.utf8).withUnsafeBytes { writeWhole(fd, $0) }
    }
}
