import RVPlatform

/// The reset vector at 0x1000, like QEMU's: every hart runs the same code, which loads a0 = mhartid and
/// a1 = the device tree's address and jumps to the entry (the firmware, or a bare ELF's entry) in M mode.
/// a2 is 0 (no fw_dynamic information: fw_jump and bare programs ignore it).
///
///     0x00  auipc t0, 0
///     0x04  csrr  a0, mhartid
///     0x08  ld    a1, 32(t0)
///     0x0c  ld    t0, 24(t0)
///     0x10  li    a2, 0
///     0x14  jr    t0
///     0x18  .dword entry
///     0x20  .dword fdtAddress
public enum BootROM {
    public static func build(entry: UInt64, fdtAddress: UInt64) -> [UInt8] {
        let t0: UInt32 = 5, a0: UInt32 = 10, a1: UInt32 = 11, a2: UInt32 = 12
        let mhartid = UInt32(CSRNumber.mhartid)
        let words: [UInt32] = [
            (t0 << 7) | 0x17,  // auipc t0, 0
            iType(opcode: 0x73, rd: a0, funct3: 2, rs1: 0, immediate: mhartid),  // csrrs a0, mhartid, x0
            iType(opcode: 0x03, rd: a1, funct3: 3, rs1: t0, immediate: 32),  // ld a1, 32(t0)
            iType(opcode: 0x03, rd: t0, funct3: 3, rs1: t0, immediate: 24),  // ld t0, 24(t0)
            iType(opcode: 0x13, rd: a2, funct3: 0, rs1: 0, immediate: 0),  // addi a2, x0, 0
            iType(opcode: 0x67, rd: 0, funct3: 0, rs1: t0, immediate: 0),  // jalr x0, 0(t0)
        ]
        var bytes: [UInt8] = []
        for word in words { bytes += littleEndianBytes(UInt64(word), count: 4) }
        bytes += littleEndianBytes(entry, count: 8)
        bytes += littleEndianBytes(fdtAddress, count: 8)
        return bytes
    }

    private static func iType(opcode: UInt32, rd: UInt32, funct3: UInt32, rs1: UInt32, immediate: UInt32) -> UInt32 {
        (immediate & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
    }

    private static func littleEndianBytes(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
