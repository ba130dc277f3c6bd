/// Operations of the pre-decoded instruction cache. Compressed forms have their own cases so that each
/// handler advances pc by a constant (see DESIGN.md §12: a step read from the entry serialises fetches).
enum Op: UInt8 {
    /// A slot not decoded yet (the zero value of a fresh page).
    case undecoded = 0
    /// Not an instruction: pc left the decoded page (sentinel slots, or the page that forces a lookup).
    case pageCross
    /// imm holds the raw instruction for mtval.
    case illegal

    case li, auipc, jal, jalr, beq, bne, blt, bge, bltu, bgeu
    case lb, lh, lw, ld, lbu, lhu, lwu, sb, sh, sw, sd
    case addi, slti, sltiu, xori, ori, andi, slli, srli, srai
    case add, sub, sll, sltu, xor, srl, or, and
    case addiw, slliw, srliw, sraiw, addw, subw, sllw
    case mul, div, rem, remu, mulw
    /// The register-register operations that compiled code runs rarely (`RareIntegerOperation`: the high
    /// multiplies, the divisions and remainders but div, rem and remu, slt, sra, srlw and sraw), as one operation run
    /// out of line, so that the loop's direct cases leave codes for fused forms: imm holds which.
    case rareInteger
    case fence
    /// CSR access, ECALL, EBREAK, xRET, WFI, SFENCE.VMA, FENCE.I: imm holds the raw instruction.
    case system
    /// csrrs, csrrc, csrrsi, csrrci of sstatus (the kernel's interrupt save, restore, enable and disable): imm holds
    /// the raw instruction. Inline when it changes at most SIE and makes no interrupt takeable, else as `.system`.
    case sstatusSetClear
    /// LR, SC and the AMOs (rare, and out of line but for their TLB path): imm holds funct5, | 0x20 for the
    /// doubleword forms (`AtomicForm`).
    case atomic
    case flw, fld, fsw, fsd
    /// imm holds rm.
    case faddD, fsubD, fmulD, fdivD
    /// imm holds rs3 | rm << 8. fmsub.d and fnmadd.d (rare) are `fpOther`.
    case fmaddD, fnmsubD
    /// fsgnj.d (fmv.d); fsgnjn.d and fsgnjx.d (fneg.d, fabs.d: rare) are `fpOther`.
    case fsgnjD
    case fmvXD, fmvDX, fmvXW, fmvWX
    /// feq.d, flt.d, fle.d: imm holds the raw instruction (for the out-of-line path, which raises the flags a NaN
    /// operand calls for).
    case feqD, fltD, fleD
    /// Every other F/D operation, executed out of line: imm holds the raw instruction.
    case fpOther
    /// Two dependent instructions decoded as one slot (`Decoder.fused`): the second takes the value the first wrote
    /// from a host register instead of the register file. The suffix is the pair's length in bytes. The first is a
    /// shift of rs1 by an immediate into a register t, the second writes rd from t and (but for zext.w) rs2. imm
    /// holds the shift amount, the first's length << 8 and t << 16. Every fused slot is counted by a constant, which
    /// the handler's count of the next instruction folds into (one subtraction, see `Hart.interpret`). Where only one
    /// instruction may run before the next event, the out-of-line path runs the first alone, and the second runs
    /// from its own slot.
    /// zext.w: slli t, rs1, 32 then srli rd, t, 32.
    case zextW4, zextW6, zextW8
    /// A scaled index: slli t, rs1, imm then add rd, t, rs2 (or rs2, t).
    case shiftAdd4, shiftAdd6, shiftAdd8
    /// A xorshift: srli t, rs1, imm then xor rd, t, rs2 (or rs2, t).
    case shiftRightXor4, shiftRightXor6, shiftRightXor8

    /// Fused branch pairs (`Decoder.fused`): an addi/addiw/andi/lw/ld/lbu (or a compressed addi/addiw/andi/lw/ld) then a conditional branch, run by one
    /// dispatch, named first + branch (`CBeqz`, `CBnez`: the compressed branches). The slot keeps the first's fields;
    /// the branch's operands and offset are read from its own slot, which stays decoded as itself. Where only one instruction may run
    /// before the next event, or the load leaves the fast path, the first runs alone out of line. `length` is the
    /// first's.
    case addiBeq, addiBne, addiCBeqz, addiCBnez, addiBlt, addiBge, addiBltu, addiBgeu
    case addiwBeq, addiwBne, addiwCBeqz, addiwCBnez, addiwBlt, addiwBge, addiwBltu, addiwBgeu
    case cAddiBeq, cAddiBne, cAddiCBeqz, cAddiCBnez, cAddiBlt, cAddiBge, cAddiBltu, cAddiBgeu
    case cAddiwBeq, cAddiwBne, cAddiwCBeqz, cAddiwCBnez, cAddiwBlt, cAddiwBge, cAddiwBltu, cAddiwBgeu
    case lwBeq, lwBne, lwCBeqz, lwCBnez, lwBlt, lwBge, lwBltu, lwBgeu
    case ldBeq, ldBne, ldCBeqz, ldCBnez, ldBlt, ldBge, ldBltu, ldBgeu
    case cLwBeq, cLwBne, cLwCBeqz, cLwCBnez, cLwBlt, cLwBge, cLwBltu, cLwBgeu
    case cLdBeq, cLdBne, cLdCBeqz, cLdCBnez, cLdBlt, cLdBge, cLdBltu, cLdBgeu
    /// A byte or a mask is tested for zero or equality: lbu, andi and c.andi fuse with the equality branches only
    /// (ordered branches after them were about 1 in 25,000 instructions of a Linux boot, none in cpu-mix).
    case lbuBeq, lbuBne, lbuCBeqz, lbuCBnez
    case andiBeq, andiBne, andiCBeqz, andiCBnez
    case cAndiBeq, cAndiBne, cAndiCBeqz, cAndiCBnez
    /// Fused store pairs (`Decoder.fusedStoreAdd`): a sw/sd (or c.sw/c.sd) then an addi/addiw (or c.addi/c.addiw,
    /// alone or as a fused branch pair's first), run by one dispatch, named store + addition (a loop's store, then
    /// its counter or pointer step). The slot keeps the store's fields; the addition's operands are read from its own
    /// slot, which stays decoded as itself. Where only one instruction may run before the next event, or the store leaves the fast
    /// path (a miss, a fault, a device, a store into decoded code), the store runs alone out of line. `length` is the
    /// store's.
    case swAddi, swAddiw, swCAddi, swCAddiw, sdAddi, sdAddiw, sdCAddi, sdCAddiw
    case cSwAddi, cSwAddiw, cSwCAddi, cSwCAddiw, cSdAddi, cSdAddiw, cSdCAddi, cSdCAddiw

    case cLi, cAddi, cAddiw, cAdd, cSub, cXor, cOr, cAnd, cAddw, cSubw, cSlli, cSrli, cSrai, cAndi
    case cLw, cLd, cSw, cSd, cFld, cFsd, cJal, cJalr, cBeq, cBne
    /// Branches and direct jumps whose target lies further on in their own page (chosen where the slot sits:
    /// `Decoder.placed`). Taken, they stay on the page and move forward, so they need no page lookup and no look
    /// at the next event (forward moves within a page end within a page of slots, see `DispatchMode`), and
    /// each dispatches from its own copy of the dispatch rather than the one all other transfers share.
    case beqAhead, bneAhead, bltAhead, bgeAhead, bltuAhead, bgeuAhead, jalAhead, cBeqAhead, cBneAhead, cJalAhead
    /// Branches and direct jumps whose target lies back in their own page, or at themselves (a loop's branch or
    /// closing jump; chosen as `...Ahead`). Taken, they stay on the page, so they need no page lookup; they still look
    /// at the next event where the loop checks only at control transfers (a backward move can repeat without end).
    case beqBack, bneBack, bltBack, bgeBack, bltuBack, bgeuBack, cBeqBack, cBneBack, jalBack, cJalBack
    /// Runs of 2, 3 or 4 compressed doubleword stores or loads off one base register (c.sdsp/c.sd, c.ldsp/c.ld: a
    /// kernel function's register saves and restores), run by one dispatch (`Decoder.accessRun`). The slot keeps the
    /// first's fields; the others are read from their own slots, which stay decoded as themselves. Where the next
    /// event leaves room for fewer, or any access would leave the fast path, the first runs alone out of line.
    /// `length` is the first's.
    case cSdRun2, cSdRun3, cSdRun4, cLdRun2, cLdRun3, cLdRun4
    /// A function's stack adjustment and its saves (push: c.addi16sp or c.addi of sp, then 1-3 c.sdsp of registers
    /// other than sp) or its restores and stack adjustment (pop: 1-3 c.ldsp of registers other than sp, then the
    /// addition), the suffix counting both, as access runs: the slot keeps the first's fields; the saves use the
    /// adjusted sp, the restores the sp before.
    case pushRun2, pushRun3, pushRun4, popRun2, popRun3, popRun4
    /// A pop (0-2 restores, the stack adjustment) and the return after it (c.jr ra), the suffix counting all of them:
    /// the slot keeps the first's fields.
    case popReturn2, popReturn3, popReturn4
    /// Never stored in a slot: the loop dispatches it when an event is due.
    case event
    /// A debugger breakpoint may be at this slot's pc (the slot's page offset is a breakpoint's): the slow step
    /// stops there or runs the real instruction once, so the loop itself never checks pc against breakpoints.
    case breakpoint

