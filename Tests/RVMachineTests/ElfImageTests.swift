import Foundation
import RVMachine
import XCTest

final class ElfImageTests: XCTestCase {
    /// Assembles and links a small bare-metal program with text at 0x8000_0000 and data + bss after it.
    private func buildRealElf() throws -> [UInt8] {
        let directory = try temporaryDirectory(self)
        let source = directory.appendingPathComponent("start.S")
        let script = directory.appendingPathComponent("link.ld")
        let output = directory.appendingPathComponent("start.elf")
        try """
        .section .text.start
        .globl _start
        _start:
          csrr a0, mhartid
          j _start
        .section .data
        value: .dword 0x1122334455667788
        .section .bss
        buffer: .space 4096
        """.write(to: source, atomically: true, encoding: .utf8)
        try """
        ENTRY(_start)
        SECTIONS {
          . = 0x80000000;
          .text : { *(.text.start) *(.text*) }
          . = 0x80001000;
          .data : { *(.data*) }
          .bss : { *(.bss*) }
        }
        """.write(to: script, atomically: true, encoding: .utf8)
        try runTool("/usr/bin/riscv64-unknown-elf-gcc", [
            "-nostdlib", "-nostartfiles", "-march=rv64gc", "-mabi=lp64d", "-T", script.path,
            "-Wl,--no-relax", "-o", output.path, source.path,
        ])
        return try [UInt8](Data(contentsOf: output))
    }

    func testLoadsSegmentsOfARealElf() throws {
        let image = try ElfImage(bytes: buildRealElf())
        XCTAssertEqual(image.entry, 0x8000_0000)
        XCTAssertEqual(image.physicalEntry, 0x8000_0000)
        let text = try XCTUnwrap(image.segments.first { $0.physicalAddress == 0x8000_0000 })
        // csrr a0, mhartid = 0xf1402573, little-endian.
        XCTAssertEqual(Array(text.data.prefix(4)), [0x73, 0x25, 0x40, 0xf1])
        let data = try XCTUnwrap(image.segments.first { $0.physicalAddress == 0x8000_1000 })
        XCTAssertEqual(Array(data.data.prefix(8)), [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        XCTAssertEqual(data.memorySize, 8 + 4096, "the .bss follows .data in the same segment")
        XCTAssertEqual(image.physicalRange, 0x8000_0000..<0x8000_2008)
    }

    func testRefusesNonElf() {
        XCTAssertThrowsError(try ElfImage(bytes: Array("#!/bin/sh\necho hello\n".utf8))) { error in
            XCTAssertTrue("\(error)".contains("magic"), "\(error)")
        }
        XCTAssertThrowsError(try ElfImage(bytes: []))
    }

    func testRefusesWrongClassEndiannessAndMachine() throws {
        let good = try buildRealElf()
        var elf32 = good
        elf32[4] = 1
        XCTAssertThrowsError(try ElfImage(bytes: elf32)) { XCTAssertTrue("\($0)".contains("ELF32"), "\($0)") }
        var bigEndian = good
        bigEndian[5] = 2
        XCTAssertThrowsError(try ElfImage(bytes: bigEndian)) { XCTAssertTrue("\($0)".contains("big-endian"), "\($0)") }
        var x86 = good
        x86[18] = 62
        x86[19] = 0
        XCTAssertThrowsError(try ElfImage(bytes: x86)) { XCTAssertTrue("\($0)".contains("machine 62"), "\($0)") }
    }

    func testRefusesTruncatedFiles() throws {
        let good = try buildRealElf()
        XCTAssertThrowsError(try ElfImage(bytes: Array(good.prefix(40)))) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
        // Cut inside the program header table, then inside the text segment's contents.
        XCTAssertThrowsError(try ElfImage(bytes: Array(good.prefix(100)))) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
        let loadEnd = programHeaders(good).filter { $0.type == 1 }.map { $0.offset + $0.fileSize }.max() ?? 0
        XCTAssertGreaterThan(loadEnd, 64)
        XCTAssertThrowsError(try ElfImage(bytes: Array(good.prefix(Int(loadEnd) - 1)))) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
    }

    private func programHeaders(_ bytes: [UInt8]) -> [(type: UInt32, offset: UInt64, fileSize: UInt64)] {
        func value(_ at: Int, _ size: Int) -> UInt64 {
            (0..<size).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
        }
        let tableOffset = Int(value(32, 8))
        return (0..<Int(value(56, 2))).map { index in
            let at = tableOffset + index * 56
            return (UInt32(value(at, 4)), value(at + 8, 8), value(at + 32, 8))
        }
    }

    func testRefusesSegmentWhoseFileSizeExceedsMemorySize() throws {
        var bytes = try buildRealElf()
        let phoff = Int(bytes[32]) | Int(bytes[33]) << 8
        // Find the first PT_LOAD and make its memory size smaller than its file size.
        for index in 0..<Int(bytes[56]) {
            let at = phoff + index * 56
            if bytes[at] == 1 && bytes[at + 1] == 0 {
                for byte in 0..<8 { bytes[at + 40 + byte] = 0 }
                bytes[at + 40] = 1
                break
            }
        }
        XCTAssertThrowsError(try ElfImage(bytes: bytes)) { XCTAssertTrue("\($0)".contains("memory size"), "\($0)") }
    }
}
