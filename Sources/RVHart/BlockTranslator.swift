import CHostCalls
import Glibc

/// The translating tier: a hot straight line of integer instructions (a loop's body, most often) turned into x86-64
/// code that keeps the guest registers it uses in host registers, called from the interpreter loop as one slot
/// (`Op.translated`). What it runs, and how it counts, is exactly what interpreting the slots would have done:
/// - A block is decoded from its page's snapshot (the bytes its slots were decoded from), from a decoded slot up
///   to and including its first jump, stopping before anything it does not translate (CSRs, FP, a
///   breakpoint slot, an undecoded slot) and at `maxInstructions` or the page's end. A conditional branch leaves it
///   when taken.
/// - The loop calls it only when the next event is at least its length away and its page is a recently entered one
///   (`Op.translated`'s handler), so counts, event points and lookups stay where they are; a loop closing on its own
///   first instruction goes round inside the code while that still holds, and a block goes on into another of its
///   page on the same terms. Otherwise its first instruction runs alone (`executeOutOfLine`).
/// - Every load and store looks up the data TLB as the loop's fast path does (the same tag comparison, so device,
///   watched and code pages miss); a miss leaves the code before that access, with every register stored and the
///   instructions before it counted, and the loop performs the access as it does today.
/// - The slot says how far the block reaches (`rs1`, halfwords): forgetting any slot it covers (a store into the
///   page, a breakpoint) forgets it (`CodePage.forget`); a dropped code cache drops every block.
/// Checkpoints never hold blocks: a translated slot is a decoded one to `HartCacheSnapshot`, decoded again plain
/// on restore.
enum BlockTranslator {
    /// The block's entry: the register file, the data TLB (load entries, then store entries), the loop's `left`
    /// (the first instruction counted) and three words: pc (in: the block's address; out: where to go on), the
    /// current recent-page table's address, and 0 (out: 1 when the block left at an instruction it could not run
    /// rather than at a control transfer's target). Returns `left` as the loop goes on with it (the instruction at
    /// the new pc counted).
    typealias Entry = @convention(c) (UnsafeMutablePointer<UInt64>, UnsafeMutableRawPointer, Int,
                                      UnsafeMutablePointer<UInt64>) -> Int

    /// The most instructions in a block. There is no least: a block of one or two (a return, a call's set-up and the
    /// call) is not worth a call from the loop, but blocks that jump to it go on into it instead of back to the loop
    /// (a 1-hart boot ran 72% of its instructions translated against 68% with at least three, 4% less CPU time).
    static let maxInstructions = 32
    /// The furthest a block reaches, in bytes (`CodePage.forget` looks this far back for blocks to forget).
    static let maxReach = 4 * maxInstructions
    /// Whether this host can run translated code.
    #if arch(x86_64)
    static let hostSupported = true
    #else
    static let hostSupported = false
    #endif

    /// One guest instruction as the block runs it.
    struct Instruction {
        var e: DecodedInstruction
        /// Byte offset from the block's start, and length.
        var offset: Int
        var length: Int
    }

    /// The block starting at page offset `start`, decoded from the page's snapshot, or nil when its first instruction
    /// is not one the tier translates.
    static func block(in page: UnsafeMutablePointer<DecodedInstruction>, at start: Int) -> [Instruction]? {
        var instructions: [Instruction] = []
        var offset = start
        let bytes = CodePage.snapshot(page)
        while instructions.count < maxInstructions && offset <= 0xffe {
            let op = page[offset >> 1].op
            guard op != .undecoded && op != .breakpoint && op != .pageCross,
                  let (decoded, length) = CodePage.instruction(in: bytes, at: offset),
                  translates(decoded) else { break }
            instructions.append(Instruction(e: decoded, offset: offset - start, length: length))
            offset += length
            if endsBlock(decoded) { break }
        }
        return instructions.isEmpty ? nil : instructions
    }

    /// Whether the block ends with this instruction: a jump. A conditional branch leaves the block only when taken
    /// (to its first instruction, it goes round again).
    static func endsBlock(_ e: DecodedInstruction) -> Bool {
        switch e.op {
        case .jal, .cJal, .jalr, .cJalr: true
        default: false
        }
    }

