import Foundation
import XCTest

/// Issue 14 as a user checks it with the bare-metal virtio-net program: frames from the user-mode network
/// are recorded and come back from the log in replay; bad --net options stop rrctl before anything runs.
final class NetworkTests: XCTestCase {
    func testADHCPExchangeRecordsAndReplaysFromTheLog() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-net-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("dhcp.log").path
        let recording = try RRCtlRun(["up", "--smp", "4", "--bios", "none", "--kernel", try Harness.guest("virtio-net"),
                                      "--net", "user", "--record", log])
        XCTAssertEqual(recording.wait(), 0, recording.output + recording.errors)
        XCTAssertTrue(recording.output.contains("DHCP offer of 10.0.2.15 from 10.0.2.2"), recording.output)

        let inputs = try RRCtlRun(["log", "show", log, "--kind", "input"])
        XCTAssertEqual(inputs.wait(), 0, inputs.errors)
        // The offer: to the guest's broadcast from slirp's MAC (52:55:0a:00:02:02), IPv4.
        XCTAssertTrue(inputs.output.contains(" input frame of 590 bytes ffffffffffff52550a0002020800"), inputs.output)

        let replay = try RRCtlRun(["replay", log])
        XCTAssertEqual(replay.wait(), 0, replay.errors)
        XCTAssertEqual(replay.output, recording.output, "console output byte for byte")
        XCTAssertTrue(replay.errors.contains("matched the recording"), replay.errors)
    }

    func testMalformedOptionsAndAnOccupiedPortAreOneLineAndStartNothing() throws {
        let occupant = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(occupant) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(occupant, $0, length) == 0 && listen(occupant, 1) == 0
                && getsockname(occupant, $0, &length) == 0 }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let cases = [
            ("user,hostfwd=tcp:\(port)-:80", "cannot forward tcp port \(port) of 127.0.0.1"),
            ("user,hostfwd=tcp:8080", "hostfwd must be tcp:HOSTPORT-:GUESTPORT"),
            ("bridge", "--net must be"),
        ]
        for (option, message) in cases {
            let run = try RRCtlRun(["up", "--bios", "none", "--kernel", try Harness.guest("virtio-net"), "--net", option])
            XCTAssertNotEqual(run.wait(seconds: 30), 0, option)
            XCTAssertEqual(run.errors.split(separator: "\n").filter { $0.contains(message) }.count, 1, run.errors)
            XCTAssertTrue(run.leftovers().isEmpty, "\(option): \(run.leftovers())")
            XCTAssertEqual(run.output, "", "\(option): the guest never started")
        }
    }
}
