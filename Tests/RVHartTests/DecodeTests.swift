@testable import RVHart
import XCTest

final class DecodeTests: XCTestCase {
    func testBranchesAheadInTheirPage() {
        // A branch or jump whose target is further on in its own page takes its ...Ahead form where it sits.
        let branch = Decoder.decode(Asm.b(funct3: 0, rs1: 1, rs2: 2, offset: 64))
        XCTAssertEqual(Decoder.placed(branch, offset: 0x100).op, .beqAhead)
        XCTAssertEqual(Decoder.placed(branch, offset: 0x100).imm, 64)
        XCTAssertEqual(Decoder.placed(branch, offset: 0xfbe).op, .beqAhead)  // target 0xffe: still this page
        XCTAssertEqual(Decoder.placed(branch, offset: 0xfc0).op, .beq)  // target on the next page
        // Back within the page (a loop's branch, or one to itself): its ...Back form; back before the page: as it is.
        let back = Decoder.decode(Asm.b(funct3: 1, rs1: 1, rs2: 2, offset: -8))
        XCTAssertEqual(Decoder.placed(back, offset: 0x100).op, .bneBack)
        XCTAssertEqual(Decoder.placed(back, offset: 8).op, .bneBack)  // target 0: still this page
        XCTAssertEqual(Decoder.placed(back, offset: 6).op, .bne)  // target on the page before
        XCTAssertEqual(Decoder.placed(Decoder.decode(Asm.b(funct3: 4, rs1: 1, rs2: 2, offset: 0)), offset: 0x10).op, .bltBack)
        XCTAssertEqual(Decoder.placed(Decoder.decode(Asm.jal(rd: 0, offset: -16)), offset: 0x100).op, .jalBack)
        XCTAssertEqual(Decoder.placed(Decoder.decode(Asm.jal(rd: 0, offset: -16)), offset: 8).op, .jal)
        XCTAssertEqual(Decoder.placed(Decoder.decodeCompressed(0xbfe5), offset: 0x10).op, .cJalBack)  // c.j -8
        XCTAssertEqual(Decoder.placed(Decoder.decodeCompressed(0xbfe5), offset: 4).op, .cJal)
        XCTAssertEqual(Decoder.placed(Decoder.decode(Asm.jal(rd: 1, offset: 16)), offset: 0).op, .jalAhead)
        XCTAssertEqual(Decoder.placed(Decoder.decodeCompressed(0xc111), offset: 0x10).op, .cBeqAhead)  // c.beqz x10, +4
        XCTAssertEqual(Decoder.placed(Decoder.decode(Asm.addi(1, 1, 1)), offset: 0).op, .addi)
    }

    func testIntegerEncodings() {
        let add = Decoder.decode(Asm.add(5, 6, 7))
        XCTAssertEqual(add.op, .add)
        XCTAssertEqual([add.rd, add.rs1, add.rs2], [5, 6, 7])

        let addi = Decoder.decode(Asm.addi(10, 11, -2048))
        XCTAssertEqual(addi.op, .addi)
        XCTAssertEqual(addi.imm, -2048)

        // addi from x0 is a constant load; writes to x0 go to the sink slot.
        let li = Decoder.decode(Asm.addi(0, 0, 5))
        XCTAssertEqual(li.op, .li)
        XCTAssertEqual(Int(li.rd), RegisterFile.zeroSink)

        let lui = Decoder.decode(Asm.lui(1, 0xfffff000))
        XCTAssertEqual(lui.op, .li)
        XCTAssertEqual(lui.imm, -4096)

        let branch = Decoder.decode(Asm.b(funct3: 5, rs1: 1, rs2: 2, offset: -4096))
        XCTAssertEqual(branch.op, .bge)
        XCTAssertEqual(branch.imm, -4096)

        let jal = Decoder.decode(Asm.jal(rd: 1, offset: 0xf_fffe))
        XCTAssertEqual(jal.op, .jal)
        XCTAssertEqual(jal.imm, 0xf_fffe)
        XCTAssertEqual(Decoder.decode(Asm.jal(rd: 1, offset: -0x10_0000)).imm, -0x10_0000)

        let store = Decoder.decode(Asm.sd(9, 8, -8))
        XCTAssertEqual(store.op, .sd)
        XCTAssertEqual([store.rs1, store.rs2], [8, 9])
        XCTAssertEqual(store.imm, -8)

        XCTAssertEqual(Decoder.decode(Asm.srai(1, 2, 63)).op, .srai)
        XCTAssertEqual(Decoder.decode(Asm.srai(1, 2, 63)).imm, 63)
    }

