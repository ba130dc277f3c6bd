/// Where a bus listens: a Unix domain socket on this host, or TCP between hosts.
/// Written as `unix:/path/to/socket` (or just a path) and `tcp:HOST:PORT`.
public enum BusAddress: Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    public init(parsing text: String) throws {
        if text.hasPrefix("tcp:") {
            let rest = text.dropFirst(4)
            guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]),
                  colon != rest.startIndex
            else { throw BusError.io("bad bus address '\(text)': expected tcp:HOST:PORT") }
            self = .tcp(host: String(rest[..<colon]), port: port)
        } else {
            let path = text.hasPrefix("unix:") ? String(text.dropFirst(5)) : text
            guard !path.isEmpty else { throw BusError.io("bad bus address '\(text)': empty socket path") }
            // sockaddr_un holds 108 bytes including the terminating zero.
            guard path.utf8.count < 108 else {
                throw BusError.io("socket path '\(path)' is longer than the 107 bytes a Unix socket allows")
            }
            self = .unix(path: path)
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return "tcp:\(host):\(port)"
        }
    }
}