    static func translates(_ e: DecodedInstruction) -> Bool {
        switch e.op {
        case .li, .auipc, .jal, .jalr, .beq, .bne, .blt, .bge, .bltu, .bgeu,
             .lb, .lh, .lw, .ld, .lbu, .lhu, .lwu, .sb, .sh, .sw, .sd,
             .addi, .slti, .sltiu, .xori, .ori, .andi, .slli, .srli, .srai,
             .add, .sub, .sll, .sltu, .xor, .srl, .or, .and,
             .addiw, .slliw, .srliw, .sraiw, .addw, .subw, .sllw, .mul, .mulw, .div, .rem, .remu, .fence,
             .cLi, .cAddi, .cAddiw, .cAdd, .cSub, .cXor, .cOr, .cAnd, .cAddw, .cSubw, .cSlli, .cSrli, .cSrai, .cAndi,
             .cLw, .cLd, .cSw, .cSd, .cJal, .cJalr, .cBeq, .cBne, .atomic:
            return true
        case .rareInteger:
            switch RareIntegerOperation(rawValue: e.imm) {
            case .slt, .sra, .srlw, .sraw, .divu, .divw, .divuw, .remw, .remuw: return true
            default: return false
            }
        default:
            return false
        }
    }
}

#if arch(x86_64)
extension BlockTranslator {
    typealias Assembler = X86Assembler
    typealias Register = X86Assembler.Register
    typealias Operand = X86Assembler.Operand

    /// Host registers: the register file, the data TLB, `left` and the pc pointer stay in these for the whole block;
    /// rax, rcx and rdx are scratch; the rest hold the guest registers the block uses most.
    static let registerFile = Register.rbx, dataTLB = Register.rbp, left = Register.r15, pcPointer = Register.r14
    static let guestHomes: [Register] = [.rsi, .rdi, .r8, .r9, .r10, .r11, .r12, .r13]
    static let savedRegisters: [Register] = [.rbx, .rbp, .r12, .r13, .r14, .r15]

    /// Where a block's code goes on when another block of its page jumps straight to it: past the prologue that
    /// saves the host's registers and takes the arguments (both blocks share them), where it loads its own guest
    /// registers.
    static let chainEntry = 22

    /// x86-64 code for `block`, which starts at page offset `start` of the decoded page `page`; `arena` is where
    /// the blocks' code lives (see `Entry`).
    static func translate(_ block: [Instruction], page: UnsafeMutablePointer<DecodedInstruction>, start: Int,
                          arena: UInt) -> [UInt8] {
        precondition(MemoryLayout<DecodedInstruction>.offset(of: \.rd) == 1
                     && MemoryLayout<DecodedInstruction>.offset(of: \.imm) == 4
                     && MemoryLayout<RecentPage>.stride == 16 && MemoryLayout<RecentPage>.offset(of: \.key) == 8,
                     "the slot and recent-page layouts chaining reads")
        var emitter = BlockEmitter(block, page: UInt(bitPattern: page), start: start, arena: arena)
        return emitter.emit()
    }

    /// Emits one block's code: allocation, body, exits.
    private struct BlockEmitter {
        let block: [Instruction]
        var a = Assembler()
        /// Guest register -> its host register, for those the block keeps in one.
        var home = [Register?](repeating: nil, count: 32)
        /// Guest registers the block writes (stored back at every exit).
        var written: [Int] = []
        var exits: [(label: Assembler.Label, pc: ExitPC, counted: Int, chains: Bool)] = []
        let loopTop: Assembler.Label
        /// Leaves with rax = left, and the tail that goes on into the block whose slot rcx points at.
        let leave: Assembler.Label
        let chainTail: Assembler.Label
        /// Looks the new pc's page up among the recently entered ones, then goes on as `chainTail`.
        let crossPage: Assembler.Label
        /// The decoded page's address, the block's page offset, the arena's address.
        let page: UInt
        let start: Int
        let arena: UInt

        /// Where an exit goes on: a constant distance from the block's start, or the address in rcx.
        enum ExitPC {
            case offset(Int)
            case inRCX
        }

        init(_ block: [Instruction], page: UInt, start: Int, arena: UInt) {
            self.block = block
            self.page = page
            self.start = start
            self.arena = arena
            loopTop = a.newLabel()
            leave = a.newLabel()
            chainTail = a.newLabel()
            crossPage = a.newLabel()
            var uses = [Int](repeating: 0, count: 32)
            var writes = [Bool](repeating: false, count: 32)
            for i in block {
                for r in BlockEmitter.sources(i.e) where r != 0 { uses[r] += 1 }
                if let d = BlockEmitter.destination(i.e) {
                    uses[d] += 1
                    writes[d] = true
                }
            }
            // The most used first (the lower number of equals).
            let ranked = (1..<32).filter { uses[$0] > 0 }.sorted { uses[$0] != uses[$1] ? uses[$0] > uses[$1] : $0 < $1 }
            for (index, guest) in ranked.prefix(guestHomes.count).enumerated() { home[guest] = guestHomes[index] }
            written = (1..<32).filter { writes[$0] }
        }

