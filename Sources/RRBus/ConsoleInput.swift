import CLibUV
import Foundation

/// Reads a file descriptor (standard input: a terminal, pipe or socket) as a libuv stream.
public final class ConsoleInput {
    private let box: HandleBox<uv_stream_t>
    private var onData: (([UInt8]) -> Void)?
    private var onEnd: (() -> Void)?
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    private var reading = false

    /// Nil when the descriptor is not something libuv can stream (a regular file, /dev/null).
    public init?(loop: EventLoop, descriptor: Int32, onData: @escaping ([UInt8]) -> Void, onEnd: @escaping () -> Void) {
        box = HandleBox(byteCount: max(MemoryLayout<uv_tty_t>.size, MemoryLayout<uv_pipe_t>.size))
        switch uv_guess_handle(descriptor) {
        case UV_TTY:
            guard uv_tty_init(loop.raw, box.raw(as: uv_tty_t.self), descriptor, 1) == 0 else { return nil }
        case UV_NAMED_PIPE:
            guard uv_pipe_init(loop.raw, box.raw(as: uv_pipe_t.self), 0) == 0,
                  uv_pipe_open(box.raw(as: uv_pipe_t.self), descriptor) == 0 else { return nil }
        default:
            return nil
        }
        self.onData = onData
        self.onEnd = onEnd
        box.attach(self)
        resume()
    }

    deinit { buffer.deallocate() }

    /// Stops reading until `resume` (what is not read waits in the terminal, the pipe, and then its writer).
    public func hold() {
        guard reading else { return }
        reading = false
        uv_read_stop(box.asStream)
    }

    /// Reads on (or starts reading).
    public func resume() {
        guard !reading, onData != nil else { return }
        reading = true
        uv_read_start(box.asStream, { handle, _, buf in
            guard let stream = owner(of: handle, as: ConsoleInput.self), let buf else { return }
            buf.pointee.base = stream.buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = stream.buffer.count
        }, { handle, count, _ in
            guard let stream = owner(of: handle, as: ConsoleInput.self) else { return }
            if count > 0 {
                stream.onData?(Array(UnsafeRawBufferPointer(rebasing: stream.buffer[0..<count])))
            } else if count < 0 {
                let end = stream.onEnd
                stream.close()
                end?()
            }
        })
    }

    public func close() {
        onData = nil
        onEnd = nil
        reading = false
        box.close()
    }
}