    func testReservedEncodingsAreIllegal() {
        let illegal: [UInt32] = [
            0x0000_0000,  // all zero
            0xffff_ffff,  // all ones
            Asm.i(0x13, rd: 1, funct3: 1, rs1: 1, imm: 0x400 | 3),  // slli with funct6 != 0
            Asm.r(0x1b, rd: 1, funct3: 1, rs1: 1, rs2: 1, funct7: 1),  // slliw with shamt[5] set
            Asm.load(7, 1, 1, 0),  // no ldu in RV64
            Asm.store(4, 1, 1, 0),
            Asm.b(funct3: 2, rs1: 1, rs2: 1, offset: 8),
            Asm.op(0x20, 1, 1, 1, 1),  // no "subtract shift"
            Asm.amo(0x02, width: 2, 1, 2, 3),  // lr.w with rs2 != 0
            Asm.amo(0x1f, width: 3, 1, 2, 3),
            Asm.fp(0x00, 5, 1, 2, 3),  // fadd.s with reserved rm 5
            Asm.fp(0x02, 0, 1, 2, 3),  // fmt 2 (no Q)
            Asm.fp(0x2d, 0, 1, 2, 1),  // fsqrt.d with rs2 != 0
            Asm.i(0x67, rd: 1, funct3: 1, rs1: 1, imm: 0),  // jalr funct3 != 0
        ]
        for raw in illegal {
            let decoded = Decoder.decode(raw)
            XCTAssertEqual(decoded.op, .illegal, String(raw, radix: 16))
            XCTAssertEqual(UInt32(bitPattern: decoded.imm), raw)
        }
    }

    func testCompressedEncodings() {
        // c.addi4spn x8, sp, 16 = 0x0800
        let addi4spn = Decoder.decodeCompressed(0x0800)
        XCTAssertEqual(addi4spn.op, .cAddi)
        XCTAssertEqual([addi4spn.rd, addi4spn.rs1], [8, 2])
        XCTAssertEqual(addi4spn.imm, 16)
        // c.lw a0, 4(a1) = 0x41c8
        let lw = Decoder.decodeCompressed(0x41c8)
        XCTAssertEqual(lw.op, .cLw)
        XCTAssertEqual([lw.rd, lw.rs1], [10, 11])
        XCTAssertEqual(lw.imm, 4)
        // c.ldsp ra, 8(sp) = 0x60a2
        let ldsp = Decoder.decodeCompressed(0x60a2)
        XCTAssertEqual(ldsp.op, .cLd)
        XCTAssertEqual([ldsp.rd, ldsp.rs1], [1, 2])
        XCTAssertEqual(ldsp.imm, 8)
        // c.sdsp ra, 8(sp) = 0xe406
        let sdsp = Decoder.decodeCompressed(0xe406)
        XCTAssertEqual(sdsp.op, .cSd)
        XCTAssertEqual([sdsp.rs1, sdsp.rs2], [2, 1])
        XCTAssertEqual(sdsp.imm, 8)
        // c.j -2 = 0xbffd
        let j = Decoder.decodeCompressed(0xbffd)
        XCTAssertEqual(j.op, .cJal)
        XCTAssertEqual(j.imm, -2)
        // c.beqz a0, 8 = 0xc501
        let beqz = Decoder.decodeCompressed(0xc501)
        XCTAssertEqual(beqz.op, .cBeq)
        XCTAssertEqual(beqz.imm, 8)
        // c.lui a0, 0xfffff = 0x757d -> -4096
        let lui = Decoder.decodeCompressed(0x757d)
        XCTAssertEqual(lui.op, .cLi)
        XCTAssertEqual(lui.imm, -4096)
        // c.addi16sp sp, -64 = 0x7139
        let addi16sp = Decoder.decodeCompressed(0x7139)
        XCTAssertEqual(addi16sp.op, .cAddi)
        XCTAssertEqual(addi16sp.imm, -64)
        // c.srai a0, 63 = 0x957d
        let srai = Decoder.decodeCompressed(0x957d)
        XCTAssertEqual(srai.op, .cSrai)
        XCTAssertEqual(srai.imm, 63)
        // c.mv a0, a1 = 0x852e ; c.add a0, a1 = 0x952e ; c.jr ra = 0x8082 ; c.jalr a0 = 0x9502
        XCTAssertEqual(Decoder.decodeCompressed(0x852e).op, .cAdd)
        XCTAssertEqual(Decoder.decodeCompressed(0x852e).rs1, 0)
        XCTAssertEqual(Decoder.decodeCompressed(0x952e).rs1, 10)
        XCTAssertEqual(Decoder.decodeCompressed(0x8082).op, .cJalr)
        XCTAssertEqual(Int(Decoder.decodeCompressed(0x8082).rd), RegisterFile.zeroSink)
        XCTAssertEqual(Decoder.decodeCompressed(0x9502).rd, 1)
        // c.ebreak = 0x9002
        XCTAssertEqual(Decoder.decodeCompressed(0x9002).op, .system)
        // c.fld fa0, 8(a1) = 0x2588 ; c.fsdsp fa0, 8(sp) = 0xa42a
        let fld = Decoder.decodeCompressed(0x2588)
        XCTAssertEqual(fld.op, .cFld)
        XCTAssertEqual(Int(fld.rd), RegisterFile.fpBase + 10)
        XCTAssertEqual(Decoder.decodeCompressed(0xa42a).op, .cFsd)
    }

