import CLibUV
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// The guest's console on the supervisor's standard output, written without ever blocking the loop: a
/// reader that stops reading (a pipe or FIFO nobody drains, a stopped terminal) must not stop the
/// supervisor, whose loop also handles signals and teardown. What cannot be written yet waits in a
/// backlog of at most `backlogLimit` bytes; beyond it, output is dropped and counted (the guest never
/// notices: host output speed must not reach guest-visible state). A closed output (EPIPE, `| head`)
/// is reported once through `onClosed`.
public final class ConsoleOutput {
    /// 1 MiB; `RRVM_CONSOLE_BACKLOG=BYTES` sets another bound (tests use a small one).
    public static let backlogLimit = ProcessInfo.processInfo.environment["RRVM_CONSOLE_BACKLOG"].flatMap { Int($0) } ?? 1 << 20

    private let descriptor: Int32
    /// Set when the descriptor is standard output itself made non-blocking (it could not be reopened):
    /// its flags are restored when done, since other processes share that open file.
    private var restoreFlags: Int32?
    private let ownsDescriptor: Bool
    private var poll: HandleBox<uv_poll_t>?
    private var polling = false
    private var backlog: [UInt8] = []
    private var backlogStart = 0
    private var closedReason: String?
    private var finished = false
    private var onClosed: ((String) -> Void)?
    /// Called once, when output is dropped for the first time.
    public var onFirstDrop: (() -> Void)?
    public private(set) var droppedBytes: UInt64 = 0

    public var pendingBytes: Int { backlog.count - backlogStart }

    /// `descriptor` is normally 1. A regular file or /dev/null is written directly (such writes do not
    /// wait for a reader); a pipe, FIFO, socket or terminal gets a non-blocking descriptor of its own.
    public init(loop: EventLoop, descriptor: Int32 = 1, onClosed: @escaping (String) -> Void) {
        self.onClosed = onClosed
        var info = stat()
        let kind = fstat(descriptor, &info) == 0 ? info.st_mode & S_IFMT : 0
        if kind == S_IFREG || (kind == S_IFCHR && isatty(descriptor) == 0) || kind == 0 {
            self.descriptor = descriptor
            ownsDescriptor = false
            return
        }
        // A fresh open file of the same pipe or terminal, so that O_NONBLOCK does not change the one this
        // process shares with its children and its shell (stderr is often the very same open file).
        let reopened = open("/proc/self/fd/\(descriptor)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        if reopened >= 0 {
            self.descriptor = reopened
            ownsDescriptor = true
        } else {
            // A socket, or a pipe whose reader is already gone: set the flag on the shared file, restore later.
            self.descriptor = descriptor
            ownsDescriptor = false
            let flags = fcntl(descriptor, F_GETFL)
            if flags >= 0 && flags & O_NONBLOCK == 0 {
                restoreFlags = flags
                _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
            }
        }
        let box = HandleBox<uv_poll_t>()
        if uv_poll_init(loop.raw, box.handle, self.descriptor) == 0 {
            box.attach(self)
            poll = box
        } else {
            // Nothing to wait on: writes simply fail with EAGAIN and the backlog, then dropping, takes over.
            UnsafeMutableRawPointer(box.handle).deallocate()
        }
    }

    /// Writes what it can now; the rest waits (bounded) for the output to accept more.
    public func write(_ bytes: [UInt8]) {
        guard closedReason == nil, !bytes.isEmpty else { return }
        var offset = 0
        if pendingBytes == 0 {
            offset = writeNow(bytes[...])
            guard closedReason == nil else { return }
        }
        guard offset < bytes.count else { return }
        let room = max(0, Self.backlogLimit - pendingBytes)
        let kept = min(room, bytes.count - offset)
        backlog.append(contentsOf: bytes[offset..<(offset + kept)])
        if kept < bytes.count - offset {
            if droppedBytes == 0 { onFirstDrop?() }
            droppedBytes += UInt64(bytes.count - offset - kept)
        }
        startPolling()
    }

    /// Writes as much of `bytes` as the descriptor takes now; returns how much.
    private func writeNow(_ bytes: ArraySlice<UInt8>) -> Int {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                break
            } else {
                closed(written < 0 ? String(cString: strerror(errno)) : "wrote nothing")
                break
            }
        }
        return offset
    }

    private func startPolling() {
        guard let poll, !polling, closedReason == nil else { return }
        polling = true
        uv_poll_start(poll.handle, Int32(UV_WRITABLE.rawValue)) { handle, status, _ in
            guard let output = owner(of: handle, as: ConsoleOutput.self) else { return }
            output.writable(status: status)
        }
    }

    private func stopPolling() {
        guard let poll, polling else { return }
        polling = false
        uv_poll_stop(poll.handle)
    }

    private func writable(status: Int32) {
        guard status >= 0 else { return closed(uvErrorName(status)) }
        backlogStart += writeNow(backlog[backlogStart...])
        if pendingBytes == 0 {
            backlog.removeAll(keepingCapacity: true)
            backlogStart = 0
            stopPolling()
        } else if backlogStart > backlog.count / 2 {
            backlog.removeSubrange(0..<backlogStart)
            backlogStart = 0
        }
    }

    private func closed(_ reason: String) {
        guard closedReason == nil else { return }
        closedReason = reason
        backlog = []
        backlogStart = 0
        stopPolling()
        let callback = onClosed
        onClosed = nil
        callback?(reason)
    }

    /// At the end of a run: gives the reader up to `milliseconds` to take what is still pending, then
    /// stops polling and restores standard output.
    public func finish(milliseconds: Int32) {
        guard !finished else { return }
        finished = true
        stopPolling()
        let deadline = EventLoop.monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
        while pendingBytes > 0 && closedReason == nil {
            let now = EventLoop.monotonicNanoseconds()
            guard now < deadline else { break }
            var request = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard Glibc.poll(&request, 1, Int32((deadline - now) / 1_000_000) + 1) > 0 else { break }
            backlogStart += writeNow(backlog[backlogStart...])
        }
        poll?.close()
        poll = nil
        if let restoreFlags { _ = fcntl(descriptor, F_SETFL, restoreFlags) }
        restoreFlags = nil
        if ownsDescriptor { Glibc.close(descriptor) }
    }
}
