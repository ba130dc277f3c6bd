import CLibUV

/// Calls back on the loop whenever a file descriptor is readable (libuv's uv_poll, level-triggered): for a
/// library with its own sockets (libslirp) to wake the loop. The descriptor stays the caller's.
public final class ReadinessWatcher {
    private let box = HandleBox<uv_poll_t>()
    private var callback: (() -> Void)?

    public init(loop: EventLoop, descriptor: Int32, _ callback: @escaping () -> Void) throws {
        let status = uv_poll_init(loop.raw, box.handle, descriptor)
        guard status == 0 else {
            UnsafeMutableRawPointer(box.handle).deallocate()
            throw NodeError("cannot watch descriptor \(descriptor): \(uvErrorName(status))")
        }
        self.callback = callback
        box.attach(self)
        uv_poll_start(box.handle, Int32(UV_READABLE.rawValue)) { handle, _, _ in
            owner(of: handle, as: ReadinessWatcher.self)?.callback?()
        }
    }

    public func close() {
        callback = nil
        uv_poll_stop(box.handle)
        box.close()
    }
}
