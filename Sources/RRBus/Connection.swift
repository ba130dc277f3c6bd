import CLibUV

/// One framed, ordered, bidirectional connection over a libuv stream (Unix socket or TCP).
/// Frames arrive through `onFrame` in the order they were sent; `onClose` is called once, with the reason.
public final class Connection {
    private let box = HandleBox<uv_stream_t>(
        byteCount: max(MemoryLayout<uv_pipe_t>.size, MemoryLayout<uv_tcp_t>.size))
    private var decoder = FrameDecoder()
    private var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
    private var closed = false
    /// What the connection was for, in error messages (e.g. "hart 2").
    public var name: String

    public var onFrame: (([UInt8]) -> Void)?
    public var onClose: ((BusError) -> Void)?

    /// The stream's handle as libuv initialised it (`kind` says which init was used).
    init(loop: EventLoop, kind: BusAddressKind, name: String) {
        self.name = name
        switch kind {
        case .unix: uv_pipe_init(loop.raw, box.raw(as: uv_pipe_t.self), 0)
        case .tcp: uv_tcp_init(loop.raw, box.raw(as: uv_tcp_t.self))
        }
        box.attach(self)
    }

    deinit { readBuffer.deallocate() }

    var stream: UnsafeMutablePointer<uv_stream_t> { box.asStream }

    public var isOpen: Bool { !closed }

    func startReading() {
        if case .tcp = kindOfHandle { uv_tcp_nodelay(box.raw(as: uv_tcp_t.self), 1) }
        uv_read_start(stream, { handle, _, buf in
            guard let connection = owner(of: handle, as: Connection.self), let buf else { return }
            buf.pointee.base = connection.readBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = connection.readBuffer.count
        }, { stream, nread, _ in
            guard let connection = owner(of: stream, as: Connection.self) else { return }
            connection.didRead(nread)
        })
    }

    private var kindOfHandle: BusAddressKind {
        box.asHandle.pointee.type == UV_TCP ? .tcp : .unix
    }

    private func didRead(_ count: Int) {
        if count < 0 {
            close(count == Int(UV_EOF.rawValue) ? .peerClosed : .io("read from \(name): \(uvErrorName(Int32(count)))"))
            return
        }
        decoder.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
        do {
            while !closed, let frame = try decoder.next() {
                onFrame?(frame)
            }
        } catch let error as BusError {
            close(error)
        } catch {
            close(.io("\(error)"))
        }
    }

    /// Sends one frame. Small frames usually leave at once; the rest is queued in order.
    public func send(_ payload: [UInt8]) {
        sendUnframed(FrameCodec.encode(payload))
    }

    /// Writes bytes as they are, without a frame header: for tests and tools that must produce broken input.
    public func sendUnframed(_ bytes: [UInt8]) {
        guard !closed else { return }
        var framed = bytes
        let written: Int32 = framed.withUnsafeMutableBytes { bytes in
            var buf = uv_buf_init(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
            return uv_try_write(stream, &buf, 1)
        }
        if written == Int32(framed.count) { return }
        if written > 0 { framed.removeFirst(Int(written)) } else if written != Int32(UV_EAGAIN.rawValue) {
            close(.io("write to \(name): \(uvErrorName(written))"))
            return
        }
        queueWrite(framed)
    }

    private func queueWrite(_ bytes: [UInt8]) {
        // The request owns a copy of the bytes until libuv calls back.
        let storage = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        request.pointee.data = storage
        var buf = uv_buf_init(storage.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let status = uv_write(request, stream, &buf, 1) { request, status in
            guard let request else { return }
            request.pointee.data?.deallocate()
            let handle = request.pointee.handle
            request.deallocate()
            if status < 0, status != Int32(UV_ECANCELED.rawValue),
               let connection = owner(of: handle, as: Connection.self) {
                connection.close(.io("write to \(connection.name): \(uvErrorName(status))"))
            }
        }
        if status < 0 {
            storage.deallocate()
            request.deallocate()
            close(.io("write to \(name): \(uvErrorName(status))"))
        }
    }

    /// Closes the connection; `onClose` hears `reason` (once).
    public func close(_ reason: BusError = .peerClosed) {
        guard !closed else { return }
        closed = true
        let callback = onClose
        onClose = nil
        onFrame = nil
        box.close()
        callback?(reason)
    }
}

enum BusAddressKind { case unix, tcp }

extension BusAddress {
    var kind: BusAddressKind {
        switch self {
        case .unix: return .unix
        case .tcp: return .tcp
        }
    }
}