    func testReservedCompressedEncodingsAreIllegal() {
        for raw: UInt16 in [0x0000, 0x0001 | 1 << 13 /* c.addiw x0 */, 0x6101 /* c.addi16sp 0 */,
                            0x6501 /* c.lui a0, 0 */, 0x8002 /* c.jr x0 */, 0x4002 /* c.lwsp x0 */,
                            0x9c41 | 0x40 /* c.subw-space reserved */, 0x8000 /* quadrant 0 funct3 4 */] {
            XCTAssertEqual(Decoder.decodeCompressed(raw).op, .illegal, String(raw, radix: 16))
        }
    }

    func testFusedBranchPairsRunTheirFirstInstructionAlone() {
        // Every first instruction that fuses with every conditional branch (and its `...Ahead` and `...Back` forms), but lbu, andi
        // and c.andi with the equality branches only; out of line a pair is its first instruction with its own
        // fields and length.
        var pairs: Set<Op> = []
        var ordered: [Op] = []
        for first in Decoder.branchPairFirsts {
            let decoded = DecodedInstruction(first, rd: 5, rs1: 6, imm: -3)
            for branches in Decoder.branchPairBranches {
                for branch in branches {
                    let equalityOnly = [Op.lbu, .andi, .cAndi].contains(first)
                    let equality = [Op.beq, .beqAhead, .beqBack, .bne, .bneAhead, .bneBack, .cBeq, .cBeqAhead, .cBeqBack,
                                    .cBne, .cBneAhead, .cBneBack].contains(branch)
                    let fused = Decoder.fused(decoded, DecodedInstruction(branch, rs1: 5, imm: 8))
                    if equalityOnly && !equality {
                        XCTAssertNil(fused, "\(first) \(branch)")
                        ordered.append(branch)
                        continue
                    }
                    guard let pair = fused else { return XCTFail("\(first) \(branch)") }
                    let alone = Decoder.firstOfPair(pair)
                    XCTAssertEqual([alone.op, pair.op.length == first.length ? alone.op : .illegal], [first, first])
                    XCTAssertEqual([alone.rd, alone.rs1, alone.rs2], [5, 6, 0])
                    XCTAssertEqual(alone.imm, -3)
                    // Named first + branch, the compressed branches as `CBeqz`, `CBnez`.
                    let branchName = "\(branches[0])", compressed = branchName.hasPrefix("c")
                    XCTAssertTrue("\(pair.op)".hasSuffix(branchName.prefix(1).uppercased() + branchName.dropFirst()
                                                         + (compressed ? "z" : "")), "\(pair.op) \(branch)")
                    pairs.insert(pair.op)
                }
            }
        }
        XCTAssertEqual(Decoder.branchPairBranchRows, Decoder.branchPairBranches.count)
        XCTAssertEqual(ordered.count, 3 * 4 * 3)
        XCTAssertEqual(pairs.count, 8 * 8 + 3 * 4)
        let addi = DecodedInstruction(.addi, rd: 5, rs1: 5, imm: -1)
        XCTAssertNil(Decoder.fused(DecodedInstruction(.add, rd: 5, rs1: 5, rs2: 6), DecodedInstruction(.bne, rs1: 5)))
        XCTAssertNil(Decoder.fused(addi, DecodedInstruction(.jal)))
        XCTAssertNil(Decoder.fused(addi, DecodedInstruction(.breakpoint)))
        XCTAssertNil(Decoder.fused(DecodedInstruction(.breakpoint), DecodedInstruction(.bne, rs1: 5)))
    }

