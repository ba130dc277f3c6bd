/// A sanity check for raw (non-ELF) images, which carry no header saying what they are.
///
/// Accepted: a Linux RISC-V `Image` (magic "RSC\x05" at offset 56 of its header), or a file whose
/// first 64 bytes decode entirely as valid RV64GC instructions (OpenSBI's fw_jump.bin begins with code
/// at its first byte, as does any bare-metal binary linked to run at its load address). Refused
/// before that: empty files, text (the first 64 bytes all printable), and the formats most easily
/// passed by mistake (device tree, gzip, xz, zstd, bzip2, cpio), each named in the reason. Random
/// bytes pass the instruction check about twice in a thousand (measured on 10,000 random 256-byte files).
public enum RISCVImageCheck {
    static let checkedBytes = 64

    /// nil if `bytes` look like a raw RISC-V image, otherwise why not.
    public static func problem(withRawImage bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return "the file is empty" }
        if isLinuxImage(bytes) { return nil }
        let knownFormats: [([UInt8], String)] = [
            ([0xd0, 0x0d, 0xfe, 0xed], "a device tree blob"),
            ([0x1f, 0x8b], "gzip-compressed (decompress it first)"),
            ([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], "xz-compressed (decompress it first)"),
            ([0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed (decompress it first)"),
            ([0x42, 0x5a, 0x68], "bzip2-compressed (decompress it first)"),
            (Array("070701".utf8), "a cpio archive (an initrd?)"),
            (Array("070702".utf8), "a cpio archive (an initrd?)"),
        ]
        for (magic, format) in knownFormats where bytes.starts(with: magic) { return "the file is \(format)" }
        let head = bytes.prefix(64)
        if head.allSatisfy({ ($0 >= 0x20 && $0 < 0x7f) || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }) {
            return "the file is text, not machine code"
        }
        var offset = 0
        while offset < min(bytes.count, checkedBytes) {
            let low = UInt16(bytes[offset]) | UInt16(offset + 1 < bytes.count ? bytes[offset + 1] : 0) << 8
            if low & 3 != 3 {
                guard isValidCompressed(low) else {
                    return "bytes at offset \(offset) (0x\(String(low, radix: 16))) are not a RISC-V instruction"
                }
                offset += 2
                continue
            }
            guard offset + 4 <= bytes.count else { return "the file ends inside an instruction" }
            let word = UInt32(low) | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            guard isValidStandard(word) else {
                return "bytes at offset \(offset) (0x\(String(word, radix: 16))) are not a RISC-V instruction"
            }
            offset += 4
        }
        return nil
    }

    /// The RISC-V Linux kernel image header: magic2 "RSC\x05" at offset 56.
    public static func isLinuxImage(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 64 && Array(bytes[56..<60]) == [0x52, 0x53, 0x43, 0x05]
    }

    /// A 32-bit RV64GC encoding (major opcode, plus the funct fields that leave reserved gaps).
    static func isValidStandard(_ word: UInt32) -> Bool {
        let opcode = word & 0x7f
        let funct3 = (word >> 12) & 7
        let funct7 = word >> 25
        let rs2 = (word >> 20) & 0x1f
        switch opcode {
        case 0x03: return funct3 != 7  // loads
        case 0x07, 0x27: return funct3 == 2 || funct3 == 3  // FLW/FLD, FSW/FSD
        case 0x0f: return funct3 <= 1  // FENCE, FENCE.I
        case 0x13:
            if funct3 == 1 { return word >> 26 == 0 }  // SLLI
            if funct3 == 5 { return word >> 26 == 0 || word >> 26 == 0x10 }  // SRLI, SRAI
            return true
        case 0x17, 0x37, 0x6f: return true  // AUIPC, LUI, JAL
        case 0x1b:
            switch funct3 {
            case 0: return true
            case 1: return funct7 == 0
            case 5: return funct7 == 0 || funct7 == 0x20
            default: return false
            }
        case 0x23: return funct3 <= 3  // stores
        case 0x2f:
            let funct5 = word >> 27
            guard funct3 == 2 || funct3 == 3, [0, 1, 2, 3, 4, 8, 0xc, 0x10, 0x14, 0x18, 0x1c].contains(funct5) else {
                return false
            }
            return funct5 != 2 || rs2 == 0  // LR has no rs2
        case 0x33:
            switch funct7 {
            case 0, 1: return true
            case 0x20: return funct3 == 0 || funct3 == 5
            default: return false
            }
        case 0x3b:
            switch funct7 {
            case 0: return funct3 == 0 || funct3 == 1 || funct3 == 5
            case 0x20: return funct3 == 0 || funct3 == 5
            case 1: return [0, 4, 5, 6, 7].contains(funct3)
            default: return false
            }
        case 0x43, 0x47, 0x4b, 0x4f, 0x53: return (word >> 25) & 3 <= 1  // single or double format
        case 0x63: return funct3 != 2 && funct3 != 3  // branches
        case 0x67: return funct3 == 0  // JALR
        case 0x73:
            switch funct3 {
            case 0:
                return [0x0000_0073, 0x0010_0073, 0x3020_0073, 0x1020_0073, 0x1050_0073].contains(word)
                    || (funct7 == 0x09 && (word >> 7) & 0x1f == 0)  // ECALL EBREAK MRET SRET WFI, SFENCE.VMA
            case 4: return false
            default: return true  // CSR instructions
            }
        default: return false
        }
    }

    /// A 16-bit RV64C encoding, refusing the all-zero illegal instruction and the reserved forms.
    static func isValidCompressed(_ half: UInt16) -> Bool {
        guard half != 0 else { return false }
        let funct3 = half >> 13
        let rd = (half >> 7) & 0x1f
        let rs2 = (half >> 2) & 0x1f
        switch (half & 3, funct3) {
        case (0, 0): return (half >> 5) & 0xff != 0  // C.ADDI4SPN needs a non-zero immediate
        case (0, 4): return false  // reserved
        case (1, 1): return rd != 0  // C.ADDIW
        case (1, 3): return (half >> 12) & 1 != 0 || rs2 != 0  // C.ADDI16SP / C.LUI need a non-zero immediate
        case (1, 4):
            // C.SUBW/C.ADDW exist, the two encodings after them are reserved.
            return !((half >> 10) & 3 == 3 && (half >> 12) & 1 == 1 && (half >> 5) & 3 >= 2)
        case (2, 2), (2, 3): return rd != 0  // C.LWSP, C.LDSP
        case (2, 4): return (half >> 12) & 1 == 1 || rs2 != 0 || rd != 0  // C.JR needs rs1
        default: return true
        }
    }
}
