import Foundation
import RRBus
import RRNet
import XCTest

/// Frames as a guest builds them (Ethernet, ARP, IPv4, UDP, TCP, BOOTP), and the parts of slirp's answers
/// the tests look at. Addresses are QEMU's: the guest 10.0.2.15, the gateway 10.0.2.2.
enum Packet {
    static let guestMAC: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
    static let broadcastMAC = [UInt8](repeating: 0xff, count: 6)
    static let guest: [UInt8] = [10, 0, 2, 15], gateway: [UInt8] = [10, 0, 2, 2]

    static func be16(_ value: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)] }
    static func be32(_ value: UInt32) -> [UInt8] { be16(Int(value >> 16)) + be16(Int(value & 0xffff)) }

    static func checksum(_ bytes: [UInt8]) -> [UInt8] {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) {
            sum += UInt32(bytes[index]) << 8 | UInt32(index + 1 < bytes.count ? bytes[index + 1] : 0)
        }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return be16(Int(~sum & 0xffff))
    }

    static func ethernet(to destination: [UInt8], type: Int, _ payload: [UInt8]) -> [UInt8] {
        destination + guestMAC + be16(type) + payload
    }

    static func arpRequest(for target: [UInt8]) -> [UInt8] {
        ethernet(to: broadcastMAC, type: 0x0806, be16(1) + be16(0x0800) + [6, 4] + be16(1) + guestMAC + guest
                 + [UInt8](repeating: 0, count: 6) + target)
    }

    static func ipv4(from source: [UInt8], to destination: [UInt8], protocol number: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var header = [0x45, 0] + be16(20 + payload.count) + be16(1) + be16(0) + [64, number] + [0, 0] + source + destination
        header.replaceSubrange(10..<12, with: checksum(header))
        return header + payload
    }

    static func dhcpDiscover(transaction: UInt32) -> [UInt8] {
        var bootp: [UInt8] = [1, 1, 6, 0] + be32(transaction) + be16(0) + be16(0x8000)
        bootp += [UInt8](repeating: 0, count: 16) + guestMAC + [UInt8](repeating: 0, count: 10 + 64 + 128)
        bootp += [99, 130, 83, 99, 53, 1, 1, 255]
        bootp += [UInt8](repeating: 0, count: 236 + 312 - bootp.count)
        let udp = be16(68) + be16(67) + be16(8 + bootp.count) + be16(0) + bootp
        return ethernet(to: broadcastMAC, type: 0x0800, ipv4(from: [0, 0, 0, 0], to: [255, 255, 255, 255],
                                                             protocol: 17, udp))
    }

    static func tcpSyn(to port: Int, from sourcePort: Int, gatewayMAC: [UInt8]) -> [UInt8] {
        var tcp = be16(sourcePort) + be16(port) + be32(1000) + be32(0) + [0x50, 0x02] + be16(64240) + [0, 0] + be16(0)
        let pseudo = guest + gateway + [0, 6] + be16(tcp.count)
        tcp.replaceSubrange(16..<18, with: checksum(pseudo + tcp))
        return ethernet(to: gatewayMAC, type: 0x0800, ipv4(from: guest, to: gateway, protocol: 6, tcp))
    }

    /// An IPv4 frame's protocol and payload (after the IP header), if it is one.
    static func ipPayload(_ frame: [UInt8]) -> (source: [UInt8], destination: [UInt8], protocol: UInt8, payload: [UInt8])? {
        guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0 else { return nil }
        let length = Int(frame[14] & 0xf) * 4
        let total = Int(frame[16]) << 8 | Int(frame[17])
        guard frame.count >= 14 + total, total >= length else { return nil }
        return (Array(frame[26..<30]), Array(frame[30..<34]), frame[23], Array(frame[(14 + length)..<(14 + total)]))
    }
}

/// A TCP socket on the host's loopback (non-blocking), closed at the end of the test.
final class LoopbackSocket {
    let descriptor: Int32

    init(_ testCase: XCTestCase) {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(descriptor >= 0)
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        testCase.addTeardownBlock { [descriptor] in close(descriptor) }
    }

