import CLibUV
import Foundation

/// A child process started with libuv; `onExit` reports its status or the signal that killed it.
public final class ChildProcess {
    private let box = HandleBox<uv_process_t>()
    private var onExit: ((ChildExit) -> Void)?
    public let name: String
    public private(set) var pid: Int32 = 0
    public private(set) var exited: ChildExit?

    /// Starts `path` with `arguments`; standard input is /dev/null, standard output and error are inherited.
    public init(loop: EventLoop, name: String, path: String, arguments: [String],
                onExit: @escaping (ChildExit) -> Void) throws {
        self.name = name
        self.onExit = onExit
        var cStrings: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        cStrings.append(nil)
        defer { cStrings.forEach { free($0) } }
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        stdio[0].flags = UV_IGNORE
        stdio[1].flags = UV_INHERIT_FD
        stdio[1].data.fd = 1
        stdio[2].flags = UV_INHERIT_FD
        stdio[2].data.fd = 2
        let status: Int32 = path.withCString { file in
            cStrings.withUnsafeMutableBufferPointer { argv in
                stdio.withUnsafeMutableBufferPointer { stdioBuffer in
                    var options = uv_process_options_t()
                    options.file = file
                    options.args = argv.baseAddress
                    options.stdio = stdioBuffer.baseAddress
                    options.stdio_count = 3
                    options.exit_cb = { handle, status, signal in
                        guard let process = owner(of: handle, as: ChildProcess.self) else { return }
                        process.didExit(status: status, signal: signal)
                    }
                    return uv_spawn(loop.raw, box.handle, &options)
                }
            }
        }
        box.attach(self)
        if status != 0 {
            box.close()
            throw BusError.io("cannot start \(path): \(uvErrorName(status))")
        }
        pid = box.handle.pointee.pid
    }

    private func didExit(status: Int64, signal: Int32) {
        let exit = signal != 0 ? ChildExit.signal(signal) : .status(Int32(truncatingIfNeeded: status))
        exited = exit
        let callback = onExit
        onExit = nil
        box.close()
        callback?(exit)
    }

    public var isRunning: Bool { exited == nil }

    /// Sends a signal if the process is still running.
    public func send(signal: Int32) {
        if isRunning { uv_process_kill(box.handle, signal) }
    }
}

public enum ChildExit: Equatable, CustomStringConvertible {
    case status(Int32)
    case signal(Int32)

    public var description: String {
        switch self {
        case .status(let code): return "exited with status \(code)"
        case .signal(let number):
            let names: [Int32: String] = [SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
                                          SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL",
                                          SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP"]
            return "was killed by signal \(number)" + (names[number].map { " (\($0))" } ?? "")
        }
    }
}

/// Reads a file descriptor (standard input: a terminal, pipe or socket) as a libuv stream.
public final class ConsoleInput {
    private let box: HandleBox<uv_stream_t>
    private var onData: (([UInt8]) -> Void)?
    private var onEnd: (() -> Void)?
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

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

    deinit { buffer.deallocate() }

    public func close() {
        onData = nil
        onEnd = nil
        box.close()
    }
}
