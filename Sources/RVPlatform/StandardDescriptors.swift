#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens /dev/null on each of standard input, output and error that the process was started without (`rrctl up
/// >&-`), and returns which were closed. Otherwise the next socket or file opened takes the free number: console
/// output would be written into it, and libuv refuses to close a handle numbered 0-2 (it aborts).
@discardableResult
public func keepStandardDescriptorsOpen() -> [Int32] {
    var closed: [Int32] = []
    for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
        closed.append(descriptor)
        // open takes the lowest free number, which is this one: the lower ones are open by now.
        let opened = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
        if opened != descriptor && opened >= 0 { _ = dup2(opened, descriptor); close(opened) }
    }
    return closed
}