        /// The integer registers an instruction reads.
        static func sources(_ e: DecodedInstruction) -> [Int] {
            switch e.op {
            case .li, .cLi, .auipc, .jal, .cJal: return []
            case .add, .sub, .sll, .sltu, .xor, .srl, .or, .and, .addw, .subw, .sllw, .mul, .mulw, .rareInteger,
                 .div, .rem, .remu,
                 .cAdd, .cSub, .cXor, .cOr, .cAnd, .cAddw, .cSubw,
                 .beq, .bne, .blt, .bge, .bltu, .bgeu, .cBeq, .cBne, .sb, .sh, .sw, .sd, .cSw, .cSd, .atomic:
                return [Int(e.rs1), Int(e.rs2)]
            default: return [Int(e.rs1)]
            }
        }

        /// The integer register an instruction writes, if any (never x0 or its sink).
        static func destination(_ e: DecodedInstruction) -> Int? {
            switch e.op {
            case .beq, .bne, .blt, .bge, .bltu, .bgeu, .cBeq, .cBne, .sb, .sh, .sw, .sd, .cSw, .cSd: return nil
            default:
                let d = Int(e.rd)
                return d == 0 || d == RegisterFile.zeroSink ? nil : d
            }
        }

        func operand(_ r: Int) -> Operand {
            if let host = home[r] { return .register(host) }
            return .memory(registerFile, Int32(8 * r))
        }

        /// rax (or `into`) = guest register r.
        mutating func read(_ r: Int, into host: Register = .rax) {
            if r == 0 {
                a.arithmetic(.xor, host, .register(host), wide: false)
            } else {
                a.move(.register(host), operand(r))
            }
        }

        /// Guest register rd = rax (nothing for x0).
        mutating func write(_ rd: UInt8) {
            let d = Int(rd)
            guard d != 0 && d != RegisterFile.zeroSink else { return }
            a.move(operand(d), .register(.rax))
        }

        /// `operation` rax, guest register r.
        mutating func combine(_ operation: Assembler.Arithmetic, _ r: Int, wide: Bool = true) {
            if r == 0 {
                a.arithmetic(operation, .register(.rax), immediate: 0, wide: wide)
            } else {
                a.arithmetic(operation, .rax, operand(r), wide: wide)
            }
        }

        /// Leaves the block: `counted` instructions of this pass are counted (the one at the exit's pc included).
        /// With `chains` (a control transfer, or the instruction after the block), into the block at the exit's pc
        /// when there is one (in this page, or in a recently entered one) and the next event leaves room for it;
        /// without (before an access the TLB does not map, or back at the block's start near the next event), the
        /// exit says so in the third word (see `Entry`): the loop does not count its pc as an entry.
        mutating func exit(_ pc: ExitPC, counted: Int, chains: Bool = false) {
            let label = a.newLabel()
            exits.append((label, pc, counted, chains))
            a.jump(label)
        }

        mutating func exit(if condition: Assembler.Condition, _ pc: ExitPC, counted: Int, chains: Bool = false) {
            let label = a.newLabel()
            exits.append((label, pc, counted, chains))
            a.jump(if: condition, label)
        }