    // Kernel forms: pairs a Linux boot (firmware included) runs often, one dispatch each (`Decoder.kernelPair`). The
    // slot holds both instructions' fields; the second's own slot stays decoded as itself. Where only one instruction
    // may run before the next event, or an access leaves the fast path, the first runs alone out of line (`alone`).
    /// Two lbu off one base register that the first does not write (libfdt's big-endian loads, byte compares): rd
    /// and imm's low 16 bits are the first's, rs2 and imm's high 16 bits the second's.
    case lbuPair
    /// Two sd off one base register (memset's stores, register saves off a base that is not sp): rs2 and imm's low
    /// 16 bits are the first's value and offset, rd and imm's high 16 bits the second's.
    case sdPair
    /// auipc rd then addi rd, rd (a PC-relative address): imm holds their sum.
    case auipcAddi
    /// auipc t then jalr rd, t (a call or tail call beyond jal's reach): rs1 is t, imm the sum of their offsets.
    case auipcJalr
    /// A word shift by an immediate (slliw or srliw into a register t) then an or (4 or 2 bytes) of t with another
    /// register: rotations (blake2s, chacha) and byte assembly. Laid out as `zextW4`: rs2 is the or's other operand,
    /// imm the shift amount, the pair's length (6 or 8) << 8 and t << 16.
    case slliwOr, srliwOr
    /// slliw t, rs1 then sraiw rd, t (a halfword's or byte's sign extension, as SLOB's 16-bit sizes): imm holds the
    /// left shift, the right shift << 8 and t << 16.
    case slliwSraiw
    /// Two c.add or c.mv (argument moves before a call, results after it: the boot's most frequent operation and
    /// pair): rd, rs1 and rs2 are the first's, imm holds the second's rd | rs1 << 8 | rs2 << 16.
    case cAddPair

    /// A scaled-index load: a shift pair `shiftAdd4` or `shiftAdd6` (slli t, i, k then add rd, t, base) and a load
    /// off its sum (lw or ld, either length: x = base[i], an array's element, a table lookup), run by one dispatch.
    /// The slot keeps the pair's fields, with the load's offset from the slot in bytes (the pair's length) in imm's
    /// bits 24-31; the load's destination and offset are read from its own slot, which stays decoded as itself (it may
    /// start a fused form of its own). The suffix is the three's length, at most 8 bytes (`CodePage.fusedReachBack`).
    /// Where fewer than three instructions may run before the next event, or the load leaves the fast path, the shift
    /// runs alone out of line, as for the pair.
    case shiftAddLw6, shiftAddLd6, shiftAddLw8, shiftAddLd8

    /// A translated block (`BlockTranslator`) starting with this slot's instruction: rd holds how many instructions it
    /// runs, rs1 how far it reaches (halfwords), imm where its code is in the hart's arena. Run out of line (near an
    /// event, or when its first access misses the TLB), the slot is its first instruction decoded again alone.
    case translated

    /// Whether the slot runs more than one instruction (a shift pair, a branch or store pair, an access run, a kernel
    /// form, a scaled-index load): from its own slot up to 8 bytes on (`CodePage.fusedReachBack`).
    var isFused: Bool {
        let raw = rawValue
        return (raw >= Op.zextW4.rawValue && raw <= Op.cSdCAddiw.rawValue)
            || (raw >= Op.cSdRun2.rawValue && raw <= Op.popReturn4.rawValue)
            || (raw >= Op.lbuPair.rawValue && raw <= Op.shiftAddLd8.rawValue)
    }

    /// The length in bytes of the instruction this operation executes (what pc advances by). Listed case by
    /// case, so that a new operation must say which it is.
    var length: UInt64 {
        switch self {
        case .cLi, .cAddi, .cAddiw, .cAdd, .cSub, .cXor, .cOr, .cAnd, .cAddw, .cSubw, .cSlli, .cSrli, .cSrai, .cAndi,
             .cLw, .cLd, .cSw, .cSd, .cFld, .cFsd, .cJal, .cJalr, .cBeq, .cBne, .cBeqAhead, .cBneAhead, .cJalAhead,
             .cBeqBack, .cBneBack, .cJalBack,
             .cAddiBeq, .cAddiBne, .cAddiBlt, .cAddiBge, .cAddiBltu, .cAddiBgeu, .cAddiCBeqz, .cAddiCBnez, .cAddiwBeq, .cAddiwBne, .cAddiwBlt, .cAddiwBge, .cAddiwBltu, .cAddiwBgeu, .cAddiwCBeqz, .cAddiwCBnez, .cLwBeq, .cLwBne, .cLwBlt, .cLwBge, .cLwBltu, .cLwBgeu, .cLwCBeqz, .cLwCBnez, .cLdBeq, .cLdBne, .cLdBlt, .cLdBge, .cLdBltu, .cLdBgeu, .cLdCBeqz, .cLdCBnez, .cAndiBeq, .cAndiBne, .cAndiCBeqz, .cAndiCBnez,
             .cSwAddi, .cSwAddiw, .cSwCAddi, .cSwCAddiw, .cSdAddi, .cSdAddiw, .cSdCAddi, .cSdCAddiw,
             .cSdRun2, .cSdRun3, .cSdRun4, .cLdRun2, .cLdRun3, .cLdRun4,
             .pushRun2, .pushRun3, .pushRun4, .popRun2, .popRun3, .popRun4, .popReturn2, .popReturn3, .popReturn4,
             .cAddPair:
            return 2
        case .zextW6, .shiftAdd6, .shiftRightXor6, .shiftAddLw6, .shiftAddLd6:
            return 6
        case .zextW8, .shiftAdd8, .shiftRightXor8, .shiftAddLw8, .shiftAddLd8:
            return 8
        case .zextW4, .shiftAdd4, .shiftRightXor4, .lbuPair, .sdPair, .auipcAddi, .auipcJalr, .slliwOr, .srliwOr,
             .slliwSraiw,
             .undecoded, .pageCross, .illegal, .li, .auipc, .jal, .jalr, .beq, .bne, .blt, .bge, .bltu, .bgeu,
             .lb, .lh, .lw, .ld, .lbu, .lhu, .lwu, .sb, .sh, .sw, .sd,
             .addi, .slti, .sltiu, .xori, .ori, .andi, .slli, .srli, .srai,
             .add, .sub, .sll, .sltu, .xor, .srl, .or, .and,
             .addiw, .slliw, .srliw, .sraiw, .addw, .subw, .sllw,
             .mul, .div, .rem, .remu, .mulw, .rareInteger,
             .fence, .system, .sstatusSetClear, .atomic, .flw, .fld, .fsw, .fsd,
             .faddD, .fsubD, .fmulD, .fdivD, .fmaddD, .fnmsubD, .fsgnjD,
             .fmvXD, .fmvDX, .fmvXW, .fmvWX, .feqD, .fltD, .fleD, .fpOther, .event, .breakpoint, .translated,
             .beqAhead, .bneAhead, .bltAhead, .bgeAhead, .bltuAhead, .bgeuAhead, .jalAhead,
             .beqBack, .bneBack, .bltBack, .bgeBack, .bltuBack, .bgeuBack, .jalBack,
             .addiBeq, .addiBne, .addiBlt, .addiBge, .addiBltu, .addiBgeu, .addiCBeqz, .addiCBnez, .addiwBeq, .addiwBne, .addiwBlt, .addiwBge, .addiwBltu, .addiwBgeu, .addiwCBeqz, .addiwCBnez, .lwBeq, .lwBne, .lwBlt, .lwBge, .lwBltu, .lwBgeu, .lwCBeqz, .lwCBnez, .ldBeq, .ldBne, .ldBlt, .ldBge, .ldBltu, .ldBgeu, .ldCBeqz, .ldCBnez, .lbuBeq, .lbuBne, .lbuCBeqz, .lbuCBnez, .andiBeq, .andiBne, .andiCBeqz, .andiCBnez,
             .swAddi, .swAddiw, .swCAddi, .swCAddiw, .sdAddi, .sdAddiw, .sdCAddi, .sdCAddiw:
            return 4
        }
    }
}

