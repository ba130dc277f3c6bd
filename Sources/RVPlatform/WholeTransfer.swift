#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Repeats `transfer(done)` (a read or write of the bytes from `done` on: the count it moved, or -1 with errno) until
/// `count` bytes are done or a transfer moves nothing (a file's end, a full disk), going on after short transfers and
/// interruptions. The bytes done, or nil when a transfer failed (errno says why): what was done so far stays done.
public func transferUpTo(_ count: Int, _ transfer: (_ done: Int) -> Int) -> Int? {
    var done = 0
    while done < count {
        let result = transfer(done)
        if result < 0 && errno == EINTR { continue }
        if result < 0 { return nil }
        if result == 0 { break }
        done += result
    }
    return done
}

/// Whether all `count` bytes were transferred (see `transferUpTo`).
public func transferWhole(_ count: Int, _ transfer: (_ done: Int) -> Int) -> Bool {
    transferUpTo(count, transfer) == count
}

/// Writes all of `bytes` to `descriptor` (see `writeWholeFailure`).
public func writeWhole(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    writeWholeFailure(descriptor, bytes) == nil
}

/// Writes all of `bytes` to `descriptor`: nil when done, else why not (the system's reason, or that the file took
/// no more bytes, as a full disk may say by writing nothing).
public func writeWholeFailure(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
    guard let done = transferUpTo(bytes.count, { write(descriptor, bytes.baseAddress! + $0, bytes.count - $0) }) else {
        return String(cString: strerror(errno))
    }
    return done == bytes.count ? nil : "the file takes no more bytes"
}

/// Reads from `descriptor` into `buffer` until it is full or the file ends: the bytes read, or nil when a read
/// failed (errno says why).
public func readUpTo(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
    transferUpTo(buffer.count) { read(descriptor, buffer.baseAddress! + $0, buffer.count - $0) }
}
