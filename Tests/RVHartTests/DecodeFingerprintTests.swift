@testable import RVHart
import XCTest

/// Decoding and fusing pseudo-random code gives exactly the slots it gave when these fingerprints were taken (on
/// main before issue 16's decoding work): a change that only makes decoding cheaper must keep every slot, fields and
/// all. A change that means to decode something differently takes new fingerprints (print them with the
/// failure's values) and says why in its commit.
final class DecodeFingerprintTests: XCTestCase {
    /// FNV-1a over slots' bytes.
    private struct Fingerprint {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func add(_ slot: DecodedInstruction?) {
            let slot = slot ?? DecodedInstruction(.undecoded, rd: 0xff, rs1: 0xff, rs2: 0xff, imm: -1)
            for byte in [slot.op.rawValue, slot.rd, slot.rs1, slot.rs2] { add(byte) }
            for shift in stride(from: 0, to: 32, by: 8) { add(UInt8(truncatingIfNeeded: slot.imm >> shift)) }
        }

        private mutating func add(_ byte: UInt8) {
            value = (value ^ UInt64(byte)) &* 0x100_0000_01b3
        }
    }

    /// Registers that make dependent pairs and runs likely: ra, sp, and a few of x8-x15 (compressed forms' set).
    private static let busyRegisters: [UInt32] = [0, 1, 2, 8, 9, 10, 11]

    private static func pick<T>(_ values: [T], _ random: inout SplitMix) -> T {
        values[Int(random.next() % UInt64(values.count))]
    }

    /// A 32-bit instruction word: random bits under an opcode the decoder knows (or not, now and then), its register
    /// fields mostly from `busyRegisters`, shifts mostly well formed with 32 often.
    private static func word(_ random: inout SplitMix) -> UInt32 {
        let opcodes: [UInt32] = [0x13, 0x13, 0x13, 0x1b, 0x03, 0x03, 0x23, 0x23, 0x63, 0x63, 0x17, 0x67, 0x6f, 0x33,
                                 0x33, 0x3b, 0x37, 0x73, 0x2f, 0x07, 0x27, 0x53, 0x0f, 0x43, 0x7f]
        var raw = UInt32(truncatingIfNeeded: random.next()) & ~0x7f | pick(opcodes, &random)
        if random.next() % 4 != 0 {
            for shift: UInt32 in [7, 15, 20] {
                raw = raw & ~(0x1f << shift) | pick(busyRegisters, &random) << shift
            }
        }
        let opcode = raw & 0x7f, funct3 = raw >> 12 & 7
        if opcode == 0x33 || opcode == 0x3b {
            raw = raw & 0x01ff_ffff | pick([0, 0, 0x20, 1, raw >> 25], &random) << 25
        }
        if (opcode == 0x13 || opcode == 0x1b) && (funct3 == 1 || funct3 == 5) && random.bit() {
            let shamt: UInt32 = random.bit() ? 32 : UInt32(random.next() % 64)
            raw = raw & 0x000f_ffff | (random.bit() ? 0 : 0x400) << 20 | shamt << 20
        }
        return raw
    }

    /// A 16-bit instruction: random bits in quadrants 0-2, its register fields often from `busyRegisters`.
    private static func halfword(_ random: inout SplitMix) -> UInt16 {
        var raw = UInt16(truncatingIfNeeded: random.next())
        if raw & 3 == 3 { raw ^= 1 }
        if random.bit() { raw = raw & ~(0x1f << 7) | UInt16(pick(busyRegisters, &random)) << 7 }
        if random.bit() { raw = raw & ~(0x1f << 2) | UInt16(pick(busyRegisters, &random)) << 2 }
        return raw
    }

    private static func parcels(_ words: [UInt32]) -> [UInt16] {
        words.flatMap { [UInt16($0 & 0xffff), UInt16($0 >> 16)] }
    }

    /// Two instructions of a form the decoder may fuse (`Decoder.kernelPair`, the shift pairs), their registers from
    /// `busyRegisters` (so that some repeat where the form needs them apart), as parcels.
    private static func pairForm(_ random: inout SplitMix) -> [UInt16] {
        var register: UInt32 { pick(busyRegisters, &random) }
        var compressedRegister: UInt16 { UInt16(8 + random.next() % 4) }
        let (a, b, c, d) = (register, register, register, register)
        let shift = Int32(random.bit() ? 32 : random.next() % 64), small = Int32(random.next() % 32)
        let offset = Int32(truncatingIfNeeded: random.next()) >> 20
        let upper = UInt32(truncatingIfNeeded: random.next()) & 0xffff_f000
        let slliw = Asm.i(0x1b, rd: a, funct3: 1, rs1: b, imm: small)
        let srliw = Asm.i(0x1b, rd: a, funct3: 5, rs1: b, imm: small)
        let (ca, cb) = (compressedRegister, compressedRegister)
        let cOr = 0x8c41 | (ca - 8) << 7 | (cb - 8) << 2
        switch random.next() % 12 {
        case 0: return parcels([Asm.load(4, a, b, offset), Asm.load(4, c, b, offset &+ 1)])
        case 1: return parcels([Asm.sd(a, b, offset), Asm.sd(c, random.bit() ? b : d, offset &+ 8)])
        case 2: return parcels([Asm.auipc(a, upper), Asm.addi(random.bit() ? a : b, a, offset)])
        case 3: return parcels([Asm.auipc(a, upper), Asm.jalr(rd: c, rs1: random.bit() ? a : b, imm: offset)])
        case 4: return parcels([random.bit() ? slliw : srliw, Asm.op(0, 6, c, a, d)])
        case 5: return parcels([random.bit() ? slliw : srliw]) + [cOr]
        case 6: return parcels([slliw, Asm.i(0x1b, rd: c, funct3: 5, rs1: random.bit() ? a : b, imm: 0x400 | small)])
        case 7: return parcels([Asm.slli(a, b, shift), Asm.srli(c, random.bit() ? a : d, shift)])
        case 8: return [0x0002 | ca << 7 | UInt16(shift & 31) << 2 | UInt16(shift >> 5) << 12,
                        0x8001 | UInt16(shift >> 5) << 12 | (cb - 8) << 7 | UInt16(shift & 31) << 2]
        case 9: return parcels([Asm.slli(a, b, shift), Asm.add(c, random.bit() ? a : d, random.bit() ? a : b)])
        case 10: return parcels([Asm.srli(a, b, shift), Asm.op(0, 4, c, random.bit() ? a : d, random.bit() ? a : b)])
        default:
            return [(random.bit() ? 0x8002 : 0x9002) | UInt16(a) << 7 | UInt16(b | 1) << 2,
                    (random.bit() ? 0x8002 : 0x9002) | UInt16(c) << 7 | UInt16(d | 1) << 2]
        }
    }