/// Which operation an `Op.rareInteger` slot runs (its imm).
enum RareIntegerOperation: Int32 {
    case mulh, mulhsu, mulhu, divu, divw, divuw, remw, remuw, slt, sra, srlw, sraw
}

/// An `Op.atomic` slot's imm: funct5 (LR 0x02, SC 0x03, else the AMO's operation), | 0x20 for the doubleword forms.
struct AtomicForm {
    let imm: Int32

    static let loadReserved: Int32 = 0x02, storeConditional: Int32 = 0x03, doubleword: Int32 = 0x20
    /// The AMOs' funct5 values (the interpreter and the translating tier both switch on them).
    static let swap: Int32 = 0x01, add: Int32 = 0x00, xor: Int32 = 0x04, and: Int32 = 0x0c, or: Int32 = 0x08
    static let min: Int32 = 0x10, max: Int32 = 0x14, minUnsigned: Int32 = 0x18, maxUnsigned: Int32 = 0x1c

    @inline(__always) var funct5: Int32 { imm & 0x1f }
    @inline(__always) var isDoubleword: Bool { imm & AtomicForm.doubleword != 0 }
    @inline(__always) var isLoadReserved: Bool { funct5 == AtomicForm.loadReserved }
    @inline(__always) var isStoreConditional: Bool { funct5 == AtomicForm.storeConditional }
    /// The access width.
    @inline(__always) var width: UInt64 { isDoubleword ? 8 : 4 }
    /// LR reads through the load permissions; SC and the AMOs need store permission.
    @inline(__always) var access: AccessKind { isLoadReserved ? .load : .store }
}

/// One slot of a decoded page (8 bytes). Register fields index the hart's register file: x1-x31 at
/// 1...31, a write to x0 goes to the scratch slot 32, f0-f31 at 64...95.
struct DecodedInstruction {
    var op: Op
    var rd: UInt8
    var rs1: UInt8
    var rs2: UInt8
    var imm: Int32

    init(_ op: Op, rd: UInt8 = 0, rs1: UInt8 = 0, rs2: UInt8 = 0, imm: Int32 = 0) {
        self.op = op
        self.rd = rd
        self.rs1 = rs1
        self.rs2 = rs2
        self.imm = imm
    }
}

/// Register file slots.
enum RegisterFile {
    static let zeroSink = 32
    /// The host address an LR reserved (`Hart.reservation`): kept here, beside the registers, so that translated
    /// blocks reach it from the register file's address as they reach the registers.
    static let reservation = 33
    static let fpBase = 64
    static let count = 96
}

enum Decoder {
    static let branches: [Op?] = [.beq, .bne, nil, nil, .blt, .bge, .bltu, .bgeu]
    static let loads: [Op?] = [.lb, .lh, .lw, .ld, .lbu, .lhu, .lwu, nil]
    static let stores: [Op?] = [.sb, .sh, .sw, .sd, nil, nil, nil, nil]
    static let fusedOps: [Op?] = [.fmaddD, nil, .fnmsubD, nil]
    static let arithmeticOps: [Op] = [.faddD, .fsubD, .fmulD, .fdivD]
    static let compareOps: [Op] = [.fleD, .fltD, .feqD]
    static let compressedArithmetic: [Op?] = [.cSub, .cXor, .cOr, .cAnd, .cSubw, .cAddw, nil, nil]

    @inline(__always) private static func bits(_ raw: UInt32, _ hi: UInt32, _ lo: UInt32) -> UInt32 {
        (raw >> lo) & ((1 << (hi - lo + 1)) - 1)
    }

    @inline(__always) private static func signExtend(_ value: UInt32, width: UInt32) -> Int32 {
        let shift = 32 - width
        return Int32(bitPattern: value << shift) >> shift
    }

    /// An integer destination: x0 writes land in the scratch slot.
    @inline(__always) private static func intRd(_ n: UInt32) -> UInt8 {
        n == 0 ? UInt8(RegisterFile.zeroSink) : UInt8(n)
    }

    @inline(__always) private static func fpReg(_ n: UInt32) -> UInt8 {
        UInt8(RegisterFile.fpBase + Int(n))
    }

    static func illegal(_ raw: UInt32) -> DecodedInstruction {
        DecodedInstruction(.illegal, imm: Int32(bitPattern: raw))
    }

    /// Whether a static rounding-mode field is one of the five defined modes or dynamic.
    @inline(__always) static func validRoundingField(_ rm: UInt32) -> Bool {
        rm != 5 && rm != 6
    }

    /// The slot of an instruction decoded at byte `offset` of its page: a branch or direct jump whose target is
    /// further on in the same page takes its `...Ahead` form, one whose target is back in it its `...Back` form (each physical page's slots sit at their page offsets, whatever virtual page runs them).
    static func placed(_ decoded: DecodedInstruction, offset: Int) -> DecodedInstruction {
        let ahead: Op, back: Op?
        switch decoded.op {
        case .beq: (ahead, back) = (.beqAhead, .beqBack)
        case .bne: (ahead, back) = (.bneAhead, .bneBack)
        case .blt: (ahead, back) = (.bltAhead, .bltBack)
        case .bge: (ahead, back) = (.bgeAhead, .bgeBack)
        case .bltu: (ahead, back) = (.bltuAhead, .bltuBack)
        case .bgeu: (ahead, back) = (.bgeuAhead, .bgeuBack)
        case .jal: (ahead, back) = (.jalAhead, .jalBack)
        case .cBeq: (ahead, back) = (.cBeqAhead, .cBeqBack)
        case .cBne: (ahead, back) = (.cBneAhead, .cBneBack)
        case .cJal: (ahead, back) = (.cJalAhead, .cJalBack)
        default: return decoded
        }
        let target = offset + Int(decoded.imm)
        var placed = decoded
        if decoded.imm > 0 && target < 4096 {
            placed.op = ahead
        } else if let back, decoded.imm <= 0 && target >= 0 {
            placed.op = back
        }
        return placed
    }

    // MARK: 32-bit instructions

