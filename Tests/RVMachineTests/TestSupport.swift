import Foundation
import RVMachine
import XCTest

/// Runs a host tool and returns its standard output; fails the test (throws) on a non-zero exit.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> Data {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(path) is not installed") }
    // Output goes to files, not pipes, so a chatty tool can never block on a full pipe.
    let directory = FileManager.default.temporaryDirectory
    let outURL = directory.appendingPathComponent("tool-out-\(UUID().uuidString)")
    let errURL = directory.appendingPathComponent("tool-err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let message = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        throw NSError(domain: "runTool", code: Int(process.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: "\(path) \(arguments) failed: \(message)"])
    }
    return try Data(contentsOf: outURL)
}

/// A fresh temporary directory, removed when the test case ends.
func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("rvmachine-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Guest RAM for device tests: a zeroed host buffer seen through `GuestMemory`.
final class FakeRAM {
    let memory: GuestMemory
    private let buffer: UnsafeMutableRawPointer

    init(base: UInt64 = 0x8000_0000, size: Int = 1 << 20) {
        buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        memory = GuestMemory(base: buffer, guestBase: base, size: UInt64(size))
    }

    deinit { buffer.deallocate() }
}

let clockZero = DeviceClock(globalCount: 0, mtime: 0)

/// Calls on a device that collect the effects of a whole sequence.
struct DeviceProbe {
    let device: DeviceModel
    var effects = DeviceEffects()
    var clock = clockZero

    init(_ device: DeviceModel) { self.device = device }

    mutating func read(_ offset: UInt64, size: Int = 4) -> UInt64? {
        device.read(offset: offset, size: size, clock: clock, effects: &effects)
    }

    @discardableResult
    mutating func write(_ offset: UInt64, _ value: UInt64, size: Int = 4) -> Bool {
        device.write(offset: offset, size: size, value: value, clock: clock, effects: &effects)
    }

    /// The effects gathered since the last call, cleared.
    mutating func take() -> DeviceEffects {
        defer { effects = DeviceEffects() }
        return effects
    }
}

extension DeviceEffects {
    /// Source line changes as "source=level" strings, for comparisons.
    var sourceChanges: [String] { sourceLevels.map { "\($0.source)=\($0.level ? 1 : 0)" } }
    /// Hart line changes as "hart:line=level" strings, for comparisons.
    var hartChanges: [String] { hartLines.map { "\($0.hart):\($0.line)=\($0.level ? 1 : 0)" } }
}