        mutating func emit() -> [UInt8] {
            for r in savedRegisters { a.push(r) }
            a.move(.register(registerFile), .register(.rdi))
            a.move(.register(dataTLB), .register(.rsi))
            a.move(.register(left), .register(.rdx))
            a.move(.register(pcPointer), .register(.rcx))
            precondition(a.offset == chainEntry, "the prologue's length")
            for guest in 1..<32 {
                guard let host = home[guest] else { continue }
                a.move(.register(host), .memory(registerFile, Int32(8 * guest)))
            }
            a.bind(loopTop)
            for (index, instruction) in block.enumerated() { emit(instruction, index: index) }
            let last = block[block.count - 1]
            if !endsBlock(last.e) { exit(.offset(last.offset + last.length), counted: block.count, chains: true) }
            for (label, pc, counted, chains) in exits {
                a.bind(label)
                for guest in written {
                    if let host = home[guest] { a.move(.memory(registerFile, Int32(8 * guest)), .register(host)) }
                }
                if counted != 0 { a.arithmetic(.sub, .register(left), immediate: Int32(counted)) }
                if !chains { a.arithmetic(.or, .memory(pcPointer, 16), immediate: 1) }
                switch pc {
                case .offset(let offset):
                    if offset != 0 { a.arithmetic(.add, .memory(pcPointer, 0), immediate: Int32(offset)) }
                    let target = start + offset
                    if chains && target >= 0 && target <= 0xffe {
                        a.move(.rcx, constant: UInt64(page) &+ UInt64(target >> 1) &* UInt64(MemoryLayout<DecodedInstruction>.stride))
                        a.jump(chainTail)
                    } else {
                        a.jump(chains ? crossPage : leave)
                    }
                case .inRCX:
                    // Wherever it lands: the block's own page is a recently entered one too.
                    a.move(.memory(pcPointer, 0), .register(.rcx))
                    a.jump(chains ? crossPage : leave)
                }
            }
            // The new pc in another page: its slot when that page is a recently entered one (`RecentPage`, the
            // table the loop's `jump` reads, whose address the loop left after pc), as the loop would find it.
            a.bind(crossPage)
            a.move(.register(.rax), .memory(pcPointer, 0))
            a.move(.register(.rdx), .register(.rax))
            a.shift(.rightLogical, .rdx, by: 8)
            a.arithmetic(.and, .register(.rdx), immediate: Int32(RecentPage.mask << 4), wide: false)
            a.arithmetic(.add, .rdx, .memory(pcPointer, 8))
            a.move(.register(.rcx), .register(.rax))
            a.arithmetic(.and, .register(.rcx), immediate: -4096)
            a.arithmetic(.cmp, .rcx, .memory(.rdx, 0))
            a.jump(if: .notEqual, leave)
            a.move(.register(.rcx), .register(.rax))
            a.shift(.left, .rcx, by: 2)
            a.arithmetic(.add, .rcx, .memory(.rdx, 8))
            // rcx: the slot at the new pc. Its block runs on from here when it fits before the next event, as the loop
            // would have called it.
            a.bind(chainTail)
            a.compareByte(at: .rcx, 0, Op.translated.rawValue)
            a.jump(if: .notEqual, leave)
            a.load(.rax, size: 1, signed: false, from: .rcx, 1)
            a.arithmetic(.sub, .register(.rax), immediate: 1)
            a.arithmetic(.cmp, left, .register(.rax))
            a.jump(if: .less, leave)
            a.load(.rax, size: 4, signed: true, from: .rcx, 4)
            a.move(.rdx, constant: UInt64(arena) &+ UInt64(chainEntry))
            a.arithmetic(.add, .rax, .register(.rdx))
            a.jump(to: .rax)
            a.bind(leave)
            a.move(.register(.rax), .register(left))
            for r in savedRegisters.reversed() { a.pop(r) }
            a.ret()
            return a.finished()
        }

        /// rax = the effective address of a load or store (rs1 + `displacement`), then rcx = its TLB entry and rax its
        /// host address, or an exit before the instruction (index `index`) when the entry does not map the access
        /// (which includes a misaligned one: the tag compared keeps the address's low bits).
        mutating func translateAddress(_ e: DecodedInstruction, displacement: Int32, size: Int, store: Bool, index: Int,
                                       at offset: Int) {
            read(Int(e.rs1))
            if displacement != 0 { a.arithmetic(.add, .register(.rax), immediate: displacement) }
            a.move(.register(.rcx), .register(.rax))
            a.shift(.rightLogical, .rcx, by: 8)
            // ((address >> 12) & indexMask) * 16, the entry's offset.
            a.arithmetic(.and, .register(.rcx), immediate: Int32(TLBLayout.indexMask << 4), wide: false)
            a.arithmetic(.add, .rcx, .register(dataTLB))
            a.move(.register(.rdx), .register(.rax))
            a.arithmetic(.and, .register(.rdx), immediate: Int32(-4096 + size - 1))
            let entry = Int32(store ? TLBLayout.entries * MemoryLayout<TLBEntry>.stride : 0)
            a.arithmetic(.cmp, .rdx, .memory(.rcx, entry))
            exit(if: .notEqual, .offset(offset), counted: index)
            a.arithmetic(.add, .rax, .memory(.rcx, entry + 8))
        }