    func testFusedStorePairsRunTheirStoreAlone() {
        // Every store with every addition, alone or as a fused branch pair's first (what a slot holds once the
        // addition has fused with its branch); out of line a pair is its store with its own fields and length.
        var pairs: Set<Op> = []
        for store in Decoder.storePairFirsts {
            let decoded = DecodedInstruction(store, rs1: 6, rs2: 7, imm: -8)
            for addition in Decoder.storePairSeconds {
                let single = DecodedInstruction(addition, rd: 5, rs1: 5, imm: 1)
                let branchPair = Decoder.fused(single, DecodedInstruction(.bne, rs1: 5))!
                for second in [single, branchPair] {
                    guard let pair = Decoder.fused(decoded, second) else { return XCTFail("\(store) \(second.op)") }
                    let alone = Decoder.firstOfPair(pair)
                    XCTAssertEqual([alone.op, pair.op.length == store.length ? alone.op : .illegal], [store, store])
                    XCTAssertEqual([alone.rd, alone.rs1, alone.rs2], [0, 6, 7])
                    XCTAssertEqual(alone.imm, -8)
                    pairs.insert(pair.op)
                }
            }
        }
        XCTAssertEqual(pairs.count, Decoder.storePairFirsts.count * Decoder.storePairSeconds.count)
        let sw = DecodedInstruction(.sw, rs1: 6, rs2: 7)
        XCTAssertNil(Decoder.fused(sw, DecodedInstruction(.add, rd: 5, rs1: 5, rs2: 6)))
        XCTAssertNil(Decoder.fused(sw, DecodedInstruction(.breakpoint)))
        XCTAssertNil(Decoder.fused(DecodedInstruction(.sb, rs1: 6, rs2: 7), DecodedInstruction(.addi, rd: 5, rs1: 5)))
    }

    /// The slots `Decoder.alone` takes apart are exactly the fused forms named here. It picks them by three ranges of
    /// `Op`'s raw values (a fast test in decoding), so an op added inside one of those ranges would be taken apart
    /// silently; here it fails by name.
    func testAloneTakesApartExactlyTheFusedForms() {
        func names(_ firsts: [String], _ seconds: [String]) -> [String] { firsts.flatMap { f in seconds.map { f + $0 } } }
        let branches = ["Beq", "Bne", "CBeqz", "CBnez", "Blt", "Bge", "Bltu", "Bgeu"]
        let fusedForms = names(["addi", "addiw", "cAddi", "cAddiw", "lw", "ld", "cLw", "cLd"], branches)
            + names(["lbu", "andi", "cAndi"], Array(branches.prefix(4)))
            + names(["sw", "sd", "cSw", "cSd"], ["Addi", "Addiw", "CAddi", "CAddiw"])
            + names(["cSdRun", "cLdRun", "pushRun", "popRun", "popReturn"], ["2", "3", "4"])
            + ["lbuPair", "sdPair", "auipcAddi", "auipcJalr", "slliwOr", "srliwOr", "slliwSraiw", "cAddPair"]
        var takenApart: [String] = []
        for raw in 0...UInt8.max {
            guard let op = Op(rawValue: raw) else { continue }
            if Decoder.alone(DecodedInstruction(op, rd: 1, rs1: 2, rs2: 3, imm: 4)).op != op { takenApart.append("\(op)") }
        }
        XCTAssertEqual(takenApart.sorted(), fusedForms.sorted())
    }
}
