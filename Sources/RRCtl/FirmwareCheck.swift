import ArgumentParser

/// Refuses files that cannot be what they are given as, before any process starts.
enum FirmwareCheck {
    /// RV64 major opcodes (bits 6..0 of a 32-bit instruction) that can start a firmware.
    private static let majorOpcodes: Set<UInt32> = [
        0x03, 0x07, 0x0F, 0x13, 0x17, 0x1B, 0x23, 0x27, 0x2F, 0x33, 0x37, 0x3B, 0x43, 0x47, 0x4B, 0x4F,
        0x53, 0x63, 0x67, 0x6F, 0x73,
    ]

    /// A raw firmware (OpenSBI fw_jump.bin) must start with a RISC-V instruction and not be text.
    static func validate(_ bytes: [UInt8], path: String) throws {
        guard bytes.count >= 64 else {
            throw ValidationError("firmware \(path) is not a RISC-V image: only \(bytes.count) bytes")
        }
        let looksLikeText = bytes.prefix(64).allSatisfy { (0x20...0x7E).contains($0) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        let first = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let isInstruction = first & 3 == 3 ? majorOpcodes.contains(first & 0x7F) : first & 0xFFFF != 0
        guard !looksLikeText, isInstruction, !bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) else {
            throw ValidationError("firmware \(path) is not a raw RISC-V image (its first bytes are not a RISC-V "
                                  + "instruction; give OpenSBI's fw_jump.bin)")
        }
    }

    /// A Linux RISC-V Image carries "RISCV\0\0\0" at offset 0x30 and "RSC\x05" at 0x38 (Documentation/riscv/boot-image-header.rst).
    static func validateKernelImage(_ bytes: [UInt8], path: String) throws {
        let magic: [UInt8] = Array("RISCV".utf8) + [0, 0, 0]
        let magic2: [UInt8] = Array("RSC".utf8) + [0x05]
        guard bytes.count >= 64, Array(bytes[0x30..<0x38]) == magic || Array(bytes[0x38..<0x3C]) == magic2 else {
            throw ValidationError("kernel \(path) is neither a RISC-V Linux Image (no RISCV magic at 0x30) nor an ELF")
        }
    }
}