    static func decode(_ raw: UInt32) -> DecodedInstruction {
        let opcode = raw & 0x7f
        let rdN = bits(raw, 11, 7), rs1N = bits(raw, 19, 15), rs2N = bits(raw, 24, 20)
        let funct3 = bits(raw, 14, 12), funct7 = bits(raw, 31, 25)
        let rd = intRd(rdN), rs1 = UInt8(rs1N), rs2 = UInt8(rs2N)
        let immI = Int32(bitPattern: raw) >> 20
        let immS = (Int32(bitPattern: raw) >> 25) << 5 | Int32(bits(raw, 11, 7))
        switch opcode {
        case 0x37:
            return DecodedInstruction(.li, rd: rd, imm: Int32(bitPattern: raw & 0xffff_f000))
        case 0x17:
            return DecodedInstruction(.auipc, rd: rd, imm: Int32(bitPattern: raw & 0xffff_f000))
        case 0x6f:
            let imm = bits(raw, 31, 31) << 20 | bits(raw, 19, 12) << 12 | bits(raw, 20, 20) << 11
                | bits(raw, 30, 21) << 1
            return DecodedInstruction(.jal, rd: rd, imm: signExtend(imm, width: 21))
        case 0x67:
            guard funct3 == 0 else { return illegal(raw) }
            return DecodedInstruction(.jalr, rd: rd, rs1: rs1, imm: immI)
        case 0x63:
            let imm = bits(raw, 31, 31) << 12 | bits(raw, 7, 7) << 11 | bits(raw, 30, 25) << 5
                | bits(raw, 11, 8) << 1
            guard let op = Decoder.branches[Int(funct3)] else { return illegal(raw) }
            return DecodedInstruction(op, rs1: rs1, rs2: rs2, imm: signExtend(imm, width: 13))
        case 0x03:
            guard let op = Decoder.loads[Int(funct3)] else { return illegal(raw) }
            return DecodedInstruction(op, rd: rd, rs1: rs1, imm: immI)
        case 0x23:
            guard let op = Decoder.stores[Int(funct3)] else { return illegal(raw) }
            return DecodedInstruction(op, rs1: rs1, rs2: rs2, imm: immS)
        case 0x13:
            switch funct3 {
            case 0:
                if rs1N == 0 { return DecodedInstruction(.li, rd: rd, imm: immI) }
                return DecodedInstruction(.addi, rd: rd, rs1: rs1, imm: immI)
            case 2: return DecodedInstruction(.slti, rd: rd, rs1: rs1, imm: immI)
            case 3: return DecodedInstruction(.sltiu, rd: rd, rs1: rs1, imm: immI)
            case 4: return DecodedInstruction(.xori, rd: rd, rs1: rs1, imm: immI)
            case 6: return DecodedInstruction(.ori, rd: rd, rs1: rs1, imm: immI)
            case 7: return DecodedInstruction(.andi, rd: rd, rs1: rs1, imm: immI)
            case 1:
                guard bits(raw, 31, 26) == 0 else { return illegal(raw) }
                return DecodedInstruction(.slli, rd: rd, rs1: rs1, imm: Int32(bits(raw, 25, 20)))
            default:
                switch bits(raw, 31, 26) {
                case 0: return DecodedInstruction(.srli, rd: rd, rs1: rs1, imm: Int32(bits(raw, 25, 20)))
                case 0x10: return DecodedInstruction(.srai, rd: rd, rs1: rs1, imm: Int32(bits(raw, 25, 20)))
                default: return illegal(raw)
                }
            }
        case 0x33:
            let op: Op?, rare: RareIntegerOperation?
            switch (funct7, funct3) {
            case (0, 0): (op, rare) = (.add, nil)
            case (0x20, 0): (op, rare) = (.sub, nil)
            case (0, 1): (op, rare) = (.sll, nil)
            case (0, 2): (op, rare) = (.rareInteger, .slt)
            case (0, 3): (op, rare) = (.sltu, nil)
            case (0, 4): (op, rare) = (.xor, nil)
            case (0, 5): (op, rare) = (.srl, nil)
            case (0x20, 5): (op, rare) = (.rareInteger, .sra)
            case (0, 6): (op, rare) = (.or, nil)
            case (0, 7): (op, rare) = (.and, nil)
            case (1, 0): (op, rare) = (.mul, nil)
            case (1, 1): (op, rare) = (.rareInteger, .mulh)
            case (1, 2): (op, rare) = (.rareInteger, .mulhsu)
            case (1, 3): (op, rare) = (.rareInteger, .mulhu)
            case (1, 4): (op, rare) = (.div, nil)
            case (1, 5): (op, rare) = (.rareInteger, .divu)
            case (1, 6): (op, rare) = (.rem, nil)
            case (1, 7): (op, rare) = (.remu, nil)
            default: (op, rare) = (nil, nil)
            }
            guard let op else { return illegal(raw) }
            return DecodedInstruction(op, rd: rd, rs1: rs1, rs2: rs2, imm: rare?.rawValue ?? 0)
        case 0x1b:
            switch (funct3, funct7) {
            case (0, _): return DecodedInstruction(.addiw, rd: rd, rs1: rs1, imm: immI)
            case (1, 0): return DecodedInstruction(.slliw, rd: rd, rs1: rs1, imm: Int32(rs2N))
            case (5, 0): return DecodedInstruction(.srliw, rd: rd, rs1: rs1, imm: Int32(rs2N))
            case (5, 0x20): return DecodedInstruction(.sraiw, rd: rd, rs1: rs1, imm: Int32(rs2N))
            default: return illegal(raw)
            }
        case 0x3b:
            let op: Op?, rare: RareIntegerOperation?
            switch (funct7, funct3) {
            case (0, 0): (op, rare) = (.addw, nil)
            case (0x20, 0): (op, rare) = (.subw, nil)
            case (0, 1): (op, rare) = (.sllw, nil)
            case (0, 5): (op, rare) = (.rareInteger, .srlw)
            case (0x20, 5): (op, rare) = (.rareInteger, .sraw)
            case (1, 0): (op, rare) = (.mulw, nil)
            case (1, 4): (op, rare) = (.rareInteger, .divw)
            case (1, 5): (op, rare) = (.rareInteger, .divuw)
            case (1, 6): (op, rare) = (.rareInteger, .remw)
            case (1, 7): (op, rare) = (.rareInteger, .remuw)
            default: (op, rare) = (nil, nil)
            }
            guard let op else { return illegal(raw) }
            return DecodedInstruction(op, rd: rd, rs1: rs1, rs2: rs2, imm: rare?.rawValue ?? 0)
        case 0x0f:
            switch funct3 {
            // PAUSE (Zihintpause) is a FENCE to the memory model, but a spin-wait hint the cluster acts on.
            case 0: return raw == 0x0100_000F ? DecodedInstruction(.system, imm: Int32(bitPattern: raw)) : DecodedInstruction(.fence)
            case 1: return DecodedInstruction(.system, imm: Int32(bitPattern: raw))
            default: return illegal(raw)
            }
        case 0x73:
            if raw >> 20 == 0x100 && funct3 & 2 != 0 {
                return DecodedInstruction(.sstatusSetClear, rd: rd, rs1: rs1, imm: Int32(bitPattern: raw))
            }
            return DecodedInstruction(.system, imm: Int32(bitPattern: raw))
        case 0x2f:
            guard funct3 == 2 || funct3 == 3 else { return illegal(raw) }
            let funct5 = Int32(funct7 >> 2)
            let form = funct5 | (funct3 == 3 ? AtomicForm.doubleword : 0)
            switch funct5 {
            case AtomicForm.loadReserved:
                guard rs2N == 0 else { return illegal(raw) }
                return DecodedInstruction(.atomic, rd: rd, rs1: rs1, imm: form)
            case AtomicForm.storeConditional, AtomicForm.swap, AtomicForm.add, AtomicForm.xor, AtomicForm.and,
                 AtomicForm.or, AtomicForm.min, AtomicForm.max, AtomicForm.minUnsigned, AtomicForm.maxUnsigned:
                return DecodedInstruction(.atomic, rd: rd, rs1: rs1, rs2: rs2, imm: form)
            default:
                return illegal(raw)
            }
        case 0x07:
            switch funct3 {
            case 2: return DecodedInstruction(.flw, rd: fpReg(rdN), rs1: rs1, imm: immI)
            case 3: return DecodedInstruction(.fld, rd: fpReg(rdN), rs1: rs1, imm: immI)
            default: return illegal(raw)
            }
        case 0x27:
            switch funct3 {
            case 2: return DecodedInstruction(.fsw, rs1: rs1, rs2: fpReg(rs2N), imm: immS)
            case 3: return DecodedInstruction(.fsd, rs1: rs1, rs2: fpReg(rs2N), imm: immS)
            default: return illegal(raw)
            }
        case 0x43, 0x47, 0x4b, 0x4f:
            let format = bits(raw, 26, 25)
            guard format <= 1, validRoundingField(funct3) else { return illegal(raw) }
            guard format == 1, let op = Decoder.fusedOps[Int((opcode >> 2) & 3)] else {
                return DecodedInstruction(.fpOther, imm: Int32(bitPattern: raw))
            }
            let rs3 = UInt32(fpReg(bits(raw, 31, 27)))
            return DecodedInstruction(op, rd: fpReg(rdN), rs1: fpReg(rs1N),
                                      rs2: fpReg(rs2N), imm: Int32(rs3 | funct3 << 8))
        case 0x53:
            return decodeOpFP(raw)
        default:
            return illegal(raw)
        }
    }

