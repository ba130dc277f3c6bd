#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Repeats `transfer(done)` (a read or write of the bytes from `done` on: the count it moved, or -1 with errno) until
/// `count` bytes are done, going on after short transfers and interruptions. False when a transfer fails or moves
/// nothing (a file's end, a full disk): what was done so far stays done.
public func transferWhole(_ count: Int, _ transfer: (_ done: Int) -> Int) -> Bool {
    var done = 0
    while done < count {
        let result = transfer(done)
        if result < 0 && errno == EINTR { continue }
        guard result > 0 else { return false }
        done += result
    }
    return true
}

/// Writes all of `bytes` to `descriptor` (see `transferWhole`).
public func writeWhole(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    transferWhole(bytes.count) { write(descriptor, bytes.baseAddress! + $0, bytes.count - $0) }
}