        mutating func emit(_ i: Instruction, index: Int) {
            let e = i.e
            let rd = e.rd, rs1 = Int(e.rs1), rs2 = Int(e.rs2)
            let next = i.offset + i.length
            switch e.op {
            case .li, .cLi:
                a.move(.rax, constant: UInt64(bitPattern: Int64(e.imm)))
                write(rd)
            case .auipc:
                a.move(.register(.rax), .memory(pcPointer, 0))
                a.arithmetic(.add, .register(.rax), immediate: Int32(i.offset))
                a.arithmetic(.add, .register(.rax), immediate: e.imm)
                write(rd)
            case .addi, .cAddi, .xori, .ori, .andi, .cAndi, .addiw, .cAddiw:
                read(rs1)
                let operation: Assembler.Arithmetic
                switch e.op {
                case .xori: operation = .xor
                case .ori: operation = .or
                case .andi, .cAndi: operation = .and
                default: operation = .add
                }
                if e.imm != 0 || operation == .and { a.arithmetic(operation, .register(.rax), immediate: e.imm) }
                if e.op == .addiw || e.op == .cAddiw { a.signExtend32(.rax, .register(.rax)) }
                write(rd)
            case .slti, .sltiu:
                read(rs1)
                a.arithmetic(.cmp, .register(.rax), immediate: e.imm)
                a.set(.rax, if: e.op == .slti ? .less : .below)
                write(rd)
            case .slli, .cSlli, .srli, .cSrli, .srai, .cSrai, .slliw, .srliw, .sraiw:
                read(rs1)
                let word = e.op == .slliw || e.op == .srliw || e.op == .sraiw
                let kind: Assembler.Shift
                switch e.op {
                case .slli, .cSlli, .slliw: kind = .left
                case .srli, .cSrli, .srliw: kind = .rightLogical
                default: kind = .rightArithmetic
                }
                if e.imm != 0 { a.shift(kind, .rax, by: UInt8(e.imm), wide: !word) }
                if word { a.signExtend32(.rax, .register(.rax)) }
                write(rd)
            case .add, .cAdd, .sub, .cSub, .xor, .cXor, .or, .cOr, .and, .cAnd, .addw, .cAddw, .subw, .cSubw:
                read(rs1)
                let operation: Assembler.Arithmetic
                switch e.op {
                case .sub, .cSub, .subw, .cSubw: operation = .sub
                case .xor, .cXor: operation = .xor
                case .or, .cOr: operation = .or
                case .and, .cAnd: operation = .and
                default: operation = .add
                }
                combine(operation, rs2)
                if e.op == .addw || e.op == .cAddw || e.op == .subw || e.op == .cSubw {
                    a.signExtend32(.rax, .register(.rax))
                }
                write(rd)
            case .sltu:
                read(rs1)
                combine(.cmp, rs2)
                a.set(.rax, if: .below)
                write(rd)
            case .sll, .srl, .sllw:
                read(rs2, into: .rcx)
                read(rs1)
                a.shiftByCL(e.op == .srl ? .rightLogical : .left, .rax, wide: e.op != .sllw)
                if e.op == .sllw { a.signExtend32(.rax, .register(.rax)) }
                write(rd)
            case .rareInteger:
                switch RareIntegerOperation(rawValue: e.imm)! {
                case .slt:
                    read(rs1)
                    combine(.cmp, rs2)
                    a.set(.rax, if: .less)
                case .divu: divide(rs1, rs2, signed: false, remainder: false, word: false)
                case .divw: divide(rs1, rs2, signed: true, remainder: false, word: true)
                case .divuw: divide(rs1, rs2, signed: false, remainder: false, word: true)
                case .remw: divide(rs1, rs2, signed: true, remainder: true, word: true)
                case .remuw: divide(rs1, rs2, signed: false, remainder: true, word: true)
                case .sra, .srlw, .sraw:
                    read(rs2, into: .rcx)
                    read(rs1)
                    let word = e.imm != RareIntegerOperation.sra.rawValue
                    let kind: Assembler.Shift = e.imm == RareIntegerOperation.srlw.rawValue ? .rightLogical : .rightArithmetic
                    a.shiftByCL(kind, .rax, wide: !word)
                    if word { a.signExtend32(.rax, .register(.rax)) }
                default:
                    preconditionFailure("not translated")
                }
                write(rd)
            case .div:
                divide(rs1, rs2, signed: true, remainder: false, word: false)
                write(rd)
            case .rem:
                divide(rs1, rs2, signed: true, remainder: true, word: false)
                write(rd)
            case .remu:
                divide(rs1, rs2, signed: false, remainder: true, word: false)
                write(rd)
            case .fence:
                break  // Harts run one at a time: nothing to order (as the loop runs it).
            case .mul, .mulw:
                read(rs1)
                if rs2 == 0 {
                    a.arithmetic(.xor, .rax, .register(.rax), wide: false)
                } else {
                    a.multiply(.rax, operand(rs2))
                }
                if e.op == .mulw { a.signExtend32(.rax, .register(.rax)) }
                write(rd)
            case .lb, .lh, .lw, .ld, .lbu, .lhu, .lwu, .cLw, .cLd:
                let (size, signed): (Int, Bool)
                switch e.op {
                case .lb: (size, signed) = (1, true)
                case .lbu: (size, signed) = (1, false)
                case .lh: (size, signed) = (2, true)
                case .lhu: (size, signed) = (2, false)
                case .lw, .cLw: (size, signed) = (4, true)
                case .lwu: (size, signed) = (4, false)
                default: (size, signed) = (8, false)
                }
                translateAddress(e, displacement: e.imm, size: size, store: false, index: index, at: i.offset)
                a.load(.rax, size: size, signed: signed, from: .rax)
                write(rd)
            case .sb, .sh, .sw, .sd, .cSw, .cSd:
                let size: Int
                switch e.op {
                case .sb: size = 1
                case .sh: size = 2
                case .sw, .cSw: size = 4
                default: size = 8
                }
                translateAddress(e, displacement: e.imm, size: size, store: true, index: index, at: i.offset)
                read(rs2, into: .rdx)
                a.store(.rdx, size: size, to: .rax)
            case .atomic:
                atomic(e, index: index, at: i.offset)
            case .beq, .bne, .blt, .bge, .bltu, .bgeu, .cBeq, .cBne:
                read(rs1)
                combine(.cmp, rs2)
                let taken: Assembler.Condition
                switch e.op {
                case .beq, .cBeq: taken = .equal
                case .bne, .cBne: taken = .notEqual
                case .blt: taken = .less
                case .bge: taken = .greaterOrEqual
                case .bltu: taken = .below
                default: taken = .aboveOrEqual
                }
                let target = i.offset + Int(e.imm)
                if target == 0 {
                    let fallThrough = a.newLabel()
                    a.jump(if: taken.inverted, fallThrough)
                    loopBack(ran: index + 1)
                    a.bind(fallThrough)
                } else {
                    exit(if: taken, .offset(target), counted: index + 1, chains: true)
                }
            case .jal, .cJal:
                if rd != 0 && Int(rd) != RegisterFile.zeroSink {
                    a.move(.register(.rax), .memory(pcPointer, 0))
                    a.arithmetic(.add, .register(.rax), immediate: Int32(next))
                    write(rd)
                }
                let target = i.offset + Int(e.imm)
                if target == 0 {
                    loopBack(ran: block.count)
                } else {
                    exit(.offset(target), counted: block.count, chains: true)
                }
            case .jalr, .cJalr:
                read(rs1, into: .rcx)
                if e.imm != 0 { a.arithmetic(.add, .register(.rcx), immediate: e.imm) }
                a.arithmetic(.and, .register(.rcx), immediate: -2)
                if rd != 0 && Int(rd) != RegisterFile.zeroSink {
                    a.move(.register(.rax), .memory(pcPointer, 0))
                    a.arithmetic(.add, .register(.rax), immediate: Int32(next))
                    write(rd)
                }
                exit(.inRCX, counted: block.count, chains: true)
            default:
                preconditionFailure("not translated")
            }
        }