    static func address(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    /// Listens on 127.0.0.1:`port` (0: any free port) and returns the port.
    func listen(port: UInt16 = 0) -> UInt16 {
        var address = LoopbackSocket.address(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(bound == 0 && Glibc.listen(descriptor, 4) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    func connect(port: UInt16) {
        var address = LoopbackSocket.address(port: port)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Accepts a waiting connection (closing it), false when none is waiting.
    func acceptOne() -> Bool {
        let accepted = accept(descriptor, nil, nil)
        guard accepted >= 0 else { return false }
        close(accepted)
        return true
    }
}

final class UserNetworkTests: XCTestCase {
    var loop: EventLoop!
    var received: [[UInt8]] = []

    override func setUp() {
        loop = EventLoop()
        received = []
    }

    func start(_ options: UserNetworkOptions = UserNetworkOptions()) throws -> UserNetwork {
        let network = try UserNetwork(loop: loop, options: options) { [unowned self] in self.received.append($0) }
        addTeardownBlock { network.shutDown() }
        return network
    }

    /// Runs the loop until `condition` holds, for at most `seconds`; returns whether it held.
    @discardableResult
    func run(seconds: Double = 5, until condition: () -> Bool) -> Bool {
        let ticker = LoopTimer(loop: loop)
        ticker.start(milliseconds: 10, repeatMilliseconds: 10) {}
        defer { ticker.close() }
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return false }
            loop.runOnce()
        }
        return true
    }

    /// The gateway's MAC address, from its answer to the guest's ARP request.
    func resolveGateway(_ network: UserNetwork) -> [UInt8]? {
        network.send(frame: Packet.arpRequest(for: Packet.gateway))
        var reply: [UInt8]?
        run { reply = received.first { $0.count >= 42 && $0[12] == 0x08 && $0[13] == 0x06 && $0[21] == 2 }; return reply != nil }
        guard let reply else { return nil }
        XCTAssertEqual(Array(reply[28..<32]), Packet.gateway, "the reply is for 10.0.2.2")
        XCTAssertEqual(Array(reply[0..<6]), Packet.guestMAC, "and addressed to the guest")
        return Array(reply[22..<28])
    }

    func testDHCPOffersTheGuestItsUsualAddress() throws {
        let network = try start()
        network.send(frame: Packet.dhcpDiscover(transaction: 0x1234_5678))
        var offer: [UInt8]?
        run {
            offer = received.lazy.compactMap(Packet.ipPayload).first { $0.protocol == 17 && $0.payload.count > 8 }?.payload
            return offer != nil
        }
        let udp = try XCTUnwrap(offer, "no DHCP answer")
        let bootp = Array(udp[8...])
        XCTAssertEqual(Array(udp[0..<4]), Packet.be16(67) + Packet.be16(68))
        XCTAssertEqual(bootp[0], 2, "BOOTREPLY")
        XCTAssertEqual(Array(bootp[4..<8]), Packet.be32(0x1234_5678))
        XCTAssertEqual(Array(bootp[16..<20]), Packet.guest, "yiaddr 10.0.2.15")
        var options: [UInt8: [UInt8]] = [:]
        var index = 240
        while index + 1 < bootp.count, bootp[index] != 255 {
            if bootp[index] == 0 { index += 1; continue }
            let length = Int(bootp[index + 1])
            options[bootp[index]] = Array(bootp[(index + 2)..<min(bootp.count, index + 2 + length)])
            index += 2 + length
        }
        XCTAssertEqual(options[53], [2], "DHCPOFFER")
        XCTAssertEqual(options[54], Packet.gateway, "server 10.0.2.2")
        XCTAssertEqual(options[3], Packet.gateway, "router 10.0.2.2")
        XCTAssertEqual(options[6], [10, 0, 2, 3], "DNS 10.0.2.3")
    }

    func testTCPToTheGatewayReachesTheHostsLoopback() throws {
        let listener = LoopbackSocket(self)
        let port = listener.listen()
        let network = try start()
        let gatewayMAC = try XCTUnwrap(resolveGateway(network))
        received.removeAll()
        network.send(frame: Packet.tcpSyn(to: Int(port), from: 40000, gatewayMAC: gatewayMAC))
        XCTAssertTrue(run { listener.acceptOne() }, "the host's 127.0.0.1:\(port) sees the connection")
        var synAck: (source: [UInt8], destination: [UInt8], protocol: UInt8, payload: [UInt8])?
        run {
            synAck = received.lazy.compactMap(Packet.ipPayload).first { $0.protocol == 6 }
            return synAck != nil
        }
        let answer = try XCTUnwrap(synAck, "no answer to the SYN")
        XCTAssertEqual(answer.source, Packet.gateway)
        XCTAssertEqual(answer.destination, Packet.guest)
        XCTAssertEqual(Array(answer.payload[0..<4]), Packet.be16(Int(port)) + Packet.be16(40000))
        XCTAssertEqual(answer.payload[13] & 0x12, 0x12, "SYN+ACK")
    }

    func testRestrictKeepsTheGuestInside() throws {
        let listener = LoopbackSocket(self)
        let port = listener.listen()
        let network = try start(UserNetworkOptions(restricted: true))
        let gatewayMAC = try XCTUnwrap(resolveGateway(network))
        network.send(frame: Packet.tcpSyn(to: Int(port), from: 40001, gatewayMAC: gatewayMAC))
        XCTAssertFalse(run(seconds: 0.5) { listener.acceptOne() }, "restrict=on: no connection leaves the guest")
    }

    func testHostForwardConnectsIntoTheGuest() throws {
        let probe = LoopbackSocket(self)
        let hostPort = probe.listen()
        close(probe.descriptor)  // a port that was free a moment ago
        let network = try start(UserNetworkOptions(hostForwards: [.init(hostPort: hostPort, guestPort: 8080)]))
        _ = try XCTUnwrap(resolveGateway(network))  // slirp learns the guest's MAC from its request
        received.removeAll()
        let client = LoopbackSocket(self)
        client.connect(port: hostPort)
        var syn: (source: [UInt8], destination: [UInt8], protocol: UInt8, payload: [UInt8])?
        run {
            syn = received.lazy.compactMap(Packet.ipPayload).first { $0.protocol == 6 }
            return syn != nil
        }
        let packet = try XCTUnwrap(syn, "no SYN towards the guest")
        XCTAssertEqual(packet.destination, Packet.guest)
        XCTAssertEqual(Array(packet.payload[2..<4]), Packet.be16(8080), "to the forwarded guest port")
        XCTAssertEqual(packet.payload[13] & 0x12, 0x02, "a SYN")
    }

    func testAnOccupiedHostPortIsRefusedInOneLine() throws {
        let occupant = LoopbackSocket(self)
        let port = occupant.listen()
        XCTAssertThrowsError(try start(UserNetworkOptions(hostForwards: [.init(hostPort: port, guestPort: 80)]))) {
            let message = "\($0)"
            XCTAssertTrue(message.contains("port \(port)"), message)
            XCTAssertFalse(message.contains("\n"))
        }
    }
}

final class NetOptionTests: XCTestCase {
    func testParsesQEMUsSpelling() throws {
        XCTAssertEqual(try NetOption(parsing: "none"), NetOption.none)
        XCTAssertEqual(try NetOption(parsing: "user"), .user(UserNetworkOptions()))
        let option = try NetOption(parsing: "user,hostfwd=tcp:8022-:22,restrict=on,hostfwd=tcp::8080-10.0.2.15:80,"
                                   + "hostfwd=udp:127.0.0.1:5353-:53")
        XCTAssertEqual(option, .user(UserNetworkOptions(restricted: true, hostForwards: [
            .init(hostPort: 8022, guestPort: 22), .init(hostPort: 8080, guestPort: 80),
            .init(udp: true, hostPort: 5353, guestPort: 53),
        ])))
        XCTAssertEqual(try NetOption(parsing: option.description), option, "the canonical text parses back")
    }

    func testMalformedOptionsAreOneClearLine() {
        let cases: [(String, String)] = [
            ("tap", "--net must be"),
            ("none,restrict=on", "takes no options"),
            ("user,restrict", "NAME=VALUE"),
            ("user,restrict=maybe", "restrict must be on or off"),
            ("user,dns=1.1.1.1", "unknown option 'dns'"),
            ("user,hostfwd=tcp:8022", "hostfwd must be"),
            ("user,hostfwd=sctp:1-:2", "tcp or udp"),
            ("user,hostfwd=tcp:0-:22", "host port must be 1-65535 (got '0')"),
            ("user,hostfwd=tcp:8022-:70000", "guest port must be 1-65535 (got '70000')"),
            ("user,hostfwd=tcp:192.168.1.5:8022-:22", "127.0.0.1 only"),
            ("user,hostfwd=tcp:8022-10.0.2.16:22", "10.0.2.15 only"),
            ("user,hostfwd=tcp:8022-:22,hostfwd=tcp:8022-:23", "forwarded twice"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try NetOption(parsing: text), text) {
                let message = "\($0)"
                XCTAssertTrue(message.contains(expected), "\(text): \(message)")
                XCTAssertFalse(message.contains("\n"), text)
            }
        }
    }
}
