/// Spin loops: a hart waiting in a loop that cannot end while it alone runs.
///
/// Harts run one at a time, so memory changes under a running hart only by its own stores. A loop whose body
/// makes no store and whose every iteration computes the same values (each register it writes is written
/// before it is read, so nothing carries from one iteration to the next) reads the same memory each time round:
/// once its closing branch is taken, it is taken for the rest of the slice. Firmware waits so (OpenSBI's
/// secondary harts poll the boot hart's status word with a load and a branch, no PAUSE), and so do spinlocks
/// written as LR and a branch. When another hart could run (`spinHintsEndRun`), such a loop ends the slice as a
/// spin-wait hint does, instead of spinning out its quantum.
///
/// The hart looks for one only at fixed points of the cluster's count (every `spinCheckInterval` instructions of
/// G, an event of the loop), from what a checkpoint restores (pc, registers, the decoded page's decoded slots and
/// the bytes they were decoded from), so a paused, restored or replayed run ends its slices where the recorded
/// one did. Ending a slice is always allowed; a loop taken for a spin that would have ended costs only a switch.
extension Hart {
    /// Instructions of the cluster's count between two looks for a spin loop.
    public static let spinCheckInterval: UInt64 = 16384
    /// The longest loop body looked at, in bytes.
    static let spinLoopBytes = 64

    /// The next point of the run, `executed` instructions in, at which to look for a spin loop, or nil.
    func nextSpinCheck(after executed: UInt64) -> UInt64? {
        guard spinHintsEndRun else { return nil }
        let g = runGlobalCount &+ executed
        return (g / Self.spinCheckInterval + 1) * Self.spinCheckInterval &- runGlobalCount
    }

    /// Whether `executed` instructions into the run is a look for a spin loop, and pc is in one whose closing
    /// branch the registers take now.
    func endsRunForSpinLoop(executed: UInt64, pc: UInt64) -> Bool {
        guard spinHintsEndRun, executed > 0, (runGlobalCount &+ executed) % Self.spinCheckInterval == 0 else { return false }
        let spinning = isInSpinLoop(pc)
        if spinning { counters.spinLoopsLeft &+= 1 }
        return spinning
    }

    /// Whether pc is in a spin loop (see above) whose closing branch the current registers take, read from the
    /// decoded page that runs pc: the loop's instructions must all have been decoded there.
    func isInSpinLoop(_ pc: UInt64) -> Bool {
        let recent = recentPages[Int(truncatingIfNeeded: (pc >> 12) & RecentPage.mask)]
        guard recent.base == pc & ~0xfff,
              let page = UnsafeMutablePointer<DecodedInstruction>(
                  bitPattern: recent.key &+ UInt(truncatingIfNeeded: pc & ~0xfff) &<< 2) else { return false }
        let bytes = UnsafeRawPointer(CodePage.snapshot(page))
        let start = Int(pc & 0xfff)
        // The loop's closing branch: the first backward transfer at or after pc that lands at or before it.
        var offset = start
        while offset - start <= Self.spinLoopBytes {
            guard let (instruction, length) = decodedInstruction(page, bytes, at: offset) else { return false }
            if let target = backwardTarget(instruction, at: offset) {
                guard target <= start else { return false }
                return isSpinLoop(page, bytes, from: target, closedAt: offset, branch: instruction)
            }
            offset += length
        }
        return false
    }

    /// The instruction decoded at `offset` of `page`, from the bytes its slot was decoded from, and its length;
    /// nil where the slot is not decoded or the instruction does not fit the page. A breakpoint slot counts as its
    /// instruction (decoded from the bytes, which the snapshot holds): a debugger's breakpoints must not move
    /// where a slice ends, and every page has one at each breakpoint's page offset.
    private func decodedInstruction(_ page: UnsafeMutablePointer<DecodedInstruction>, _ bytes: UnsafeRawPointer,
                                    at offset: Int) -> (DecodedInstruction, Int)? {
        guard offset >= 0, offset <= 0xffe, page[offset >> 1].op != .undecoded else { return nil }
        return CodePage.instruction(in: bytes, at: offset)
    }

