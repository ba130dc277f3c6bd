import Foundation
@testable import RVHart
import XCTest

/// Runs the project's self-checking bare-metal programs (Tests/GuestPrograms, built with the Debian
/// cross compiler) on one in-process hart with a minimal UART, test finisher and CLINT (msip, 64-bit
/// mtimecmp and mtime only: the device programs belong to the machine's and the end-to-end tests). Skipped when the
/// compiler or the programs are missing; the end-to-end tests run the same programs through rrctl.
final class GuestProgramTests: XCTestCase {
    static let programs: [(name: String, satp: SatpMode)] = [
        ("rv64i", .sv39), ("rv64m", .sv39), ("rv64a", .sv39), ("rv64c", .sv39), ("rv64f", .sv39), ("rv64d", .sv39),
        ("zicsr", .sv39), ("traps", .sv39), ("misaligned", .sv39), ("sv39", .sv39), ("sv48", .sv48), ("pmp", .sv39),
    ]

    static let built: Result<URL, Error> = Result {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("GuestPrograms")
        let script = sources.appendingPathComponent("build.sh")
        guard FileManager.default.fileExists(atPath: script.path) else { throw Skip("no \(script.path)") }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("rvhart-guests-\(getpid())")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, output.path] + programs.map(\.name)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Skip("build.sh failed (no riscv64-unknown-elf-gcc?)") }
        return output
    }

    struct Skip: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func testProgramsPass() throws {
        let directory: URL
        switch Self.built {
        case .success(let url): directory = url
        case .failure(let error): throw XCTSkip("\(error)")
        }
        for (name, satp) in Self.programs {
            let elf = try Data(contentsOf: directory.appendingPathComponent("\(name).elf"))
            let (status, console) = try runProgram([UInt8](elf), satp: satp)
            XCTAssertEqual(status, 0, "\(name): \(console)")
            XCTAssertTrue(console.contains("PASS \(name)"), "\(name): \(console)")
        }
    }

    /// Loads the PT_LOAD segments at their physical addresses and runs until the finisher is written.
    func runProgram(_ elf: [UInt8], satp: SatpMode) throws -> (status: UInt64, console: String) {
        let ramBase: UInt64 = 0x8000_0000, ramSize: UInt64 = 64 << 20
        let ram = UnsafeMutableRawPointer.allocate(byteCount: Int(ramSize), alignment: 4096)
        defer { ram.deallocate() }
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: Int(ramSize))
        func field<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) -> T {
            elf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        }
        let entry: UInt64 = field(24, UInt64.self)
        let headers = Int(field(32, UInt64.self)), count = Int(field(56, UInt16.self))
        for index in 0..<count {
            let header = headers + index * 56
            guard field(header, UInt32.self) == 1 else { continue }
            let offset = Int(field(header + 8, UInt64.self)), paddr = field(header + 24, UInt64.self)
            let fileSize = Int(field(header + 32, UInt64.self))
            guard paddr >= ramBase, paddr - ramBase + UInt64(fileSize) <= ramSize else { throw Skip("segment outside RAM") }
            elf.withUnsafeBytes { (ram + Int(paddr - ramBase)).copyMemory(from: $0.baseAddress! + offset, byteCount: fileSize) }
        }
        let uart: UInt64 = 0x1000_0000, finisher: UInt64 = 0x10_0000, clint: UInt64 = 0x200_0000
        let hart = Hart(config: HartConfig(ram: ram, ramBase: ramBase, ramSize: ramSize, mmioRegions: [
            MemoryRegion(base: uart, size: 0x100), MemoryRegion(base: finisher, size: 0x1000),
            MemoryRegion(base: clint, size: 0x10000),
        ], icountShift: 4, maxSatpMode: satp))
        hart.pc = entry
        var console = "", msip: UInt64 = 0, mtimecmp: UInt64 = .max, global: UInt64 = 0
        while global < 2_000_000_000 {
            let mtime = global >> 4
            hart.setInterruptLines(msip << 3 | (mtime >= mtimecmp ? 1 << 7 : 0))
            var budget: UInt64 = 10_000
            if mtimecmp != .max, mtimecmp > mtime { budget = min(budget, (mtimecmp << 4) - global) }
            let before = hart.retired
            let reason = hart.run(budget: budget, globalCount: global)
            global += hart.retired - before
            switch reason {
            case .budgetExhausted, .breakpoint, .spinHint:
                continue
            case .waitingForInterrupt:
                guard mtimecmp != .max, mtimecmp > mtime else { return (255, console + " [waits forever]") }
                global = mtimecmp << 4
            case .mmio:
                let access = hart.pendingAccess
                var value: UInt64 = 0
                switch (access.address, access.isWrite) {
                case (uart, true): console.append(Character(UnicodeScalar(UInt8(truncatingIfNeeded: access.value))))
                case (uart + 5, false): value = 0x60
                case (finisher, true) where access.value & 0xffff == 0x5555: return (0, console)
                case (finisher, true) where access.value & 0xffff == 0x3333: return (access.value >> 16, console)
                case (clint, true): msip = access.value & 1
                case (clint, false): value = msip
                case (clint + 0x4000, true) where access.size == 8: mtimecmp = access.value
                case (clint + 0x4000, false) where access.size == 8: value = mtimecmp
                case (clint + 0xbff8, false) where access.size == 8: value = global >> 4
                default: break
                }
                hart.completeMMIO(value: value)
                global += 1
            }
        }
        return (255, console + " [instruction limit]")
    }
}
