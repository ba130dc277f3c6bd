import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// Accepts connections on a bus address. `onConnection` sets the new connection's callbacks; reading
/// starts right after it returns.
public final class Listener {
    private let box: HandleBox<uv_stream_t>
    private let loop: EventLoop
    private let kind: BusAddressKind
    private let onConnection: (Connection) -> Void
    public let address: BusAddress

    /// Binds and listens. Throws a clear error for an occupied port or an unusable socket path.
    public init(loop: EventLoop, address: BusAddress, onConnection: @escaping (Connection) -> Void) throws {
        self.loop = loop
        self.address = address
        self.kind = address.kind
        self.onConnection = onConnection
        box = HandleBox(byteCount: max(MemoryLayout<uv_pipe_t>.size, MemoryLayout<uv_tcp_t>.size))
        var status: Int32
        switch address {
        case .unix(let path):
            uv_pipe_init(loop.raw, box.raw(as: uv_pipe_t.self), 0)
            status = uv_pipe_bind(box.raw(as: uv_pipe_t.self), path)
        case .tcp(let host, let port):
            uv_tcp_init(loop.raw, box.raw(as: uv_tcp_t.self))
            var socketAddress = sockaddr_in()
            status = uv_ip4_addr(host == "localhost" ? "127.0.0.1" : host, Int32(port), &socketAddress)
            if status == 0 {
                status = withUnsafePointer(to: &socketAddress) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        uv_tcp_bind(box.raw(as: uv_tcp_t.self), $0, 0)
                    }
                }
            }
        }
        box.attach(self)
        if status == 0 {
            status = uv_listen(box.asStream, 64) { server, status in
                guard status >= 0, let listener = owner(of: server, as: Listener.self) else { return }
                listener.acceptOne()
            }
        }
        if status != 0 {
            box.close()
            if status == Int32(UV_EADDRINUSE.rawValue) {
                throw BusError.io("cannot listen on \(address): address already in use")
            }
            throw BusError.io("cannot listen on \(address): \(uvErrorName(status))")
        }
    }

    private func acceptOne() {
        let connection = Connection(loop: loop, kind: kind, name: "peer")
        if uv_accept(box.asStream, connection.stream) == 0 {
            onConnection(connection)
            connection.startReading()
        } else {
            connection.close(.io("accept failed"))
        }
    }

    /// The TCP port actually bound (the one the system chose when asked for port 0); nil for a Unix socket.
    public var boundPort: UInt16? {
        guard kind == .tcp else { return nil }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                uv_tcp_getsockname(box.raw(as: uv_tcp_t.self), $0, &length)
            }
        }
        guard status == 0 else { return nil }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    public func close() { box.close() }
}

/// Connects to a bus address; `completion` receives the connection, reading, or the error.
public func connect(loop: EventLoop, to address: BusAddress, name: String,
                    completion: @escaping (Result<Connection, BusError>) -> Void) {
    let connection = Connection(loop: loop, kind: address.kind, name: name)
    final class Pending {
        let connection: Connection
        let completion: (Result<Connection, BusError>) -> Void
        init(_ connection: Connection, _ completion: @escaping (Result<Connection, BusError>) -> Void) {
            self.connection = connection
            self.completion = completion
        }
    }
    let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
    request.pointee.data = Unmanaged.passRetained(Pending(connection, completion)).toOpaque()
    let onConnect: uv_connect_cb = { request, status in
        guard let request else { return }
        let pending = Unmanaged<Pending>.fromOpaque(request.pointee.data).takeRetainedValue()
        request.deallocate()
        if status < 0 {
            pending.connection.close(.io("connect: \(uvErrorName(status))"))
            pending.completion(.failure(.io("cannot connect: \(uvErrorName(status))")))
        } else {
            pending.connection.startReading()
            pending.completion(.success(pending.connection))
        }
    }
    switch address {
    case .unix(let path):
        uv_pipe_connect(request, UnsafeMutableRawPointer(connection.stream).assumingMemoryBound(to: uv_pipe_t.self),
                        path, onConnect)
    case .tcp(let host, let port):
        var socketAddress = sockaddr_in()
        let status = uv_ip4_addr(host == "localhost" ? "127.0.0.1" : host, Int32(port), &socketAddress)
        let connectStatus: Int32 = status != 0 ? status : withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                uv_tcp_connect(request, UnsafeMutableRawPointer(connection.stream)
                    .assumingMemoryBound(to: uv_tcp_t.self), $0, onConnect)
            }
        }
        if connectStatus != 0 {
            Unmanaged<Pending>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            connection.close(.io("connect: \(uvErrorName(connectStatus))"))
            completion(.failure(.io("cannot connect to \(address): \(uvErrorName(connectStatus))")))
        }
    }
}