    /// The target offset of a conditional branch or a jump without link at `offset` that goes back (or to itself).
    private func backwardTarget(_ e: DecodedInstruction, at offset: Int) -> Int? {
        switch e.op {
        case .beq, .bne, .blt, .bge, .bltu, .bgeu, .cBeq, .cBne:
            break
        case .jal, .cJal:
            guard Int(e.rd) == RegisterFile.zeroSink else { return nil }
        default:
            return nil
        }
        return e.imm <= 0 ? offset + Int(e.imm) : nil
    }

    /// Whether the loop from `first` to its closing `branch` at `last` computes the same thing every time round
    /// (loads, LR, register arithmetic and branches out of it; each register it writes written before it is
    /// read), and goes round again with the current registers (the closing branch taken, no branch out taken).
    private func isSpinLoop(_ page: UnsafeMutablePointer<DecodedInstruction>, _ bytes: UnsafeRawPointer,
                            from first: Int, closedAt last: Int, branch: DecodedInstruction) -> Bool {
        var written: UInt64 = 0, readFirst: UInt64 = 0
        func read(_ register: UInt8) { if written & (1 << register) == 0 { readFirst |= 1 << register } }
        var offset = first
        while offset < last {
            guard let (e, length) = decodedInstruction(page, bytes, at: offset) else { return false }
            var writesRd = true
            switch e.op {
            case .li, .auipc, .cLi:
                break
            case .fence:
                writesRd = false
            case .addi, .slti, .sltiu, .xori, .ori, .andi, .slli, .srli, .srai, .addiw, .slliw, .srliw, .sraiw,
                 .cAddi, .cAddiw, .cSlli, .cSrli, .cSrai, .cAndi,
                 .lb, .lh, .lw, .ld, .lbu, .lhu, .lwu, .cLw, .cLd:
                read(e.rs1)
            case .add, .sub, .sll, .sltu, .xor, .srl, .or, .and, .addw, .subw, .sllw, .mul, .mulw, .div, .rem, .remu,
                 .rareInteger, .cAdd, .cSub, .cXor, .cOr, .cAnd, .cAddw, .cSubw:
                read(e.rs1)
                read(e.rs2)
            case .atomic where AtomicForm(imm: e.imm).isLoadReserved:
                read(e.rs1)
            case .beq, .bne, .blt, .bge, .bltu, .bgeu, .cBeq, .cBne:
                // A branch out of the loop, not taken now (else the loop ends), nor later.
                let target = offset + Int(e.imm)
                guard target < first || target > last, !branchTaken(e) else { return false }
                read(e.rs1)
                read(e.rs2)
                writesRd = false
            default:
                return false
            }
            if writesRd { written |= 1 << e.rd }
            offset += length
        }
        guard offset == last else { return false }
        read(branch.rs1)
        read(branch.rs2)
        // Registers are below 64 (the scratch slot of x0's writes is 32, never read; x0 reads 0).
        return readFirst & written == 0 && (branch.op == .jal || branch.op == .cJal || branchTaken(branch))
    }

    /// Whether the conditional branch `e` (decoded alone) is taken with the current registers: the conditions of the
    /// fused branch pairs (`FusedBranch`). c.beqz/c.bnez compare rs1 with rs2 = x0.
    private func branchTaken(_ e: DecodedInstruction) -> Bool {
        let a = regs[Int(e.rs1)], b = regs[Int(e.rs2)]
        switch e.op {
        case .beq, .cBeq: return BranchIfEqual.taken(a, b)
        case .bne, .cBne: return BranchIfNotEqual.taken(a, b)
        case .blt: return BranchIfLess.taken(a, b)
        case .bge: return BranchIfGreaterOrEqual.taken(a, b)
        case .bltu: return BranchIfLessUnsigned.taken(a, b)
        case .bgeu: return BranchIfGreaterOrEqualUnsigned.taken(a, b)
        default: return false
        }
    }
}