    /// OP-FP: validates the encoding; the common double-precision operations get their own cases.
    private static func decodeOpFP(_ raw: UInt32) -> DecodedInstruction {
        let rdN = bits(raw, 11, 7), rs1N = bits(raw, 19, 15), rs2N = bits(raw, 24, 20)
        let rm = bits(raw, 14, 12), funct7 = bits(raw, 31, 25)
        let format = funct7 & 3
        guard format <= 1 else { return illegal(raw) }
        let double = format == 1
        let other = DecodedInstruction(.fpOther, imm: Int32(bitPattern: raw))
        switch funct7 >> 2 {
        case 0x00, 0x01, 0x02, 0x03:  // add, sub, mul, div
            guard validRoundingField(rm) else { return illegal(raw) }
            guard double else { return other }
            return DecodedInstruction(Decoder.arithmeticOps[Int(funct7 >> 2)], rd: fpReg(rdN), rs1: fpReg(rs1N), rs2: fpReg(rs2N),
                                      imm: Int32(rm))
        case 0x0b:  // sqrt
            guard rs2N == 0, validRoundingField(rm) else { return illegal(raw) }
            return other
        case 0x04:  // sign injection
            guard rm <= 2 else { return illegal(raw) }
            guard double && rm == 0 else { return other }
            return DecodedInstruction(.fsgnjD, rd: fpReg(rdN), rs1: fpReg(rs1N), rs2: fpReg(rs2N))
        case 0x05:  // min, max
            guard rm <= 1 else { return illegal(raw) }
            return other
        case 0x08:  // fcvt.s.d (format 0, rs2 1), fcvt.d.s (format 1, rs2 0)
            guard rs2N == (double ? 0 : 1), validRoundingField(rm) else { return illegal(raw) }
            return other
        case 0x14:  // fle, flt, feq
            guard rm <= 2 else { return illegal(raw) }
            guard double else { return other }
            return DecodedInstruction(Decoder.compareOps[Int(rm)], rd: intRd(rdN), rs1: fpReg(rs1N), rs2: fpReg(rs2N),
                                      imm: Int32(bitPattern: raw))
        case 0x18, 0x1a:  // fcvt to / from integer
            guard rs2N <= 3, validRoundingField(rm) else { return illegal(raw) }
            return other
        case 0x1c:  // fmv.x.*, fclass
            guard rs2N == 0, rm <= 1 else { return illegal(raw) }
            if rm == 1 { return other }
            return DecodedInstruction(double ? .fmvXD : .fmvXW, rd: intRd(rdN), rs1: fpReg(rs1N))
        case 0x1e:  // fmv.*.x
            guard rs2N == 0, rm == 0 else { return illegal(raw) }
            return DecodedInstruction(double ? .fmvDX : .fmvWX, rd: fpReg(rdN), rs1: UInt8(rs1N))
        default:
            return illegal(raw)
        }
    }

    // MARK: 16-bit instructions

    static func decodeCompressed(_ raw16: UInt16) -> DecodedInstruction {
        let raw = UInt32(raw16)
        let funct3 = bits(raw, 15, 13)
        let rdFull = bits(raw, 11, 7), rs2Full = bits(raw, 6, 2)
        let rdPrime = 8 + bits(raw, 4, 2), rs1Prime = 8 + bits(raw, 9, 7)
        let imm6 = signExtend(bits(raw, 12, 12) << 5 | bits(raw, 6, 2), width: 6)
        let sp: UInt8 = 2
        switch (raw & 3, funct3) {
        case (0, 0):  // c.addi4spn
            let imm = bits(raw, 12, 11) << 4 | bits(raw, 10, 7) << 6 | bits(raw, 6, 6) << 2 | bits(raw, 5, 5) << 3
            guard imm != 0 else { return illegal(raw) }
            return DecodedInstruction(.cAddi, rd: UInt8(rdPrime), rs1: sp, imm: Int32(imm))
        case (0, 1), (0, 3):  // c.fld, c.ld
            let imm = Int32(bits(raw, 12, 10) << 3 | bits(raw, 6, 5) << 6)
            if funct3 == 1 { return DecodedInstruction(.cFld, rd: fpReg(rdPrime), rs1: UInt8(rs1Prime), imm: imm) }
            return DecodedInstruction(.cLd, rd: UInt8(rdPrime), rs1: UInt8(rs1Prime), imm: imm)
        case (0, 2):  // c.lw
            let imm = Int32(bits(raw, 12, 10) << 3 | bits(raw, 6, 6) << 2 | bits(raw, 5, 5) << 6)
            return DecodedInstruction(.cLw, rd: UInt8(rdPrime), rs1: UInt8(rs1Prime), imm: imm)
        case (0, 5), (0, 7):  // c.fsd, c.sd
            let imm = Int32(bits(raw, 12, 10) << 3 | bits(raw, 6, 5) << 6)
            if funct3 == 5 { return DecodedInstruction(.cFsd, rs1: UInt8(rs1Prime), rs2: fpReg(rdPrime), imm: imm) }
            return DecodedInstruction(.cSd, rs1: UInt8(rs1Prime), rs2: UInt8(rdPrime), imm: imm)
        case (0, 6):  // c.sw
            let imm = Int32(bits(raw, 12, 10) << 3 | bits(raw, 6, 6) << 2 | bits(raw, 5, 5) << 6)
            return DecodedInstruction(.cSw, rs1: UInt8(rs1Prime), rs2: UInt8(rdPrime), imm: imm)
        case (1, 0):  // c.addi, c.nop
            return DecodedInstruction(.cAddi, rd: intRd(rdFull), rs1: UInt8(rdFull), imm: imm6)
        case (1, 1):  // c.addiw
            guard rdFull != 0 else { return illegal(raw) }
            return DecodedInstruction(.cAddiw, rd: intRd(rdFull), rs1: UInt8(rdFull), imm: imm6)
        case (1, 2):  // c.li
            return DecodedInstruction(.cLi, rd: intRd(rdFull), imm: imm6)
        case (1, 3):
            if rdFull == 2 {  // c.addi16sp
                let imm = bits(raw, 12, 12) << 9 | bits(raw, 6, 6) << 4 | bits(raw, 5, 5) << 6
                    | bits(raw, 4, 3) << 7 | bits(raw, 2, 2) << 5
                guard imm != 0 else { return illegal(raw) }
                return DecodedInstruction(.cAddi, rd: sp, rs1: sp, imm: signExtend(imm, width: 10))
            }
            guard imm6 != 0 else { return illegal(raw) }  // c.lui
            return DecodedInstruction(.cLi, rd: intRd(rdFull), imm: imm6 << 12)
        case (1, 4):
            let rd = UInt8(rs1Prime), rs2 = UInt8(rdPrime)
            switch bits(raw, 11, 10) {
            case 0: return DecodedInstruction(.cSrli, rd: rd, rs1: rd, imm: Int32(bits(raw, 12, 12) << 5 | rs2Full))
            case 1: return DecodedInstruction(.cSrai, rd: rd, rs1: rd, imm: Int32(bits(raw, 12, 12) << 5 | rs2Full))
            case 2: return DecodedInstruction(.cAndi, rd: rd, rs1: rd, imm: imm6)
            default:
                guard let op = Decoder.compressedArithmetic[Int(bits(raw, 12, 12) << 2 | bits(raw, 6, 5))] else { return illegal(raw) }
                return DecodedInstruction(op, rd: rd, rs1: rd, rs2: rs2)
            }
        case (1, 5):  // c.j
            let imm = bits(raw, 12, 12) << 11 | bits(raw, 11, 11) << 4 | bits(raw, 10, 9) << 8
                | bits(raw, 8, 8) << 10 | bits(raw, 7, 7) << 6 | bits(raw, 6, 6) << 7 | bits(raw, 5, 3) << 1
                | bits(raw, 2, 2) << 5
            return DecodedInstruction(.cJal, rd: UInt8(RegisterFile.zeroSink), imm: signExtend(imm, width: 12))
        case (1, 6), (1, 7):  // c.beqz, c.bnez
            let imm = bits(raw, 12, 12) << 8 | bits(raw, 11, 10) << 3 | bits(raw, 6, 5) << 6
                | bits(raw, 4, 3) << 1 | bits(raw, 2, 2) << 5
            return DecodedInstruction(funct3 == 6 ? .cBeq : .cBne, rs1: UInt8(rs1Prime), rs2: 0,
                                      imm: signExtend(imm, width: 9))
        case (2, 0):  // c.slli
            return DecodedInstruction(.cSlli, rd: intRd(rdFull), rs1: UInt8(rdFull),
                                      imm: Int32(bits(raw, 12, 12) << 5 | rs2Full))
        case (2, 1), (2, 3):  // c.fldsp, c.ldsp
            let imm = Int32(bits(raw, 12, 12) << 5 | bits(raw, 6, 5) << 3 | bits(raw, 4, 2) << 6)
            if funct3 == 1 { return DecodedInstruction(.cFld, rd: fpReg(rdFull), rs1: sp, imm: imm) }
            guard rdFull != 0 else { return illegal(raw) }
            return DecodedInstruction(.cLd, rd: UInt8(rdFull), rs1: sp, imm: imm)
        case (2, 2):  // c.lwsp
            guard rdFull != 0 else { return illegal(raw) }
            let imm = Int32(bits(raw, 12, 12) << 5 | bits(raw, 6, 4) << 2 | bits(raw, 3, 2) << 6)
            return DecodedInstruction(.cLw, rd: UInt8(rdFull), rs1: sp, imm: imm)
        case (2, 4):
            if bits(raw, 12, 12) == 0 {
                if rs2Full == 0 {  // c.jr
                    guard rdFull != 0 else { return illegal(raw) }
                    return DecodedInstruction(.cJalr, rd: UInt8(RegisterFile.zeroSink), rs1: UInt8(rdFull))
                }
                return DecodedInstruction(.cAdd, rd: intRd(rdFull), rs1: 0, rs2: UInt8(rs2Full))  // c.mv
            }
            if rs2Full == 0 {
                if rdFull == 0 { return DecodedInstruction(.system, imm: 0x0010_0073) }  // c.ebreak
                return DecodedInstruction(.cJalr, rd: 1, rs1: UInt8(rdFull))
            }
            return DecodedInstruction(.cAdd, rd: intRd(rdFull), rs1: UInt8(rdFull), rs2: UInt8(rs2Full))
        case (2, 5), (2, 7):  // c.fsdsp, c.sdsp
            let imm = Int32(bits(raw, 12, 10) << 3 | bits(raw, 9, 7) << 6)
            if funct3 == 5 { return DecodedInstruction(.cFsd, rs1: sp, rs2: fpReg(rs2Full), imm: imm) }
            return DecodedInstruction(.cSd, rs1: sp, rs2: UInt8(rs2Full), imm: imm)
        case (2, 6):  // c.swsp
            let imm = Int32(bits(raw, 12, 9) << 2 | bits(raw, 8, 7) << 6)
            return DecodedInstruction(.cSw, rs1: sp, rs2: UInt8(rs2Full), imm: imm)
        default:  // quadrant 0 funct3 4 (reserved), or not a compressed instruction
            return illegal(raw)
        }
    }
}

