import CLibUV
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// Reads standard input: a terminal, pipe or socket as a libuv stream; a regular file or a device (`rrctl up <
/// commands.txt`, /dev/null), which libuv cannot watch, a piece at a time from a timer on the loop.
public final class ConsoleInput {
    private let stream: HandleBox<uv_stream_t>?
    private let fileTimer: LoopTimer?
    private let descriptor: Int32
    private var onData: (([UInt8]) -> Void)?
    private var onEnd: (() -> Void)?
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    private var reading = false

    /// Nil when the descriptor is nothing that can be read (a UDP socket, or libuv refused it).
    public init?(loop: EventLoop, descriptor: Int32, onData: @escaping ([UInt8]) -> Void, onEnd: @escaping () -> Void) {
        self.descriptor = descriptor
        let kind = uv_guess_handle(descriptor)
        if kind == UV_FILE {
            stream = nil
            fileTimer = LoopTimer(loop: loop)
        } else {
            let box = HandleBox<uv_stream_t>(byteCount: max(MemoryLayout<uv_tty_t>.size, MemoryLayout<uv_pipe_t>.size,
                                                            MemoryLayout<uv_tcp_t>.size))
            switch kind {
            case UV_TTY:
                guard uv_tty_init(loop.raw, box.raw(as: uv_tty_t.self), descriptor, 1) == 0 else { return nil }
            case UV_NAMED_PIPE:
                guard uv_pipe_init(loop.raw, box.raw(as: uv_pipe_t.self), 0) == 0,
                      uv_pipe_open(box.raw(as: uv_pipe_t.self), descriptor) == 0 else { return nil }
            case UV_TCP:
                guard uv_tcp_init(loop.raw, box.raw(as: uv_tcp_t.self)) == 0,
                      uv_tcp_open(box.raw(as: uv_tcp_t.self), uv_os_sock_t(descriptor)) == 0 else { return nil }
            default:
                return nil
            }
            stream = box
            fileTimer = nil
        }
        self.onData = onData
        self.onEnd = onEnd
        stream?.attach(self)
        resume()
    }

    deinit { buffer.deallocate() }

    /// Stops reading until `resume` (what is not read waits in the terminal, the pipe and then its writer, or the file).
    public func hold() {
        guard reading else { return }
        reading = false
        if let stream { uv_read_stop(stream.asStream) }
        fileTimer?.stop()
    }

    /// Reads on (or starts reading).
    public func resume() {
        guard !reading, onData != nil else { return }
        reading = true
        if let fileTimer {
            // A piece every millisecond at most: 64 MB/s, far more than a guest takes, and the loop stays free.
            return fileTimer.start(milliseconds: 0, repeatMilliseconds: 1) { [unowned self] in readFilePiece() }
        }
        guard let stream else { return }
        uv_read_start(stream.asStream, { handle, _, buf in
            guard let input = owner(of: handle, as: ConsoleInput.self), let buf else { return }
            buf.pointee.base = input.buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = input.buffer.count
        }, { handle, count, _ in
            guard let input = owner(of: handle, as: ConsoleInput.self) else { return }
            if count > 0 {
                input.onData?(Array(UnsafeRawBufferPointer(rebasing: input.buffer[0..<count])))
            } else if count < 0 {
                input.end()
            }
        })
    }

    private func readFilePiece() {
        let count = read(descriptor, buffer.baseAddress, buffer.count)
        if count > 0 {
            onData?(Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count])))
        } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
            end()
        }
    }

    /// The input ended (or cannot be read any more): no more reading, and `onEnd` once.
    private func end() {
        let callback = onEnd
        close()
        callback?()
    }

    public func close() {
        onData = nil
        onEnd = nil
        reading = false
        stream?.close()
        fileTimer?.close()
    }
}