        /// LR, SC or an AMO, as `Hart.executeAtomic` runs it: at its host address, when the TLB entry maps it (LR through
        /// the load entries, the rest through the store entries; misaligned, it misses), else an exit before it. The
        /// reservation is the host address, kept in the register file (`RegisterFile.reservation`).
        mutating func atomic(_ e: DecodedInstruction, index: Int, at offset: Int) {
            let form = AtomicForm(imm: e.imm)
            let size = Int(form.width), word = !form.isDoubleword
            let reservation = Operand.memory(registerFile, Int32(8 * RegisterFile.reservation))
            translateAddress(e, displacement: 0, size: size, store: !form.isLoadReserved, index: index, at: offset)
            if form.isLoadReserved {
                a.move(reservation, .register(.rax))
                a.load(.rax, size: size, signed: true, from: .rax)
                write(e.rd)
                return
            }
            read(Int(e.rs2), into: .rdx)  // before rd is written: it may be rs2
            if form.isStoreConditional {
                let failed = a.newLabel(), done = a.newLabel()
                a.arithmetic(.cmp, .rax, reservation)
                a.jump(if: .notEqual, failed)
                a.store(.rdx, size: size, to: .rax)
                a.arithmetic(.xor, .rax, .register(.rax), wide: false)
                a.jump(done)
                a.bind(failed)
                a.move(.rax, constant: 1)
                a.bind(done)
                a.arithmetic(.or, reservation, immediate: -1)  // none held now (.max)
                write(e.rd)
                return
            }
            // rcx = the old value, rdx = the new one (from rs2 and the old value), stored; rd = the old value.
            a.load(.rcx, size: size, signed: true, from: .rax)
            let keepOperand = a.newLabel()
            switch form.funct5 {
            case AtomicForm.swap: break
            case AtomicForm.add: a.arithmetic(.add, .rdx, .register(.rcx))
            case AtomicForm.xor: a.arithmetic(.xor, .rdx, .register(.rcx))
            case AtomicForm.and: a.arithmetic(.and, .rdx, .register(.rcx))
            case AtomicForm.or: a.arithmetic(.or, .rdx, .register(.rcx))
            default:
                // min, max, minu, maxu: the old value where it is the one chosen, compared in the access's width.
                let keepsOperandWhen: Assembler.Condition
                switch form.funct5 {
                case AtomicForm.min: keepsOperandWhen = .less  // the operand when operand < old
                case AtomicForm.max: keepsOperandWhen = .greaterOrEqual  // the operand when operand >= old
                case AtomicForm.minUnsigned: keepsOperandWhen = .below
                default: keepsOperandWhen = .aboveOrEqual  // maxUnsigned
                }
                a.arithmetic(.cmp, .rdx, .register(.rcx), wide: !word)
                a.jump(if: keepsOperandWhen, keepOperand)
                a.move(.register(.rdx), .register(.rcx))
            }
            a.bind(keepOperand)
            a.store(.rdx, size: size, to: .rax)
            a.move(.register(.rax), .register(.rcx))
            write(e.rd)
        }