extension Decoder {
    /// The slot that runs `first` and then `second` (the instruction right after it, both as decoded) in one
    /// dispatch, or nil when they are not a pair the loop fuses: a shift by an immediate whose result the next
    /// instruction reads once, as zext.w (slli 32, srli 32), a scaled index (slli, add) or a xorshift (srli, xor);
    /// a branch pair (`fusedBranch`) or a store pair (`fusedStoreAdd`).
    /// Decoding asks for every instruction it decodes: one switch on the first picks the forms that can start with
    /// it (most instructions start none), rather than each form being tried in turn. lbu and sd start two forms:
    /// the branch or store pair first. Inline, so that the switch runs in the caller's loop (`fusePairs`) without a
    /// call for the instructions that start nothing.
    @inline(__always)
    static func fused(_ first: DecodedInstruction, _ second: DecodedInstruction) -> DecodedInstruction? {
        switch first.op {
        case .addi, .addiw, .cAddi, .cAddiw, .lw, .ld, .cLw, .cLd, .andi, .cAndi: return fusedBranch(first, second)
        case .lbu: return fusedBranch(first, second) ?? kernelPair(first, second)
        case .sw, .cSw, .cSd: return fusedStoreAdd(first, second)
        case .sd: return fusedStoreAdd(first, second) ?? kernelPair(first, second)
        case .auipc, .slliw, .srliw, .cAdd: return kernelPair(first, second)
        case .slli, .cSlli, .srli, .cSrli: return fusedShift(first, second)
        default: return nil
        }
    }

    /// The shift pair (zext.w, scaled index, xorshift) of the shift `first` and `second`, or nil.
    private static func fusedShift(_ first: DecodedInstruction, _ second: DecodedInstruction) -> DecodedInstruction? {
        let left = first.op == .slli || first.op == .cSlli
        let shifted = first.rd
        // x0 as the shifted value reads 0, not the value written to the scratch slot.
        guard shifted != UInt8(RegisterFile.zeroSink) else { return nil }
        let firstLength = first.op.length, length = firstLength + second.op.length
        let op: Op, rs2: UInt8
        if left && (second.op == .srli || second.op == .cSrli) && first.imm == 32 && second.imm == 32
            && second.rs1 == shifted {
            op = length == 4 ? .zextW4 : length == 6 ? .zextW6 : .zextW8
            rs2 = 0
        } else if left && (second.op == .add || second.op == .cAdd),
                  let other = Self.otherOperand(of: second, besides: shifted) {
            op = length == 4 ? .shiftAdd4 : length == 6 ? .shiftAdd6 : .shiftAdd8
            rs2 = other
        } else if !left && (second.op == .xor || second.op == .cXor),
                  let other = Self.otherOperand(of: second, besides: shifted) {
            op = length == 4 ? .shiftRightXor4 : length == 6 ? .shiftRightXor6 : .shiftRightXor8
            rs2 = other
        } else {
            return nil
        }
        return DecodedInstruction(op, rd: second.rd, rs1: first.rs1, rs2: rs2,
                                  imm: first.imm & 0x3f | Int32(firstLength) << 8 | Int32(shifted) << 16)
    }

    /// The scaled-index load (`Op.shiftAddLw6`) of the shift pair `pair` (a `shiftAdd4` or `shiftAdd6`) and the slot
    /// right after it, or nil when that slot's instruction is not a lw or ld off the pair's sum, or the three span more
    /// than 8 bytes.
    static func scaledIndexLoad(_ pair: DecodedInstruction, _ next: DecodedInstruction) -> DecodedInstruction? {
        guard pair.op == .shiftAdd4 || pair.op == .shiftAdd6 else { return nil }
        let load = alone(next), length = pair.op.length + load.op.length
        guard load.rs1 == pair.rd, length <= 8 else { return nil }
        let op: Op
        switch load.op {
        case .lw, .cLw: op = length == 6 ? .shiftAddLw6 : .shiftAddLw8
        case .ld, .cLd: op = length == 6 ? .shiftAddLd6 : .shiftAddLd8
        default: return nil
        }
        return DecodedInstruction(op, rd: pair.rd, rs1: pair.rs1, rs2: pair.rs2,
                                  imm: pair.imm | Int32(pair.op.length) << 24)
    }

    /// The other operand of a two-register operation (`second`: an add, xor or or) after a shift into `shifted`, or
    /// nil when the shifted value is not exactly one of its operands.
    static func otherOperand(of second: DecodedInstruction, besides shifted: UInt8) -> UInt8? {
        if second.rs1 == shifted && second.rs2 != shifted { return second.rs2 }
        if second.rs2 == shifted && second.rs1 != shifted { return second.rs1 }
        return nil
    }

    /// The first instructions and the branches that fuse (`Op.addiBeq`), in the order of the fused cases: the
    /// firsts from `equalityOnlyFirsts` on fuse with the first `equalityBranches` branches only.
    static let branchPairFirsts: [Op] = [.addi, .addiw, .cAddi, .cAddiw, .lw, .ld, .cLw, .cLd, .lbu, .andi, .cAndi]
    static let branchPairBranches: [[Op]] = [[.beq, .beqAhead, .beqBack], [.bne, .bneAhead, .bneBack],
                                             [.cBeq, .cBeqAhead, .cBeqBack], [.cBne, .cBneAhead, .cBneBack],
                                             [.blt, .bltAhead, .bltBack], [.bge, .bgeAhead, .bgeBack],
                                             [.bltu, .bltuAhead, .bltuBack], [.bgeu, .bgeuAhead, .bgeuBack]]
    static let equalityOnlyFirsts = 8, equalityBranches = 4
    /// `branchPairBranches.count`, as a constant (the array's count is reached through a `swift_once` check).
    static let branchPairBranchRows = 8

