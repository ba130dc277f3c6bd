#if canImport(Glibc)
import Glibc
#endif

/// What `--net` asks for: no network card, or one with user-mode networking (libslirp), as QEMU's
/// `-netdev user` spells it: `user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]...[,restrict=on]`, or `none`.
public enum NetOption: Equatable, CustomStringConvertible {
    case none
    case user(UserNetworkOptions)

    /// Parses a `--net` value; the error is one line naming what is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "none":
            guard parts.count == 1 else { throw NetOptionError("--net none takes no options (got '\(text)')") }
            self = .none
        case "user":
            var options = UserNetworkOptions()
            for part in parts.dropFirst() { try options.apply(part) }
            self = .user(options)
        default:
            throw NetOptionError("--net must be 'user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]...[,restrict=on]' "
                                 + "or 'none' (got '\(text)')")
        }
    }

    /// The canonical text, which parses back to the same option.
    public var description: String {
        switch self {
        case .none: return "none"
        case .user(let options): return (["user"] + options.parts).joined(separator: ",")
        }
    }
}

public struct NetOptionError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// User-mode networking's options.
public struct UserNetworkOptions: Equatable {
    /// A host port (on the host's 127.0.0.1) forwarded to a port of the guest (10.0.2.15).
    public struct HostForward: Equatable {
        public var udp: Bool
        public var hostPort: UInt16
        public var guestPort: UInt16

        public init(udp: Bool = false, hostPort: UInt16, guestPort: UInt16) {
            self.udp = udp
            self.hostPort = hostPort
            self.guestPort = guestPort
        }

        var text: String { "hostfwd=\(udp ? "udp" : "tcp"):\(hostPort)-:\(guestPort)" }
    }

    /// QEMU's restrict=on: the guest reaches nothing outside; only forwarded ports connect in.
    public var restricted = false
    public var hostForwards: [HostForward] = []

    public init(restricted: Bool = false, hostForwards: [HostForward] = []) {
        self.restricted = restricted
        self.hostForwards = hostForwards
    }

    var parts: [String] { (restricted ? ["restrict=on"] : []) + hostForwards.map(\.text) }

    mutating func apply(_ part: String) throws {
        guard let equals = part.firstIndex(of: "=") else {
            throw NetOptionError("--net user option '\(part)' is not NAME=VALUE (hostfwd=... or restrict=on|off)")
        }
        let name = part[..<equals], value = String(part[part.index(after: equals)...])
        switch name {
        case "restrict":
            switch value {
            case "on", "yes": restricted = true
            case "off", "no": restricted = false
            default: throw NetOptionError("--net user: restrict must be on or off (got '\(value)')")
            }
        case "hostfwd":
            let forward = try UserNetworkOptions.parseHostForward(value)
            if let other = hostForwards.first(where: { $0.udp == forward.udp && $0.hostPort == forward.hostPort }) {
                throw NetOptionError("--net user: host port \(forward.hostPort) is forwarded twice "
                                     + "(to guest ports \(other.guestPort) and \(forward.guestPort))")
            }
            hostForwards.append(forward)
        default:
            throw NetOptionError("--net user: unknown option '\(name)' (known: hostfwd, restrict)")
        }
    }

    /// `tcp:HOSTPORT-:GUESTPORT`, also with QEMU's address fields: `tcp:[127.0.0.1]:HOSTPORT-[10.0.2.15]:GUESTPORT`.
    static func parseHostForward(_ value: String) throws -> HostForward {
        let usage = "hostfwd must be tcp:HOSTPORT-:GUESTPORT (or udp:...)"
        let sides = value.split(separator: "-", omittingEmptySubsequences: false)
        guard sides.count == 2 else { throw NetOptionError("--net user: \(usage) (got '\(value)')") }
        var host = sides[0].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let protocolName = host.removeFirst()
        guard protocolName == "tcp" || protocolName == "udp" else {
            throw NetOptionError("--net user: hostfwd protocol must be tcp or udp (got '\(protocolName)')")
        }
        let guest = sides[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(host.count), guest.count == 2 else {
            throw NetOptionError("--net user: \(usage) (got '\(value)')")
        }
        if host.count == 2, !["", "127.0.0.1", "localhost"].contains(host[0]) {
            throw NetOptionError("--net user: hostfwd listens on the host's 127.0.0.1 only (got '\(host[0])')")
        }
        guard ["", UserNetwork.guestAddress].contains(guest[0]) else {
            throw NetOptionError("--net user: hostfwd forwards to the guest's \(UserNetwork.guestAddress) only "
                                 + "(got '\(guest[0])')")
        }
        func port(_ text: String, _ what: String) throws -> UInt16 {
            guard let number = UInt16(text), number > 0 else {
                throw NetOptionError("--net user: hostfwd \(what) port must be 1-65535 (got '\(text)')")
            }
            return number
        }
        return HostForward(udp: protocolName == "udp", hostPort: try port(host.last!, "host"),
                           guestPort: try port(guest[1], "guest"))
    }
}

extension UserNetworkOptions {
    /// Refuses (one line) a forwarded host port that something on the host's 127.0.0.1 already holds, so that
    /// rrctl can say so before it starts anything. (The device process checks again when it listens.)
    public func checkHostPortsAreFree() throws {
        for forward in hostForwards {
            let descriptor = socket(AF_INET, Int32(forward.udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            var reuse: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = forward.hostPort.bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                throw NetOptionError("--net user: cannot forward \(forward.udp ? "udp" : "tcp") port \(forward.hostPort) "
                                     + "of 127.0.0.1: \(String(cString: strerror(errno)))")
            }
        }
    }
}