        /// rax = the quotient or remainder of guest registers a and b as the M extension defines them: a zero
        /// divisor gives all ones (quotient) or a (remainder), a signed overflow (the most negative value by -1) the
        /// dividend (quotient) or 0; `word` on the low 32 bits, the result sign-extended.
        mutating func divide(_ dividend: Int, _ divisor: Int, signed: Bool, remainder: Bool, word: Bool) {
            let done = a.newLabel(), byZero = a.newLabel()
            read(divisor, into: .rcx)
            read(dividend)
            a.test(.rcx, wide: !word)
            a.jump(if: .equal, byZero)
            if signed {
                let ordinary = a.newLabel()
                a.arithmetic(.cmp, .register(.rcx), immediate: -1, wide: !word)
                a.jump(if: .notEqual, ordinary)
                if remainder {
                    a.arithmetic(.xor, .rax, .register(.rax), wide: false)
                } else {
                    a.negate(.rax, wide: !word)
                }
                a.jump(done)
                a.bind(ordinary)
            }
            a.divide(by: .rcx, signed: signed, wide: !word)
            if remainder { a.move(.register(.rax), .register(.rdx)) }
            a.jump(done)
            a.bind(byZero)
            if !remainder { a.move(.rax, constant: .max) }
            a.bind(done)
            if word { a.signExtend32(.rax, .register(.rax)) }
        }

        /// A transfer back to the block's first instruction after `ran` of its instructions: round again while the
        /// next event leaves room for the whole block, else leave with that instruction counted.
        mutating func loopBack(ran: Int) {
            a.arithmetic(.sub, .register(left), immediate: Int32(ran))
            a.arithmetic(.cmp, .register(left), immediate: Int32(block.count - 1))
            a.jump(if: .greaterOrEqual, loopTop)
            exit(.offset(0), counted: 0)
        }
    }
}
#endif

/// When a block is translated: every entry into a code address (a taken jump or branch the loop runs, or a block
/// leaving at a control transfer's target) counts in a small table hashed by the address; the entry that wraps its
/// count translates the block there (`Hart.translateBlock`). A collision only translates a block sooner.
enum HotCode {
    static let counters = 4096
}

extension Hart {
    /// Counts an entry into `target` (its slot at `pageKey &+ target << 2`).
    @inline(__always)
    func countEntry(_ target: UInt64, _ pageKey: UInt) {
        let index = Int(truncatingIfNeeded: target >> 1) & (HotCode.counters - 1)
        let count = entryCounts[index] &+ 1
        entryCounts[index] = count
        if _slowPath(count == 0) { translateBlock(at: target, pageKey) }
    }