    /// Whether the first at `firstIndex` and the branch at `branchIndex` (places in the lists above) fuse.
    static func branchPairFuses(first firstIndex: Int, branch branchIndex: Int) -> Bool {
        firstIndex < equalityOnlyFirsts || branchIndex < equalityBranches
    }

    /// The pair's operation's distance from `Op.addiBeq`: the rows of all branches, then the equality-only rows.
    private static func branchPairOffset(first firstIndex: Int, branch branchIndex: Int) -> Int {
        let fullRows = min(firstIndex, equalityOnlyFirsts), shortRows = firstIndex - fullRows
        return fullRows * branchPairBranchRows + shortRows * equalityBranches + branchIndex
    }

    /// The place in `branchPairFirsts` of a pair's first, from its operation's distance from `Op.addiBeq`.
    private static func branchPairFirst(offset: Int) -> Int {
        let full = equalityOnlyFirsts * branchPairBranchRows
        return offset < full ? offset / branchPairBranchRows : equalityOnlyFirsts + (offset - full) / equalityBranches
    }

    /// An operation's place in `branchPairFirsts` (-1: none). A switch, not a table: decoding asks for every
    /// instruction it decodes (searching the list took 4% of a Linux boot's host instructions), and a static table
    /// built at run time costs a `swift_once` check per call (362k per boot); the compiler makes the switch a
    /// constant table. `DecodeTests` checks it against the list.
    private static func branchPairFirstPlace(_ op: Op) -> Int {
        switch op {
        case .addi: 0
        case .addiw: 1
        case .cAddi: 2
        case .cAddiw: 3
        case .lw: 4
        case .ld: 5
        case .cLw: 6
        case .cLd: 7
        case .lbu: 8
        case .andi: 9
        case .cAndi: 10
        default: -1
        }
    }

    /// An operation's place in `branchPairBranches` (-1: none), by a switch for the same reason.
    private static func branchPairBranchPlace(_ op: Op) -> Int {
        switch op {
        case .beq, .beqAhead, .beqBack: 0
        case .bne, .bneAhead, .bneBack: 1
        case .cBeq, .cBeqAhead, .cBeqBack: 2
        case .cBne, .cBneAhead, .cBneBack: 3
        case .blt, .bltAhead, .bltBack: 4
        case .bge, .bgeAhead, .bgeBack: 5
        case .bltu, .bltuAhead, .bltuBack: 6
        case .bgeu, .bgeuAhead, .bgeuBack: 7
        default: -1
        }
    }

    /// The fused branch pair of `first` and the conditional branch `second`, or nil.
    static func fusedBranch(_ first: DecodedInstruction, _ second: DecodedInstruction) -> DecodedInstruction? {
        let firstIndex = branchPairFirstPlace(first.op), branchIndex = branchPairBranchPlace(second.op)
        guard firstIndex >= 0 && branchIndex >= 0, branchPairFuses(first: firstIndex, branch: branchIndex),
              let op = Op(rawValue: Op.addiBeq.rawValue + UInt8(branchPairOffset(first: firstIndex, branch: branchIndex)))
        else { return nil }
        return DecodedInstruction(op, rd: first.rd, rs1: first.rs1, imm: first.imm)
    }

    /// The stores and the additions that fuse (`Op.swAddi`), in the order of the fused cases.
    static let storePairFirsts: [Op] = [.sw, .sd, .cSw, .cSd]
    static let storePairSeconds: [Op] = [.addi, .addiw, .cAddi, .cAddiw]

    /// The fused store pair of the store `first` and the addition `second` (as decoded, or the first of a fused
    /// branch pair, whose slot keeps the addition's fields), or nil. Places in the lists above by a switch, not a
    /// table: decoding asks for every instruction it decodes, and a static table costs a call to reach.
    static func fusedStoreAdd(_ first: DecodedInstruction, _ second: DecodedInstruction) -> DecodedInstruction? {
        let firstIndex: UInt8
        switch first.op {
        case .sw: firstIndex = 0
        case .sd: firstIndex = 1
        case .cSw: firstIndex = 2
        case .cSd: firstIndex = 3
        default: return nil
        }
        let secondIndex: UInt8
        switch firstOfPair(second).op {
        case .addi: secondIndex = 0
        case .addiw: secondIndex = 1
        case .cAddi: secondIndex = 2
        case .cAddiw: secondIndex = 3
        default: return nil
        }
        let op = Op(rawValue: Op.swAddi.rawValue + firstIndex * 4 + secondIndex)!
        return DecodedInstruction(op, rs1: first.rs1, rs2: first.rs2, imm: first.imm)
    }

    /// The kernel form (`Op.lbuPair`) of `first` and the instruction after it (`second`, as decoded: it may start
    /// a pair of its own), or nil.
    static func kernelPair(_ first: DecodedInstruction, _ second: DecodedInstruction) -> DecodedInstruction? {
        // Most firsts are none of these: out at once.
        switch first.op {
        case .lbu, .sd, .auipc, .slliw, .srliw, .cAdd: break
        default: return nil
        }
        let next = alone(second)
        switch (first.op, next.op) {
        case (.lbu, .lbu) where first.rd != first.rs1 && next.rs1 == first.rs1:
            return DecodedInstruction(.lbuPair, rd: first.rd, rs1: first.rs1, rs2: next.rd,
                                      imm: first.imm & 0xffff | next.imm << 16)
        case (.sd, .sd) where next.rs1 == first.rs1:
            return DecodedInstruction(.sdPair, rd: next.rs2, rs1: first.rs1, rs2: first.rs2,
                                      imm: first.imm & 0xffff | next.imm << 16)
        case (.auipc, .addi) where next.rd == first.rd && next.rs1 == first.rd:
            // The sum of a valid split (the addi's 12 bits rounded into the auipc's 20) always fits.
            guard let sum = Int32(exactly: Int64(first.imm) + Int64(next.imm)) else { return nil }
            return DecodedInstruction(.auipcAddi, rd: first.rd, imm: sum)
        case (.cAdd, .cAdd):
            return DecodedInstruction(.cAddPair, rd: first.rd, rs1: first.rs1, rs2: first.rs2,
                                      imm: Int32(next.rd) | Int32(next.rs1) << 8 | Int32(next.rs2) << 16)
        case (.auipc, .jalr) where next.rs1 == first.rd:
            guard let sum = Int32(exactly: Int64(first.imm) + Int64(next.imm)) else { return nil }
            return DecodedInstruction(.auipcJalr, rd: next.rd, rs1: first.rd, imm: sum)
        case (.slliw, .sraiw) where first.rd != UInt8(RegisterFile.zeroSink) && next.rs1 == first.rd:
            return DecodedInstruction(.slliwSraiw, rd: next.rd, rs1: first.rs1,
                                      imm: first.imm & 0x1f | (next.imm & 0x1f) << 8 | Int32(first.rd) << 16)
        case (.slliw, .or), (.slliw, .cOr), (.srliw, .or), (.srliw, .cOr):
            let shifted = first.rd
            // x0 as the shifted value reads 0, not the value written to the scratch slot.
            guard shifted != UInt8(RegisterFile.zeroSink) else { return nil }
            guard let other = otherOperand(of: next, besides: shifted) else { return nil }
            let short = next.op == .cOr
            return DecodedInstruction(first.op == .slliw ? .slliwOr : .srliwOr, rd: next.rd, rs1: first.rs1, rs2: other,
                                      imm: first.imm & 0x1f | (short ? 6 : 8) << 8 | Int32(shifted) << 16)
        default:
            return nil
        }
    }

    /// The auipc's part of `sum`, an auipc's offset plus a 12-bit one after it (`Op.auipcAddi`): the 12 bits are
    /// signed, so the upper part is the sum rounded.
    static func auipcPart(_ sum: Int32) -> Int32 {
        Int32(truncatingIfNeeded: (Int64(sum) + 0x800) & ~0xfff)
    }

    /// A fused branch or store pair's first instruction alone (what the out-of-line path runs); any other slot as
    /// it is.
    static func firstOfPair(_ e: DecodedInstruction) -> DecodedInstruction {
        if e.op.rawValue >= Op.addiBeq.rawValue && e.op.rawValue <= Op.cAndiCBnez.rawValue {
            let first = branchPairFirsts[branchPairFirst(offset: Int(e.op.rawValue - Op.addiBeq.rawValue))]
            return DecodedInstruction(first, rd: e.rd, rs1: e.rs1, imm: e.imm)
        }
        if e.op.rawValue >= Op.swAddi.rawValue && e.op.rawValue <= Op.cSdCAddiw.rawValue {
            let first = storePairFirsts[Int(e.op.rawValue - Op.swAddi.rawValue) / storePairSeconds.count]
            return DecodedInstruction(first, rs1: e.rs1, rs2: e.rs2, imm: e.imm)
        }
        return e
    }
}