    /// A random instruction as it sits in memory (one or two halfwords), or now and then a pair of a fusing form.
    private static func instruction(_ random: inout SplitMix) -> [UInt16] {
        if random.next() % 6 == 0 { return pairForm(&random) }
        if random.bit() { return [halfword(&random)] }
        let raw = word(&random)
        return [UInt16(raw & 0xffff), UInt16(raw >> 16)]
    }

    private static func decoded(_ parcels: [UInt16]) -> DecodedInstruction {
        parcels.count == 1 ? Decoder.decodeCompressed(parcels[0])
            : Decoder.decode(UInt32(parcels[0]) | UInt32(parcels[1]) << 16)
    }

    func testInstructionsDecodeAsBefore() {
        var print = Fingerprint()
        for raw in 0...UInt16.max { print.add(Decoder.decodeCompressed(raw)) }
        var random = SplitMix(state: 16)
        for _ in 0..<200_000 { print.add(Decoder.decode(Self.word(&random))) }
        XCTAssertEqual(print.value, 10_978_337_525_645_000_145, "instructions")
    }

    func testPairsFuseAsBefore() {
        var print = Fingerprint()
        var random = SplitMix(state: 1616)
        for _ in 0..<300_000 {
            var parcels = Self.instruction(&random)
            if parcels.count < 3 { parcels += Self.instruction(&random) }
            let firstLength = parcels[0] & 3 == 3 ? 2 : 1
            let first = Self.decoded(Array(parcels[..<firstLength]))
            let rest = Array(parcels[firstLength...])
            let second = Self.decoded(Array(rest.prefix(rest[0] & 3 == 3 ? 2 : 1)))
            // The second as decoded: now and then it starts a pair of its own.
            let next = random.bit() ? Decoder.fused(second, Self.decoded(Self.instruction(&random))) ?? second : second
            print.add(Decoder.fused(Decoder.placed(first, offset: Int(random.next() % 4096)), next))
        }
        XCTAssertEqual(print.value, 11_068_345_246_866_331_383, "pairs")
    }

    /// Every operation's slot taken apart to the instruction it starts with (`Decoder.alone`), with random fields.
    func testSlotsRunAloneAsBefore() {
        var print = Fingerprint()
        var random = SplitMix(state: 16_016)
        for raw in 0...UInt8.max {
            // A translated block's slot is no decoded form (its first instruction is decoded again from the page).
            guard let op = Op(rawValue: raw), op != .translated else { continue }
            for _ in 0..<64 {
                let fields = random.next()
                print.add(Decoder.alone(DecodedInstruction(op, rd: UInt8(fields & 0x7f), rs1: UInt8(fields >> 8 & 0x7f),
                                                           rs2: UInt8(fields >> 16 & 0x7f),
                                                           imm: Int32(truncatingIfNeeded: fields >> 32))))
            }
        }
        XCTAssertEqual(print.value, 17_644_289_891_867_377_747, "alone")
    }

    /// Whole pages of random code, decoded by the hart from random starting points (as jumps into them would), fused
    /// pairs and access runs included.
    func testPagesDecodeAsBefore() {
        let m = TestMachine()
        var random = SplitMix(state: 160)
        var print = Fingerprint()
        for page in 0..<64 {
            let base = TestMachine.ramBase + UInt64(page) << 12
            var code: [UInt16] = []
            while code.count < 2048 {
                // Runs of stack saves and restores, pushes and pops: access runs.
                if random.next() % 8 == 0 {
                    let sp: UInt16 = random.next() % 4 == 0 ? 0x1141 : 0x7179  // c.addi sp, -16; c.addi16sp -48
                    code.append(sp)
                    let save = random.bit()
                    for _ in 0..<(random.next() % 4) {
                        let register = UInt16(Self.pick(Self.busyRegisters, &random))
                        code.append(save ? 0xe002 | UInt16(random.next() % 8) << 7 | register << 2
                                         : 0x6002 | register << 7 | UInt16(random.next() % 8) << 2)
                    }
                    if random.bit() { code.append(0x8082) }  // ret
                }
                code += Self.instruction(&random)
            }
            m.put16(Array(code.prefix(2048)), at: base)
            for _ in 0..<400 {
                let pc = base + (random.next() % 2048) << 1
                XCTAssertTrue(m.hart.enterPage(pc))
                let slots = m.hart.currentPage
                if slots[Int(pc & 0xfff) >> 1].op == .undecoded { _ = m.hart.decodeSlot(pc, page: slots) }
            }
            let slots = m.hart.codePages[m.hart.codeIndex(base)!]!
            for slot in 0..<2048 { print.add(slots[slot]) }
        }
        XCTAssertEqual(print.value, 3_531_083_922_590_400_467, "pages")
    }
}
