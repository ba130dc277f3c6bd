/// An ELF64 little-endian RISC-V executable reduced to what a loader needs: the entry point and the
/// PT_LOAD segments placed by their physical addresses (p_paddr), as QEMU places `-bios none -kernel`.
public struct ElfImage: Equatable {
    public var entry: UInt64
    public var segments: [ElfSegment]

    public init(entry: UInt64, segments: [ElfSegment]) {
        self.entry = entry
        self.segments = segments
    }

    public init(bytes: [UInt8]) throws {
        let header = try ElfHeader(bytes)
        var segments: [ElfSegment] = []
        for index in 0..<Int(header.programHeaderCount) {
            let at = Int(header.programHeaderOffset) + index * ElfHeader.programHeaderSize
            let type = bytes.littleEndian(UInt32.self, at: at)
            guard type == 1 else { continue }  // PT_LOAD
            let offset = bytes.littleEndian(UInt64.self, at: at + 8)
            let virtualAddress = bytes.littleEndian(UInt64.self, at: at + 16)
            let physicalAddress = bytes.littleEndian(UInt64.self, at: at + 24)
            let fileSize = bytes.littleEndian(UInt64.self, at: at + 32)
            let memorySize = bytes.littleEndian(UInt64.self, at: at + 40)
            guard fileSize <= memorySize else {
                throw ElfError("program header \(index): file size \(fileSize) exceeds memory size \(memorySize)")
            }
            let (end, overflow) = offset.addingReportingOverflow(fileSize)
            guard !overflow, end <= UInt64(bytes.count) else {
                throw ElfError("truncated: program header \(index) needs bytes up to \(offset &+ fileSize), "
                    + "file has \(bytes.count)")
            }
            guard !physicalAddress.addingReportingOverflow(memorySize).overflow,
                  !virtualAddress.addingReportingOverflow(memorySize).overflow else {
                throw ElfError("program header \(index): segment wraps around the address space")
            }
            if memorySize == 0 { continue }
            segments.append(ElfSegment(
                physicalAddress: physicalAddress, virtualAddress: virtualAddress,
                data: Array(bytes[Int(offset)..<Int(end)]), memorySize: memorySize))
        }
        guard !segments.isEmpty else { throw ElfError("no loadable (PT_LOAD) segment") }
        self.segments = segments
        self.entry = header.entry
    }

    /// The entry point translated to a physical address through the segment that contains it (a kernel
    /// linked at a high virtual address but loaded low); the entry itself when no segment maps it.
    public var physicalEntry: UInt64 {
        for segment in segments where entry >= segment.virtualAddress
            && entry - segment.virtualAddress < segment.memorySize {
            return segment.physicalAddress + (entry - segment.virtualAddress)
        }
        return entry
    }

    /// The lowest and one-past-highest physical address covered by the loadable segments.
    public var physicalRange: Range<UInt64> {
        let low = segments.map(\.physicalAddress).min() ?? 0
        let high = segments.map { $0.physicalAddress + $0.memorySize }.max() ?? 0
        return low..<high
    }

    /// Whether `bytes` start with the ELF magic number (used to tell an ELF from a raw image).
    public static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7f && bytes[1] == 0x45 && bytes[2] == 0x4c && bytes[3] == 0x46
    }
}

public struct ElfSegment: Equatable {
    public var physicalAddress: UInt64
    public var virtualAddress: UInt64
    /// The file contents; the bytes from `data.count` to `memorySize` are zero (.bss).
    public var data: [UInt8]
    public var memorySize: UInt64

    public init(physicalAddress: UInt64, virtualAddress: UInt64? = nil, data: [UInt8], memorySize: UInt64) {
        self.physicalAddress = physicalAddress
        self.virtualAddress = virtualAddress ?? physicalAddress
        self.data = data
        self.memorySize = memorySize
    }
}

public struct ElfError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "not a loadable RISC-V ELF64 image: \(message)" }
}

private struct ElfHeader {
    static let size = 64
    static let programHeaderSize = 56

    var entry: UInt64
    var programHeaderOffset: UInt64
    var programHeaderCount: UInt16

    init(_ bytes: [UInt8]) throws {
        guard ElfImage.hasMagic(bytes) else { throw ElfError("no ELF magic number (0x7f 'E' 'L' 'F')") }
        guard bytes.count >= ElfHeader.size else {
            throw ElfError("truncated: \(bytes.count) bytes, shorter than the 64-byte ELF64 header")
        }
        guard bytes[4] == 2 else {
            throw ElfError(bytes[4] == 1 ? "ELF32 file, RV64 needs ELF64 (class 2)" : "unknown ELF class \(bytes[4])")
        }
        guard bytes[5] == 1 else {
            throw ElfError(bytes[5] == 2 ? "big-endian ELF, RISC-V is little-endian"
                : "unknown ELF data encoding \(bytes[5])")
        }
        guard bytes[6] == 1 else { throw ElfError("unknown ELF version \(bytes[6])") }
        let machine = bytes.littleEndian(UInt16.self, at: 18)
        guard machine == 243 else { throw ElfError("machine \(machine), expected RISC-V (EM_RISCV = 243)") }
        let type = bytes.littleEndian(UInt16.self, at: 16)
        guard type == 2 || type == 3 else {
            throw ElfError("type \(type) is not an executable (ET_EXEC = 2 or ET_DYN = 3)")
        }
        entry = bytes.littleEndian(UInt64.self, at: 24)
        programHeaderOffset = bytes.littleEndian(UInt64.self, at: 32)
        programHeaderCount = bytes.littleEndian(UInt16.self, at: 56)
        let entrySize = bytes.littleEndian(UInt16.self, at: 54)
        guard programHeaderCount > 0 else { throw ElfError("no program headers") }
        guard Int(entrySize) == ElfHeader.programHeaderSize else {
            throw ElfError("program header entry size \(entrySize), expected 56")
        }
        let tableSize = UInt64(programHeaderCount) * UInt64(ElfHeader.programHeaderSize)
        let (end, overflow) = programHeaderOffset.addingReportingOverflow(tableSize)
        guard !overflow, end <= UInt64(bytes.count) else {
            throw ElfError("truncated: program header table ends past the end of the file (\(bytes.count) bytes)")
        }
    }
}

extension Array where Element == UInt8 {
    /// A little-endian integer at `at`; the caller has checked the bounds.
    func littleEndian<T: FixedWidthInteger>(_ type: T.Type, at: Int) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size {
            value |= T(truncatingIfNeeded: self[at + index]) << (8 * index)
        }
        return value
    }
}