extension Decoder {
    /// The run (`Op.cSdRun2`, `Op.cLdRun2`) of the compressed doubleword store or load in `slots[0]` with the ones in
    /// the slots after it (as decoded, each 2 bytes on; `available`: how many slots from `slots[0]` lie in the page),
    /// or nil when fewer than two make one. A run's loads all use its first base register, so none but the last may
    /// write it.
    static func accessRun(_ slots: UnsafePointer<DecodedInstruction>, available: Int) -> DecodedInstruction? {
        let first = slots[0]
        if isStackAdjustment(first) { return push(slots, available: available) ?? popReturn(slots, loads: 0, available) }
        guard first.op == .cSd || first.op == .cLd else { return nil }
        if first.op == .cLd, let pop = pop(slots, available: available) { return pop }
        let loads = first.op == .cLd
        var count = 1
        while count < min(4, available) {
            // Slots decoded before may already start a run or (a load) a fused branch pair.
            let next = slots[count].op == first.op ? slots[count] : alone(slots[count])
            guard next.op == first.op, next.rs1 == first.rs1 else { break }
            if loads && slots[count - 1].rd == first.rs1 { break }
            count += 1
        }
        guard count >= 2 else { return nil }
        if loads {
            return DecodedInstruction(count == 2 ? .cLdRun2 : count == 3 ? .cLdRun3 : .cLdRun4,
                                      rd: first.rd, rs1: first.rs1, imm: first.imm)
        }
        return DecodedInstruction(count == 2 ? .cSdRun2 : count == 3 ? .cSdRun3 : .cSdRun4,
                                  rs1: first.rs1, rs2: first.rs2, imm: first.imm)
    }

    /// c.addi16sp, or c.addi of sp (as decoded; a fused branch pair's first counts too). Inline, as
    /// `isStackAccess`: a few comparisons, asked for every compressed doubleword access and stack adjustment decoded.
    @inline(__always)
    private static func isStackAdjustment(_ slot: DecodedInstruction) -> Bool {
        let e = slot.op == .cAddi ? slot : alone(slot)
        return e.op == .cAddi && e.rd == stackPointer && e.rs1 == stackPointer
    }

    private static let stackPointer: UInt8 = 2

    /// A compressed doubleword store or load off sp, not of sp (as decoded).
    @inline(__always)
    private static func isStackAccess(_ slot: DecodedInstruction, _ op: Op) -> Bool {
        let e = slot.op == op ? slot : alone(slot)
        return e.op == op && e.rs1 == stackPointer && (op == .cSd ? e.rs2 : e.rd) != stackPointer
    }

    /// `Op.pushRun2` from the stack adjustment in `slots[0]`, or nil.
    private static func push(_ slots: UnsafePointer<DecodedInstruction>, available: Int) -> DecodedInstruction? {
        var count = 1
        while count < min(4, available) && isStackAccess(slots[count], .cSd) { count += 1 }
        guard count >= 2 else { return nil }
        return DecodedInstruction(count == 2 ? .pushRun2 : count == 3 ? .pushRun3 : .pushRun4,
                                  rd: slots[0].rd, rs1: slots[0].rs1, imm: slots[0].imm)
    }

    /// `Op.popRun2` from the load in `slots[0]`, or nil when no stack adjustment follows its restores.
    private static func pop(_ slots: UnsafePointer<DecodedInstruction>, available: Int) -> DecodedInstruction? {
        var loads = 0
        while loads < min(3, available - 1) && isStackAccess(slots[loads], .cLd) { loads += 1 }
        guard loads >= 1, isStackAdjustment(slots[loads]) else { return nil }
        if let popReturn = popReturn(slots, loads: loads, available) { return popReturn }
        return DecodedInstruction(loads == 1 ? .popRun2 : loads == 2 ? .popRun3 : .popRun4,
                                  rd: slots[0].rd, rs1: slots[0].rs1, imm: slots[0].imm)
    }

    /// `Op.popReturn2` from `loads` restores and the stack adjustment after them in `slots`, or nil when no c.jr ra
    /// follows them (or the whole would span more than 8 bytes).
    private static func popReturn(_ slots: UnsafePointer<DecodedInstruction>, loads: Int,
                                  _ available: Int) -> DecodedInstruction? {
        guard loads <= 2, loads + 1 < available else { return nil }
        let ret = slots[loads + 1]
        guard ret.op == .cJalr, ret.rd == UInt8(RegisterFile.zeroSink), ret.rs1 == 1 else { return nil }
        let first = alone(slots[0])
        return DecodedInstruction(loads == 0 ? .popReturn2 : loads == 1 ? .popReturn3 : .popReturn4,
                                  rd: first.rd, rs1: first.rs1, imm: first.imm)
    }

    /// The instruction a slot starts with, run alone: a fused branch pair's or an access run's first; any other
    /// slot as it is. Inline, with a range check first: decoding asks about the slots after most instructions it
    /// fuses, and few of them are fused forms.
    @inline(__always)
    static func alone(_ e: DecodedInstruction) -> DecodedInstruction {
        isTakenApartAlone(e.op) ? fusedFormAlone(e) : e
    }

    /// Whether `alone` takes a slot of `op` apart: the branch and store pairs, the access runs and the kernel forms,
    /// three runs of `Op`'s cases (the shift pairs run whole out of line).
    @inline(__always)
    private static func isTakenApartAlone(_ op: Op) -> Bool {
        let raw = op.rawValue
        return (raw >= Op.addiBeq.rawValue && raw <= Op.cSdCAddiw.rawValue)
            || (raw >= Op.cSdRun2.rawValue && raw <= Op.popReturn4.rawValue)
            || (raw >= Op.lbuPair.rawValue && raw <= Op.cAddPair.rawValue)
    }

    /// `alone` of a slot whose op `isTakenApartAlone`.
    private static func fusedFormAlone(_ e: DecodedInstruction) -> DecodedInstruction {
        switch e.op {
        case .popReturn2: return DecodedInstruction(.cAddi, rd: e.rd, rs1: e.rs1, imm: e.imm)
        case .popReturn3, .popReturn4: return DecodedInstruction(.cLd, rd: e.rd, rs1: e.rs1, imm: e.imm)
        case .pushRun2, .pushRun3, .pushRun4: return DecodedInstruction(.cAddi, rd: e.rd, rs1: e.rs1, imm: e.imm)
        case .popRun2, .popRun3, .popRun4: return DecodedInstruction(.cLd, rd: e.rd, rs1: e.rs1, imm: e.imm)
        case .cSdRun2, .cSdRun3, .cSdRun4: return DecodedInstruction(.cSd, rs1: e.rs1, rs2: e.rs2, imm: e.imm)
        case .cLdRun2, .cLdRun3, .cLdRun4: return DecodedInstruction(.cLd, rd: e.rd, rs1: e.rs1, imm: e.imm)
        case .lbuPair: return DecodedInstruction(.lbu, rd: e.rd, rs1: e.rs1, imm: Int32(Int16(truncatingIfNeeded: e.imm)))
        case .sdPair: return DecodedInstruction(.sd, rs1: e.rs1, rs2: e.rs2, imm: Int32(Int16(truncatingIfNeeded: e.imm)))
        case .auipcAddi:
            return DecodedInstruction(.auipc, rd: e.rd, imm: auipcPart(e.imm))
        case .auipcJalr:
            return DecodedInstruction(.auipc, rd: e.rs1, imm: auipcPart(e.imm))
        case .slliwOr, .slliwSraiw:
            return DecodedInstruction(.slliw, rd: UInt8(e.imm >> 16 & 0xff), rs1: e.rs1, imm: e.imm & 0x1f)
        case .srliwOr:
            return DecodedInstruction(.srliw, rd: UInt8(e.imm >> 16 & 0xff), rs1: e.rs1, imm: e.imm & 0x1f)
        case .cAddPair: return DecodedInstruction(.cAdd, rd: e.rd, rs1: e.rs1, rs2: e.rs2)
        default: return firstOfPair(e)
        }
    }
}
