import Foundation
import XCTest

/// Issue 14 with the default guest on 4 harts, reaching only the host's loopback through 10.0.2.2: a file
/// fetched from an HTTP server on the host's 127.0.0.1 while recording replays with that server gone, and a
/// host client reaches the guest's server through hostfwd.
final class LinuxNetworkTests: XCTestCase {
    private var scratch = ""

    override func setUpWithError() throws {
        let directory = ProcessInfo.processInfo.environment["RRVM_GUEST_DIR"] ?? Harness.projectRoot + "/cluster/out"
        guard FileManager.default.fileExists(atPath: directory + "/Image") else {
            throw XCTSkip("the default guest is not built (cluster/test.sh builds it)")
        }
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-netlinux-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: scratch) }

    private func unixLines(_ text: String) -> String { text.replacingOccurrences(of: "\r\n", with: "\n") }

    func testAFetchFromTheHostReplaysWithTheServerGone() throws {
        let token = "rrvm-net-\(UInt32.random(in: 0...UInt32.max))"
        let body = "file served by the host: \(token)\n"
        let server = try LoopbackHTTPServer(body: body)
        let log = scratch + "/fetch.log"
        let url = "http://10.0.2.2:\(server.port)/file.txt"
        let recording = try RRCtlRun(["up", "--smp", "4", "--record", log, "--eval", "fetch \(url); fetch -s \(url)"])
        XCTAssertEqual(recording.wait(seconds: 300), 0, recording.output + recording.errors)
        server.stop()
        let output = unixLines(recording.output)
        XCTAssertTrue(output.contains("network:        eth0 10.0.2.15/24, gateway 10.0.2.2\n"), output)
        XCTAssertTrue(output.contains("file served by the host: \(token)\n"), output)
        XCTAssertEqual(server.requests.first?.hasPrefix("GET /file.txt HTTP/1.0"), true, "\(server.requests)")
        // `fetch -s`: the body's size and CRC-32, as the host computes them.
        let summary = String(format: "HTTP 200, %d bytes, crc32 %08x, ", body.utf8.count, crc32(Array(body.utf8)))
        XCTAssertTrue(output.contains("fetch: \(url): \(summary)"), output)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(seconds: 300), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output, "console output byte for byte, the server gone")
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors)
    }

    func testAHostClientReachesTheGuestsServerThroughHostfwd() throws {
        let port = try freeLoopbackPort()
        let run = try RRCtlRun(["up", "--smp", "4", "--net", "user,hostfwd=tcp:\(port)-:80", "--eval", "serve 80"])
        XCTAssertTrue(run.waitForOutput("serve: listening on port 80", seconds: 300), run.output + run.errors)
        let answer = try httpGet(port: port, path: "/hello")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.0 200 OK"), answer)
        XCTAssertTrue(answer.hasSuffix("hello from the rrvm guest\n"), answer)
        XCTAssertEqual(run.wait(seconds: 120), 0, run.output + run.errors)
        XCTAssertTrue(unixLines(run.output).contains("serve: answered 'GET /hello HTTP/1.0' from 10.0.2.2\n"), run.output)
    }
}

/// CRC-32 (IEEE 802.3, as zlib's), a bit at a time.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc = ~UInt32(0)
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? crc >> 1 ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// A host port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() throws -> UInt16 {
    let probe = try LoopbackHTTPServer(body: "")
    probe.stop()
    return probe.port
}

/// GET http://127.0.0.1:PORT/PATH; the whole answer (header and body).
func httpGet(port: UInt16, path: String) throws -> String {
    guard let descriptor = connectToLoopback(port: port) else {
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
    }
    defer { close(descriptor) }
    var timeout = timeval(tv_sec: 60, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if got <= 0 { break }
        answer += buffer[0..<got]
    }
    return String(decoding: answer, as: UTF8.self)
}

/// A TCP connection to 127.0.0.1:`port`: its socket, or nil (with errno saying why) when it cannot be made.
func connectToLoopback(port: UInt16) -> Int32? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    var address = loopbackAddress(port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let reason = errno
        close(descriptor)
        errno = reason
        return nil
    }
    return descriptor
}

func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return address
}

/// A one-file HTTP/1.0 server on the host's 127.0.0.1 (any free port), answering every request with `body`
/// from a thread of its own until stopped.
final class LoopbackHTTPServer {
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var received: [String] = []

    var requests: [String] { lock.withLock { received } }

    init(body: String) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && Glibc.listen(listener, 8) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard listener >= 0, ready else { throw POSIXError(.EADDRINUSE) }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        let answer = Array("HTTP/1.0 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        Thread.detachNewThread { [weak self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }  // the listener was shut down
                var request = [UInt8](repeating: 0, count: 4096)
                let got = request.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
                if got > 0 {
                    let text = String(decoding: request[0..<got], as: UTF8.self)
                    self?.lock.withLock { self?.received.append(text) }
                }
                _ = answer.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                close(client)
            }
        }
    }

    private var stopped = false

    /// Stops listening: nothing on the host answers at that port any more.
    func stop() {
        guard !stopped else { return }
        stopped = true
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }
}
