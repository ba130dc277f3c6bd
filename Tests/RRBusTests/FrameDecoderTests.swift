import RRBus
import XCTest

final class FrameDecoderTests: XCTestCase {
    func testFramesSplitAtEveryByteBoundaryReassemble() throws {
        let payloads: [[UInt8]] = [[], [1], Array(0..<200), [UInt8](repeating: 7, count: 70_000)]
        var stream: [UInt8] = []
        for payload in payloads { FrameCodec.append(payload, to: &stream) }
        for chunkSize in [1, 3, 4, 5, 4096, stream.count] {
            var decoder = FrameDecoder()
            var decoded: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let end = min(offset + chunkSize, stream.count)
                stream[offset..<end].withUnsafeBytes { decoder.feed($0) }
                while let frame = try decoder.next() { decoded.append(frame) }
                offset = end
            }
            XCTAssertEqual(decoded, payloads, "chunk size \(chunkSize)")
        }
    }

    /// A lane decodes every frame into one array: each payload is whole whatever the one before left there (longer
    /// or shorter), and a payload a receiver kept stays as it was.
    func testFramesDecodedIntoOneArrayAreWholeAndKeptOnesUnchanged() throws {
        let payloads: [[UInt8]] = [Array(0..<200), [9], [], [UInt8](repeating: 7, count: 5000), [1, 2, 3]]
        var stream: [UInt8] = []
        for payload in payloads { FrameCodec.append(payload, to: &stream) }
        var decoder = FrameDecoder()
        stream.withUnsafeBytes { decoder.feed($0) }
        var frame: [UInt8] = [0xEE, 0xEE]
        var kept: [[UInt8]] = []
        while try decoder.next(into: &frame) { kept.append(frame) }
        XCTAssertEqual(kept, payloads)
        XCTAssertFalse(try decoder.next(into: &frame))
    }

    func testOversizedLengthIsRefusedBeforeAllocating() {
        var decoder = FrameDecoder()
        ([0xF0, 0xFF, 0xFF, 0xFF] as [UInt8]).withUnsafeBytes { decoder.feed($0) }
        XCTAssertThrowsError(try decoder.next()) { error in
            XCTAssertEqual(error as? BusError, .oversizedFrame(0xFFFF_FFF0))
        }
    }

    func testAddressParsing() throws {
        XCTAssertEqual(try BusAddress(parsing: "tcp:127.0.0.1:7000"), .tcp(host: "127.0.0.1", port: 7000))
        XCTAssertEqual(try BusAddress(parsing: "unix:/tmp/x.sock"), .unix(path: "/tmp/x.sock"))
        XCTAssertEqual(try BusAddress(parsing: "/tmp/y.sock"), .unix(path: "/tmp/y.sock"))
        XCTAssertThrowsError(try BusAddress(parsing: "tcp:host"))
        XCTAssertThrowsError(try BusAddress(parsing: "tcp:host:99999"))
        XCTAssertThrowsError(try BusAddress(parsing: "unix:/" + String(repeating: "a", count: 120)))
    }
}
