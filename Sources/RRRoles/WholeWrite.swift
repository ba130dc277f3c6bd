import Glibc

/// Writes all of `bytes` to `descriptor`, going on after short writes and interruptions. False when a write fails
/// (errno says why) or writes nothing (a full disk): what was written so far stays written.
public func writeWhole(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return false }
        offset += written
    }
    return true
}