    /// Translates the block at `target` into its slot, if the tier is on and the block is worth it.
    @inline(never)
    func translateBlock(at target: UInt64, _ pageKey: UInt) {
        #if arch(x86_64)
        guard translation != .off else { return }
        // Eagerly: the next entry wraps the count again.
        if translation == .eager { entryCounts[Int(truncatingIfNeeded: target >> 1) & (HotCode.counters - 1)] = 255 }
        let offset = Int(target & 0xfff)
        guard let page = UnsafeMutablePointer<DecodedInstruction>(
                bitPattern: pageKey &+ UInt(truncatingIfNeeded: target & ~0xfff) &<< 2),
              // Not the scratch pages: a jump run alone from one (a block's first instruction, a breakpoint's) counts
              // its target under that page's key, and their slots and snapshots hold no page's code.
              page != lookupPage && page != straddlePage && page != aloneSlotPage,
              page[offset >> 1].op != .translated else { return }
        // The host's floating-point flags are the guest's while it runs (FPU.swift): those raised so far go to the
        // guest, and whatever translating raises (Swift's collections compute sizes in Double) is dropped after.
        collectFloatingPointFlags()
        defer { dropHostFlags() }
        guard let block = BlockTranslator.block(in: page, at: offset) else { return }
        let code = BlockTranslator.translate(block, page: page, start: offset, arena: translatedBase)
        if translatedCode.isFull(for: code) { restartTranslatedCode() }
        guard let at = translatedCode.install(code) else { return }
        counters.translatedCodeBytes &+= UInt64(code.count)
        // A fused slot before this one reads this one's fields as its later instruction: those become plain first.
        CodePage.forget(page, from: offset, through: offset, keepingBlocks: true) { self.decodedAgain(page, slot: $0) }
        let last = block[block.count - 1]
        page[offset >> 1] = DecodedInstruction(.translated, rd: UInt8(block.count),
                                               rs1: UInt8((last.offset + last.length) >> 1), imm: at)
        counters.blocksTranslated &+= 1
        #endif
    }

    /// The arena is full: every block is given up (its slot holds its first instruction again, decoded as the loop
    /// decodes it) and the arena starts afresh, so that code that is hot later in a long run is still translated
    /// (blocks given up translate again as they are entered). Which slots are decoded stays as it was: the guest's
    /// run does not depend on the tier.
    func restartTranslatedCode() {
        for index in 0..<codePageCount {
            if let page = codePages[index] { untranslate(page) }
        }
        translatedCode.reset()
        counters.translatedCodeRestarts &+= 1
    }

    /// Gives up `page`'s translated blocks: their slots hold their first instructions again.
    func untranslate(_ page: UnsafeMutablePointer<DecodedInstruction>) {
        for slot in 0..<CodePage.slots where page[slot].op == .translated { page[slot] = decodedAgain(page, slot: slot) }
    }
}

/// Where a hart's translated blocks live: one memory object mapped twice, read-write where blocks are written and
/// read-execute where they run (no page is ever both writable and executable in one mapping, and writing a block
/// needs no call to the host), filled in order, all taken back at once with the decoded-code cache
/// (`Hart.dropCodeCache`) or when it is full (`Hart.restartTranslatedCode`).
struct TranslatedCodeArena {
    /// The bytes it holds (`HartConfig.translatedCodeBytes`), and those mapped (whole host pages).
    let bytes: Int
    private let mapped: Int
    /// The executable view (nil: this hart translates nothing), and the writable one.
    let base: UnsafeMutableRawPointer?
    private let writable: UnsafeMutableRawPointer?
    private var used = 0

    /// Maps both views when `reserving` (hosts that run translated code) and the host allows it.
    init(reserving: Bool, bytes: Int) {
        self.bytes = max(bytes, 0)
        mapped = (self.bytes + 4095) & ~4095
        (base, writable) = reserving && mapped > 0 ? TranslatedCodeArena.map(mapped) : (nil, nil)
    }

    private static func map(_ bytes: Int) -> (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) {
        let file = rrvm_memfd_create("rrvm-translated-code")
        guard file >= 0 else { return (nil, nil) }
        defer { close(file) }
        guard ftruncate(file, off_t(bytes)) == 0,
              let writable = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0), writable != MAP_FAILED else {
            return (nil, nil)
        }
        guard let executable = mmap(nil, bytes, PROT_READ | PROT_EXEC, MAP_SHARED, file, 0), executable != MAP_FAILED else {
            munmap(writable, bytes)
            return (nil, nil)
        }
        return (executable, writable)
    }

    /// Whether `code` no longer fits (in an arena that is mapped).
    func isFull(for code: [UInt8]) -> Bool {
        writable != nil && used + code.count > bytes
    }

    /// Copies `code` in and returns its offset from `base`, or nil when the arena is full or was never mapped.
    mutating func install(_ code: [UInt8]) -> Int32? {
        guard let writable, used + code.count <= bytes else { return nil }
        let start = used
        code.withUnsafeBytes { (writable + start).copyMemory(from: $0.baseAddress!, byteCount: code.count) }
        used = (start + code.count + 15) & ~15
        return Int32(start)
    }

    mutating func reset() {
        used = 0
    }

    func release() {
        if let base { munmap(base, mapped) }
        if let writable { munmap(writable, mapped) }
    }
}
