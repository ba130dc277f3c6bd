@inline(__always) func signExtend32(_ value: UInt64) -> UInt64 {
    UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
}

@inline(__always) func immediate(_ e: SlotReference) -> UInt64 {
    UInt64(bitPattern: Int64(e.imm))
}

/// How often the interpreter loop looks for a due event (budget end, timer). Looking at every
/// instruction costs a select in every dispatch, so the loop runs without it while the next event is at least
/// `CodePage.straightLineLimit` instructions away, and then looks only at control transfers and slow steps:
/// between two of those at most a page of slots runs (a page's sentinel slots end in a slow step), so the
/// count cannot pass the event unseen. Nearer the event it looks at every instruction.
protocol DispatchMode {
    static var checksEveryInstruction: Bool { get }
}

enum CheckEveryInstruction: DispatchMode {
    static var checksEveryInstruction: Bool { true }
}

enum CheckAtControlTransfers: DispatchMode {
    static var checksEveryInstruction: Bool { false }
}

/// The branch of a fused branch pair (`Op.addiBeq`): each pair's handler is specialised to its condition.
protocol FusedBranch {
    static func taken(_ a: UInt64, _ b: UInt64) -> Bool
    /// The branch's length in bytes.
    static var length: UInt64 { get }
    /// c.beqz/c.bnez: compares rs1 with 0.
    static var comparesWithZero: Bool { get }
}

extension FusedBranch {
    static var length: UInt64 { 4 }
    static var comparesWithZero: Bool { false }
}

enum BranchIfEqual: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { a == b }
}

enum BranchIfNotEqual: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { a != b }
}

enum BranchIfLess: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { Int64(bitPattern: a) < Int64(bitPattern: b) }
}

enum BranchIfGreaterOrEqual: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { Int64(bitPattern: a) >= Int64(bitPattern: b) }
}

enum BranchIfLessUnsigned: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { a < b }
}

enum BranchIfGreaterOrEqualUnsigned: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { a >= b }
}

enum CompressedBranchIfZero: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { a == b }
    static var length: UInt64 { 2 }
    static var comparesWithZero: Bool { true }
}

enum CompressedBranchIfNotZero: FusedBranch {
    @inline(__always) static func taken(_ a: UInt64, _ b: UInt64) -> Bool { a != b }
    static var length: UInt64 { 2 }
    static var comparesWithZero: Bool { true }
}

/// The decoded slot being executed, read field by field.
struct SlotReference {
    let pointer: UnsafePointer<DecodedInstruction>

    @inline(__always) init(_ address: UInt) {
        pointer = UnsafePointer(bitPattern: address).unsafelyUnwrapped
    }

    @inline(__always) var op: Op { pointer.pointee.op }
    @inline(__always) var rd: UInt8 { pointer.pointee.rd }
    @inline(__always) var rs1: UInt8 { pointer.pointee.rs1 }
    @inline(__always) var rs2: UInt8 { pointer.pointee.rs2 }
    @inline(__always) var imm: Int32 { pointer.pointee.imm }
}

extension Hart {
    /// Runs until `budget` more instructions have retired, or it stops earlier (WFI, a device access, a
    /// breakpoint). `globalCount` is the cluster's instruction count at the start of the call: the time
    /// CSR and the Sstc comparator see mtime = (globalCount + retired in this call) >> icountShift.
    ///
    /// A hart that keeps taking the same exception with no instruction retiring in between (a trap vector
    /// that cannot be fetched or executed) can never make progress: it reports `.waitingForInterrupt`
    /// until an interrupt it can take arrives.
    public func run(budget: UInt64, globalCount: UInt64) -> StopReason {
        if stop == .mmio { return .mmio }
        stop = .none
        runGlobalCount = globalCount
        runBudget = budget
        updateSstc(executed: 0)
        if stuck {
            guard let cause = interruptToTake() else { return .waitingForInterrupt }
            stuck = false
            waiting = false
            pcValue = takeTrap(cause: cause | Cause.interruptFlag, value: 0, pc: pcValue, retiredNow: retired)
        } else if waiting {
            if effectiveMip() & mie == 0 { return .waitingForInterrupt }
            waiting = false
        }
        // Stepping over a watchpoint that fired: one instruction, unchecked (see `stepOverWatchpoint`).
        if watchesSuspended { runBudget = min(runBudget, 1) }
        defer { watchesSuspended = false }
        beginFloatingPoint()
        let reason = execute()
        endFloatingPoint()
        return reason
    }

    /// Handles what is due before the next instruction: the budget, the Sstc timer, interrupts.
    /// Returns a stop reason, or nil to go on (then `eventTarget` is the next event and pc may have moved to
    /// an interrupt handler).
    @inline(never)
    func handleEvent(executed: UInt64, pc: inout UInt64) -> StopReason? {
        if stuck { return .waitingForInterrupt }
        if executed >= runBudget { return .budgetExhausted }
        updateSstc(executed: executed)
        if let cause = interruptToTake() {
            pc = takeTrap(cause: cause | Cause.interruptFlag, value: 0, pc: pc, retiredNow: retired &+ executed)
        }
        // Resuming over a breakpoint lets only the run's first instruction pass it (see `Op.breakpoint`).
        if executed > 0 || resumeFromBreakpoint != pc { resumeFromBreakpoint = nil }
        if endsRunForSpinLoop(executed: executed, pc: pc) { return .spinHint }
        // The loop counts in an Int: events are at most 2^62 instructions apart.
        var target = min(runBudget, executed &+ (1 << 62))
        if let due = sstcDue(), due > executed, due < target { target = due }
        if let check = nextSpinCheck(after: executed), check < target { target = check }
        eventTarget = target
        return nil
    }

    /// Sets the Sstc STIP from the comparator at this point of the run.
    func updateSstc(executed: UInt64) {
        sstcPending = menvcfg & EnvConfig.stce != 0 && mtime(executed: executed) >= stimecmp
    }

    /// Instructions into the run after which the Sstc comparator fires, or nil.
    func sstcDue() -> UInt64? {
        guard menvcfg & EnvConfig.stce != 0, !sstcPending else { return nil }
        // The first G with G >> icountShift >= stimecmp.
        let (threshold, overflow) = stimecmp.multipliedReportingOverflow(by: 1 << icountShift)
        if overflow { return nil }
        return threshold > runGlobalCount ? threshold &- runGlobalCount : 0
    }

    /// The interpreter: runs the loop in the mode the distance to the next event allows, until a stop.
    func execute() -> StopReason {
        refreshRoundingFields()
        var pc = pcValue
        // The slot for pc is at pageKey &+ pc << 2 (8-byte slots per halfword): one register for the page. The host
        // folds the shift and the addition into the op load's address, so the loop keeps pc rather than the slot
        // address. Keeping the slot (each handler advancing it, pc derived where needed) was measured for issue 16:
        // from 2% fewer to 2% more host instructions as the register allocator coped, no faster, and one way of
        // moving it after a taken branch (`lea (slot, offset, 4)`) made the chains benchmark 3x slower on an AMD EPYC
        // host (cause not found).
        var pageKey = slotKey(lookupPage, pc)
        eventTarget = 0
        // Instructions still to run before the next event once the one about to start is counted (`interpret`).
        var left = -1
        while true {
            let reason = left &+ 1 >= CodePage.straightLineLimit
                ? interpret(CheckAtControlTransfers.self, pc: &pc, pageKey: &pageKey, left: &left)
                : interpret(CheckEveryInstruction.self, pc: &pc, pageKey: &pageKey, left: &left)
            if let reason { return reason }
        }
    }

    /// The interpreter loop. Its fast paths make no calls, so pc, the budget count, the page key and the data
    /// TLB stay in registers; everything else (TLB misses, devices, traps, CSRs, events, decoding) leaves the
    /// switch for `slowStep`, which works on the state stored in the hart and hands it back. Returns why the
    /// run stops, or nil when the distance to the next event calls for the other mode (see `DispatchMode`).
    @inline(never)
    func interpret<Mode: DispatchMode>(_: Mode.Type, pc pcInOut: inout UInt64, pageKey pageKeyInOut: inout UInt,
                                       left leftInOut: inout Int) -> StopReason? {
        // `left` has counted the instruction about to start: each handler counts the next one as it continues
        // (`left &-= 1` before its `continue`), so that a fused slot's other instructions (counted by constants in
        // `bothRun`, `branchAfter`, ...) and the next one fold into one subtraction. Counted at the loop's top, that
        // took a decrement and a load and subtraction of a count held in the slot.
        var pc = pcInOut, pageKey = pageKeyInOut, left = leftInOut
        let x = regs
        let eventSlot = self.eventSlot
        // The load TLB; the store TLB follows it (`TLBLayout`). Changes only in slow steps. Read again after every
        // call the loop makes, so that it is never live across one: across a call only 4 host registers survive,
        // fewer than the loop's values (pc, the count, the page key, the register file, the dispatch table); live
        // across the calls, it went to the stack, one more load in every load and store handler.
        var dataTLB = loadTLB

        while true {
            let slot: UInt
            if Mode.checksEveryInstruction {
                // When an event is due (left < 0) the loop dispatches the event slot instead of pc's. Chosen
                // without a branch, so that the dispatch is one small block the optimiser copies into every
                // handler (threaded dispatch: each handler has its own indirect jump, which the host predicts far
                // better).
                let due = UInt(bitPattern: left &>> 63)
                slot = (pageKey &+ UInt(truncatingIfNeeded: pc) &<< 2) & ~due | eventSlot & due
            } else {
                slot = pageKey &+ UInt(truncatingIfNeeded: pc) &<< 2
            }
            // Fields are read where a handler needs them, not all up front.
            let e = SlotReference(slot)
            let op = e.op
            #if RRVM_OP_PROFILE
            OpProfile.count(op)
            #endif
            switch op {
            case .li:
                x[Int(e.rd)] = immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .auipc:
                x[Int(e.rd)] = pc &+ immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .jal:
                x[Int(e.rd)] = pc &+ 4
                jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .jalr:
                let target = (x[Int(e.rs1)] &+ immediate(e)) & ~1
                x[Int(e.rd)] = pc &+ 4
                jump(&pc, target, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .beq:
                if x[Int(e.rs1)] == x[Int(e.rs2)] {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .bne:
                if x[Int(e.rs1)] != x[Int(e.rs2)] {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .blt:
                if Int64(bitPattern: x[Int(e.rs1)]) < Int64(bitPattern: x[Int(e.rs2)]) {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .bge:
                if Int64(bitPattern: x[Int(e.rs1)]) >= Int64(bitPattern: x[Int(e.rs2)]) {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .bltu:
                if x[Int(e.rs1)] < x[Int(e.rs2)] {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .bgeu:
                if x[Int(e.rs1)] >= x[Int(e.rs2)] {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue

            case .addi:
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .slti:
                x[Int(e.rd)] = Int64(bitPattern: x[Int(e.rs1)]) < Int64(e.imm) ? 1 : 0
                pc &+= 4
                left &-= 1
                continue
            case .sltiu:
                x[Int(e.rd)] = x[Int(e.rs1)] < immediate(e) ? 1 : 0
                pc &+= 4
                left &-= 1
                continue
            case .xori:
                x[Int(e.rd)] = x[Int(e.rs1)] ^ immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .ori:
                x[Int(e.rd)] = x[Int(e.rs1)] | immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .andi:
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .slli:
                x[Int(e.rd)] = x[Int(e.rs1)] &<< immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .srli:
                x[Int(e.rd)] = x[Int(e.rs1)] &>> immediate(e)
                pc &+= 4
                left &-= 1
                continue
            case .srai:
                x[Int(e.rd)] = UInt64(bitPattern: Int64(bitPattern: x[Int(e.rs1)]) &>> Int64(e.imm))
                pc &+= 4
                left &-= 1
                continue
            case .add:
                x[Int(e.rd)] = x[Int(e.rs1)] &+ x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .sub:
                x[Int(e.rd)] = x[Int(e.rs1)] &- x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .sll:
                x[Int(e.rd)] = x[Int(e.rs1)] &<< x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .sltu:
                x[Int(e.rd)] = x[Int(e.rs1)] < x[Int(e.rs2)] ? 1 : 0
                pc &+= 4
                left &-= 1
                continue
            case .xor:
                x[Int(e.rd)] = x[Int(e.rs1)] ^ x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .srl:
                x[Int(e.rd)] = x[Int(e.rs1)] &>> x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .or:
                x[Int(e.rd)] = x[Int(e.rs1)] | x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .and:
                x[Int(e.rd)] = x[Int(e.rs1)] & x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .addiw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                pc &+= 4
                left &-= 1
                continue
            case .slliw:
                x[Int(e.rd)] = signExtend32(UInt64(UInt32(truncatingIfNeeded: x[Int(e.rs1)]) &<< UInt32(e.imm)))
                pc &+= 4
                left &-= 1
                continue
            case .srliw:
                x[Int(e.rd)] = signExtend32(UInt64(UInt32(truncatingIfNeeded: x[Int(e.rs1)]) &>> UInt32(e.imm)))
                pc &+= 4
                left &-= 1
                continue
            case .sraiw:
                x[Int(e.rd)] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: x[Int(e.rs1)]) &>> e.imm))
                pc &+= 4
                left &-= 1
                continue
            case .addw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ x[Int(e.rs2)])
                pc &+= 4
                left &-= 1
                continue
            case .subw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &- x[Int(e.rs2)])
                pc &+= 4
                left &-= 1
                continue

            case .mul:
                x[Int(e.rd)] = x[Int(e.rs1)] &* x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .div:
                x[Int(e.rd)] = divide(x[Int(e.rs1)], x[Int(e.rs2)])
                pc &+= 4
                left &-= 1
                continue
            case .rem:
                x[Int(e.rd)] = remainder(x[Int(e.rs1)], x[Int(e.rs2)])
                pc &+= 4
                left &-= 1
                continue
            case .remu:
                let a = x[Int(e.rs1)], b = x[Int(e.rs2)]
                x[Int(e.rd)] = b == 0 ? a : a % b
                pc &+= 4
                left &-= 1
                continue
            case .sllw:
                x[Int(e.rd)] = signExtend32(UInt64(UInt32(truncatingIfNeeded: x[Int(e.rs1)])
                    &<< UInt32(truncatingIfNeeded: x[Int(e.rs2)])))
                pc &+= 4
                left &-= 1
                continue
            case .mulw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &* x[Int(e.rs2)])
                pc &+= 4
                left &-= 1
                continue

            case .cLi:
                x[Int(e.rd)] = immediate(e)
                pc &+= 2
                left &-= 1
                continue
            case .cAddi:
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                pc &+= 2
                left &-= 1
                continue
            case .cAddiw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                pc &+= 2
                left &-= 1
                continue
            case .cAdd:
                x[Int(e.rd)] = x[Int(e.rs1)] &+ x[Int(e.rs2)]
                pc &+= 2
                left &-= 1
                continue
            case .cSub:
                x[Int(e.rd)] = x[Int(e.rs1)] &- x[Int(e.rs2)]
                pc &+= 2
                left &-= 1
                continue
            case .cXor:
                x[Int(e.rd)] = x[Int(e.rs1)] ^ x[Int(e.rs2)]
                pc &+= 2
                left &-= 1
                continue
            case .cOr:
                x[Int(e.rd)] = x[Int(e.rs1)] | x[Int(e.rs2)]
                pc &+= 2
                left &-= 1
                continue
            case .cAnd:
                x[Int(e.rd)] = x[Int(e.rs1)] & x[Int(e.rs2)]
                pc &+= 2
                left &-= 1
                continue
            case .cAddw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ x[Int(e.rs2)])
                pc &+= 2
                left &-= 1
                continue
            case .cSubw:
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &- x[Int(e.rs2)])
                pc &+= 2
                left &-= 1
                continue
            case .cSlli:
                x[Int(e.rd)] = x[Int(e.rs1)] &<< immediate(e)
                pc &+= 2
                left &-= 1
                continue
            case .cSrli:
                x[Int(e.rd)] = x[Int(e.rs1)] &>> immediate(e)
                pc &+= 2
                left &-= 1
                continue
            case .cSrai:
                x[Int(e.rd)] = UInt64(bitPattern: Int64(bitPattern: x[Int(e.rs1)]) &>> Int64(e.imm))
                pc &+= 2
                left &-= 1
                continue
            case .cAndi:
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                pc &+= 2
                left &-= 1
                continue
            case .cJal:
                x[Int(e.rd)] = pc &+ 2
                jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .cJalr:
                let target = x[Int(e.rs1)] & ~1
                x[Int(e.rd)] = pc &+ 2
                jump(&pc, target, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .cBeq:
                if x[Int(e.rs1)] == 0 {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 2
                }
                left &-= 1
                continue
            case .cBne:
                if x[Int(e.rs1)] != 0 {
                    jump(&pc, pc &+ immediate(e), &pageKey, left, Mode.self)
                } else {
                    pc &+= 2
                }
                left &-= 1
                continue
            // Forward within the page (`Op.beqAhead`): no page lookup, no look at the next event.
            case .beqAhead:
                pc &+= x[Int(e.rs1)] == x[Int(e.rs2)] ? immediate(e) : 4
                left &-= 1
                continue
            case .bneAhead:
                pc &+= x[Int(e.rs1)] != x[Int(e.rs2)] ? immediate(e) : 4
                left &-= 1
                continue
            case .bltAhead:
                pc &+= Int64(bitPattern: x[Int(e.rs1)]) < Int64(bitPattern: x[Int(e.rs2)]) ? immediate(e) : 4
                left &-= 1
                continue
            case .bgeAhead:
                pc &+= Int64(bitPattern: x[Int(e.rs1)]) >= Int64(bitPattern: x[Int(e.rs2)]) ? immediate(e) : 4
                left &-= 1
                continue
            case .bltuAhead:
                pc &+= x[Int(e.rs1)] < x[Int(e.rs2)] ? immediate(e) : 4
                left &-= 1
                continue
            case .bgeuAhead:
                pc &+= x[Int(e.rs1)] >= x[Int(e.rs2)] ? immediate(e) : 4
                left &-= 1
                continue
            case .jalAhead:
                x[Int(e.rd)] = pc &+ 4
                pc &+= immediate(e)
                left &-= 1
                continue
            case .cBeqAhead:
                pc &+= x[Int(e.rs1)] == 0 ? immediate(e) : 2
                left &-= 1
                continue
            case .cBneAhead:
                pc &+= x[Int(e.rs1)] != 0 ? immediate(e) : 2
                left &-= 1
                continue
            case .cJalAhead:
                pc &+= immediate(e)
                left &-= 1
                continue
            // Back within the page (`Op.beqBack`): no page lookup.
            case .beqBack:
                if x[Int(e.rs1)] == x[Int(e.rs2)] { back(&pc, e, &pageKey, left, Mode.self) } else { pc &+= 4 }
                left &-= 1
                continue
            case .bneBack:
                if x[Int(e.rs1)] != x[Int(e.rs2)] { back(&pc, e, &pageKey, left, Mode.self) } else { pc &+= 4 }
                left &-= 1
                continue
            case .bltBack:
                if Int64(bitPattern: x[Int(e.rs1)]) < Int64(bitPattern: x[Int(e.rs2)]) {
                    back(&pc, e, &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .bgeBack:
                if Int64(bitPattern: x[Int(e.rs1)]) >= Int64(bitPattern: x[Int(e.rs2)]) {
                    back(&pc, e, &pageKey, left, Mode.self)
                } else {
                    pc &+= 4
                }
                left &-= 1
                continue
            case .bltuBack:
                if x[Int(e.rs1)] < x[Int(e.rs2)] { back(&pc, e, &pageKey, left, Mode.self) } else { pc &+= 4 }
                left &-= 1
                continue
            case .bgeuBack:
                if x[Int(e.rs1)] >= x[Int(e.rs2)] { back(&pc, e, &pageKey, left, Mode.self) } else { pc &+= 4 }
                left &-= 1
                continue
            case .cBeqBack:
                if x[Int(e.rs1)] == 0 { back(&pc, e, &pageKey, left, Mode.self) } else { pc &+= 2 }
                left &-= 1
                continue
            case .cBneBack:
                if x[Int(e.rs1)] != 0 { back(&pc, e, &pageKey, left, Mode.self) } else { pc &+= 2 }
                left &-= 1
                continue
            case .jalBack:
                x[Int(e.rd)] = pc &+ 4
                back(&pc, e, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .cJalBack:
                back(&pc, e, &pageKey, left, Mode.self)
                left &-= 1
                continue

            case .zextW4:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &<< immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted &>> 32
                pc &+= 4
                left &-= 1
                continue
            case .zextW6:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &<< immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted &>> 32
                pc &+= 6
                left &-= 1
                continue
            case .zextW8:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &<< immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted &>> 32
                pc &+= 8
                left &-= 1
                continue
            case .shiftAdd4:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &<< immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted &+ x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .shiftAdd6:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &<< immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted &+ x[Int(e.rs2)]
                pc &+= 6
                left &-= 1
                continue
            case .shiftAdd8:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &<< immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted &+ x[Int(e.rs2)]
                pc &+= 8
                left &-= 1
                continue
            case .shiftAddLw6:
                guard scaledIndexLoad(e, x, dataTLB, 4, &left, Mode.self) else { break }
                pc &+= 6
                left &-= 1
                continue
            case .shiftAddLd6:
                guard scaledIndexLoad(e, x, dataTLB, 8, &left, Mode.self) else { break }
                pc &+= 6
                left &-= 1
                continue
            case .shiftAddLw8:
                guard scaledIndexLoad(e, x, dataTLB, 4, &left, Mode.self) else { break }
                pc &+= 8
                left &-= 1
                continue
            case .shiftAddLd8:
                guard scaledIndexLoad(e, x, dataTLB, 8, &left, Mode.self) else { break }
                pc &+= 8
                left &-= 1
                continue
            case .shiftRightXor4:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &>> immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted ^ x[Int(e.rs2)]
                pc &+= 4
                left &-= 1
                continue
            case .shiftRightXor6:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &>> immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted ^ x[Int(e.rs2)]
                pc &+= 6
                left &-= 1
                continue
            case .shiftRightXor8:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = x[Int(e.rs1)] &>> immediate(e)
                x[Int(e.imm &>> 16 & 0xff)] = shifted
                x[Int(e.rd)] = shifted ^ x[Int(e.rs2)]
                pc &+= 8
                left &-= 1
                continue

            case .addiBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfNotEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfLess.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfLessUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(CompressedBranchIfZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(CompressedBranchIfNotZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfNotEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfLess.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfLessUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(CompressedBranchIfZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .addiwCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(CompressedBranchIfNotZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfNotEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfLess.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfLessUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(CompressedBranchIfZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                branchAfter(CompressedBranchIfNotZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfNotEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfLess.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfLessUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(CompressedBranchIfZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAddiwCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)] &+ immediate(e))
                branchAfter(CompressedBranchIfNotZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfNotEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfLess.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfLessUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(CompressedBranchIfZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lwCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(CompressedBranchIfNotZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfNotEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfLess.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfLessUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(CompressedBranchIfZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .ldCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(CompressedBranchIfNotZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue

            case .cLwBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfNotEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfLess.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfLessUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(CompressedBranchIfZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLwCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                branchAfter(CompressedBranchIfNotZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfNotEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdBlt:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfLess.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdBge:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfGreaterOrEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdBltu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfLessUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdBgeu:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfGreaterOrEqualUnsigned.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(CompressedBranchIfZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cLdCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                branchAfter(CompressedBranchIfNotZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lbuBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lbuBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1) else { break }
                x[Int(e.rd)] = v
                branchAfter(BranchIfNotEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lbuCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1) else { break }
                x[Int(e.rd)] = v
                branchAfter(CompressedBranchIfZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .lbuCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1) else { break }
                x[Int(e.rd)] = v
                branchAfter(CompressedBranchIfNotZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .andiBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(BranchIfEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .andiBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(BranchIfNotEqual.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .andiCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(CompressedBranchIfZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .andiCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(CompressedBranchIfNotZero.self, e, x, 4, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAndiBeq:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(BranchIfEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAndiBne:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(BranchIfNotEqual.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAndiCBeqz:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(CompressedBranchIfZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue
            case .cAndiCBnez:
                guard Mode.checksEveryInstruction == false || left >= 1 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] & immediate(e)
                branchAfter(CompressedBranchIfNotZero.self, e, x, 2, &pc, &pageKey, &left, Mode.self)
                left &-= 1
                continue

            case .swAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 4, 4, &pc, &left)
                left &-= 1
                continue
            case .swAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 4, 4, &pc, &left)
                left &-= 1
                continue
            case .swCAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 4, 2, &pc, &left)
                left &-= 1
                continue
            case .swCAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 4, 2, &pc, &left)
                left &-= 1
                continue
            case .sdAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 4, 4, &pc, &left)
                left &-= 1
                continue
            case .sdAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 4, 4, &pc, &left)
                left &-= 1
                continue
            case .sdCAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 4, 2, &pc, &left)
                left &-= 1
                continue
            case .sdCAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 4, 2, &pc, &left)
                left &-= 1
                continue
            case .cSwAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 2, 4, &pc, &left)
                left &-= 1
                continue
            case .cSwAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 2, 4, &pc, &left)
                left &-= 1
                continue
            case .cSwCAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 2, 2, &pc, &left)
                left &-= 1
                continue
            case .cSwCAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 2, 2, &pc, &left)
                left &-= 1
                continue
            case .cSdAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 2, 4, &pc, &left)
                left &-= 1
                continue
            case .cSdAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 2, 4, &pc, &left)
                left &-= 1
                continue
            case .cSdCAddi:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: false, e, x, 2, 2, &pc, &left)
                left &-= 1
                continue
            case .cSdCAddiw:
                guard Mode.checksEveryInstruction == false || left >= 1,
                      storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                additionAfter(word: true, e, x, 2, 2, &pc, &left)
                left &-= 1
                continue

            case .lb:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1) else { break }
                x[Int(e.rd)] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: v)))
                pc &+= 4
                left &-= 1
                continue
            case .lh:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 2) else { break }
                x[Int(e.rd)] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: v)))
                pc &+= 4
                left &-= 1
                continue
            case .lw:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                pc &+= 4
                left &-= 1
                continue
            case .ld:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                pc &+= 4
                left &-= 1
                continue
            case .lbu:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1) else { break }
                x[Int(e.rd)] = v
                pc &+= 4
                left &-= 1
                continue
            case .lhu:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 2) else { break }
                x[Int(e.rd)] = v
                pc &+= 4
                left &-= 1
                continue
            case .lwu:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = v
                pc &+= 4
                left &-= 1
                continue
            case .sb:
                guard storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 1, x[Int(e.rs2)]) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .sh:
                guard storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 2, x[Int(e.rs2)]) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .sw:
                guard storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .sd:
                guard storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .cLw:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = signExtend32(v)
                pc &+= 2
                left &-= 1
                continue
            case .cLd:
                guard let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                pc &+= 2
                left &-= 1
                continue
            case .cSw:
                guard storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else { break }
                pc &+= 2
                left &-= 1
                continue
            case .cSd:
                guard storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else { break }
                pc &+= 2
                left &-= 1
                continue
            case .cSdRun2:
                guard storeRun(2, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .cSdRun3:
                guard storeRun(3, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 6
                left &-= 1
                continue
            case .cSdRun4:
                guard storeRun(4, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 8
                left &-= 1
                continue
            case .cLdRun2:
                guard loadRun(2, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .cLdRun3:
                guard loadRun(3, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 6
                left &-= 1
                continue
            case .cLdRun4:
                guard loadRun(4, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 8
                left &-= 1
                continue
            case .pushRun2:
                guard pushRun(1, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .pushRun3:
                guard pushRun(2, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 6
                left &-= 1
                continue
            case .pushRun4:
                guard pushRun(3, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 8
                left &-= 1
                continue
            case .popRun2:
                guard popRun(1, thenReturn: false, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .popRun3:
                guard popRun(2, thenReturn: false, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 6
                left &-= 1
                continue
            case .popRun4:
                guard popRun(3, thenReturn: false, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 8
                left &-= 1
                continue
            case .popReturn2:
                // The stack adjustment and the return: nothing that could leave the fast path.
                if Mode.checksEveryInstruction && left < 1 { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ immediate(e)
                left &-= 1
                pc &+= 2
                jump(&pc, x[1] & ~1, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .popReturn3:
                guard popRun(1, thenReturn: true, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 4
                jump(&pc, x[1] & ~1, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .popReturn4:
                guard popRun(2, thenReturn: true, e, x, dataTLB, &left, Mode.self) else { break }
                pc &+= 6
                jump(&pc, x[1] & ~1, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .fence:
                pc &+= 4
                left &-= 1
                continue

            // Kernel forms (`Op.lbuPair`).
            case .lbuPair:
                guard Mode.checksEveryInstruction == false || left >= 1, loadBytePair(e, x, dataTLB) else { break }
                left &-= 1  // the second
                pc &+= 8
                left &-= 1
                continue
            case .sdPair:
                guard Mode.checksEveryInstruction == false || left >= 1, storePair(e, x, dataTLB) else { break }
                left &-= 1  // the second
                pc &+= 8
                left &-= 1
                continue
            case .auipcAddi:
                guard bothRun(&left, e, Mode.self) else { break }
                x[Int(e.rd)] = pc &+ immediate(e)
                pc &+= 8
                left &-= 1
                continue
            case .slliwOr:
                guard bothRun(&left, e, Mode.self) else { break }
                x[Int(e.rd)] = shiftedWordThenOr(left: true, e, x)
                pc &+= UInt64(truncatingIfNeeded: e.imm &>> 8 & 0xff)
                left &-= 1
                continue
            case .srliwOr:
                guard bothRun(&left, e, Mode.self) else { break }
                x[Int(e.rd)] = shiftedWordThenOr(left: false, e, x)
                pc &+= UInt64(truncatingIfNeeded: e.imm &>> 8 & 0xff)
                left &-= 1
                continue
            case .auipcJalr:
                guard bothRun(&left, e, Mode.self) else { break }
                let sum = immediate(e)
                x[Int(e.rs1)] = pc &+ UInt64(bitPattern: Int64(Decoder.auipcPart(e.imm)))
                x[Int(e.rd)] = pc &+ 8
                jump(&pc, (pc &+ sum) & ~1, &pageKey, left, Mode.self)
                left &-= 1
                continue
            case .slliwSraiw:
                guard bothRun(&left, e, Mode.self) else { break }
                let shifted = UInt32(truncatingIfNeeded: x[Int(e.rs1)]) &<< UInt32(truncatingIfNeeded: e.imm & 0x1f)
                x[Int(e.imm &>> 16 & 0xff)] = signExtend32(UInt64(shifted))
                x[Int(e.rd)] = UInt64(bitPattern: Int64(Int32(bitPattern: shifted) &>> (e.imm &>> 8 & 0x1f)))
                pc &+= 8
                left &-= 1
                continue
            case .cAddPair:
                guard bothRun(&left, e, Mode.self) else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] &+ x[Int(e.rs2)]
                x[Int(e.imm & 0xff)] = x[Int(e.imm &>> 8 & 0xff)] &+ x[Int(e.imm &>> 16 & 0xff)]
                pc &+= 4
                left &-= 1
                continue

            case .atomic:
                guard atomicThroughTLB(e.pointer, x, dataTLB) else { break }
                dataTLB = loadTLB
                pc &+= 4
                left &-= 1
                continue
            case .sstatusSetClear:
                guard setOrClearStatusInline(e.pointer) else { break }
                dataTLB = loadTLB
                pc &+= 4
                left &-= 1
                continue

            case .flw:
                guard floatingPointDirty, let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4) else { break }
                x[Int(e.rd)] = v | 0xffff_ffff_0000_0000
                pc &+= 4
                left &-= 1
                continue
            case .fld:
                guard floatingPointDirty, let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                pc &+= 4
                left &-= 1
                continue
            case .cFld:
                guard floatingPointDirty, let v = loadFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8) else { break }
                x[Int(e.rd)] = v
                pc &+= 2
                left &-= 1
                continue
            case .fsw:
                guard mstatus & MStatus.fs != 0, storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 4, x[Int(e.rs2)]) else {
                    break
                }
                pc &+= 4
                left &-= 1
                continue
            case .fsd:
                guard mstatus & MStatus.fs != 0, storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else {
                    break
                }
                pc &+= 4
                left &-= 1
                continue
            case .cFsd:
                guard mstatus & MStatus.fs != 0, storeFast(dataTLB, x[Int(e.rs1)] &+ immediate(e), 8, x[Int(e.rs2)]) else {
                    break
                }
                pc &+= 2
                left &-= 1
                continue
            case .faddD:
                guard doubleFastPath(e, x, .faddD) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .fsubD:
                guard doubleFastPath(e, x, .fsubD) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .fmulD:
                guard doubleFastPath(e, x, .fmulD) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .fdivD:
                guard doubleFastPath(e, x, .fdivD) else { break }
                pc &+= 4
                left &-= 1
                continue
            case .fmaddD:
                guard fusedFastPath(e, x, negateProduct: false, negateAddend: false) else { break }
                dataTLB = loadTLB  // after fma, a call
                pc &+= 4
                left &-= 1
                continue
            case .fnmsubD:
                guard fusedFastPath(e, x, negateProduct: true, negateAddend: false) else { break }
                dataTLB = loadTLB  // after fma, a call
                pc &+= 4
                left &-= 1
                continue
            case .fsgnjD:
                guard floatingPointDirty else { break }
                let sign: UInt64 = 1 << 63
                x[Int(e.rd)] = (x[Int(e.rs1)] & ~sign) | (x[Int(e.rs2)] & sign)
                pc &+= 4
                left &-= 1
                continue
            case .fmvXD:
                guard mstatus & MStatus.fs != 0 else { break }
                x[Int(e.rd)] = x[Int(e.rs1)]
                pc &+= 4
                left &-= 1
                continue
            case .fmvDX:
                guard floatingPointDirty else { break }
                x[Int(e.rd)] = x[Int(e.rs1)]
                pc &+= 4
                left &-= 1
                continue
            case .fmvXW:
                guard mstatus & MStatus.fs != 0 else { break }
                x[Int(e.rd)] = signExtend32(x[Int(e.rs1)])
                pc &+= 4
                left &-= 1
                continue
            case .feqD:
                guard mstatus & MStatus.fs != 0, let (a, b) = orderedOperands(e, x) else { break }
                x[Int(e.rd)] = a == b ? 1 : 0
                pc &+= 4
                left &-= 1
                continue
            case .fltD:
                guard mstatus & MStatus.fs != 0, let (a, b) = orderedOperands(e, x) else { break }
                x[Int(e.rd)] = a < b ? 1 : 0
                pc &+= 4
                left &-= 1
                continue
            case .fleD:
                guard mstatus & MStatus.fs != 0, let (a, b) = orderedOperands(e, x) else { break }
                x[Int(e.rd)] = a <= b ? 1 : 0
                pc &+= 4
                left &-= 1
                continue
            case .fmvWX:
                guard floatingPointDirty else { break }
                x[Int(e.rd)] = x[Int(e.rs1)] | 0xffff_ffff_0000_0000
                pc &+= 4
                left &-= 1
                continue

            case .pageCross:
                // Running on into the next page (or a jump the loop routed here): a page entered recently needs no
                // slow step. Not an instruction, so it does not count: the next slow step gives its count back
                // (adding it to `left` here would cost every handler a copy of `left`). Where the loop checks only
                // at control transfers, this is one of them: with the next event near, the slow step hands over.
                let recent = recentPages[Int(truncatingIfNeeded: (pc >> 12) & RecentPage.mask)]
                guard recent.base == pc & ~0xfff,
                      Mode.checksEveryInstruction || left >= CodePage.straightLineLimit else { break }
                pageKey = recent.key
                left &-= 1
                uncountedCrossings &+= 1
                continue
            case .translated:
                // The whole block, only where the next event leaves room for it (see `BlockTranslator`), and only while
                // its page is a recent one: then every lookup the interpreter would have made inside the block (where
                // the next event is near) finds it there, with no effect a block could leave out.
                guard left >= Int(e.rd) &- 1,
                      recentPages[Int(truncatingIfNeeded: (pc >> 12) & RecentPage.mask)].base == pc & ~0xfff else { break }
                let block = unsafeBitCast(translatedBase &+ UInt(truncatingIfNeeded: e.imm), to: BlockTranslator.Entry.self)
                blockState[0] = pc
                blockState[1] = UInt64(UInt(bitPattern: recentPages))
                blockState[2] = 0
                let after = block(x, UnsafeMutableRawPointer(dataTLB), left, blockState)
                let next = blockState[0]
                // Its first access missed the TLB: that instruction runs out of line.
                if next == pc && after == left { break }
                counters.instructionsTranslated &+= UInt64(truncatingIfNeeded: left &- after)
                left = after
                if (next ^ pc) >> 12 != 0 {
                    // Into another page: as the interpreter's jumps go.
                    jump(&pc, next, &pageKey, left, Mode.self)
                    continue
                }
                pc = next
                // Where a block leaves in its page at a control transfer counts as an entry, as a jump there would: a
                // target reached only from blocks becomes a block too, which they then go on into.
                if blockState[2] == 0 { countEntry(pc, pageKey) }
                if !Mode.checksEveryInstruction && left < CodePage.straightLineLimit {
                    // The next event is near: the other mode from here, without a lookup.
                    pcInOut = pc
                    pageKeyInOut = pageKey
                    leftInOut = left
                    return nil
                }
                continue
            case .event, .undecoded, .illegal, .system, .fpOther, .rareInteger, .breakpoint:
                break
            }
            // An event is due (left < 0) or the instruction at pc needs the out-of-line path.
            pcValue = pc
            if let reason = slowStep(left: left, pageKey: pageKey) { return reason }
            pc = pcValue
            left = stepLeft
            pageKey = stepPageKey
            dataTLB = loadTLB
            if Mode.checksEveryInstruction == (left >= CodePage.straightLineLimit) {
                pcInOut = pc
                pageKeyInOut = pageKey
                leftInOut = left &- 1
                return nil
            }
            left &-= 1
        }
    }

    /// Everything the loop does not do inline. `left` is the loop's count, short of the page crossings it ran
    /// through since the last slow step (`uncountedCrossings`): negative when the loop dispatched the event slot
    /// (an event is due unless the crossings say otherwise), else the instruction at `pcValue` (slot
    /// `pageKey &+ pc << 2`) was counted and runs out of line here.
    /// Leaves the loop's state in `pcValue`, `stepLeft` and `stepPageKey`, or returns why the run ends.
    @inline(never)
    func slowStep(left: Int, pageKey: UInt) -> StopReason? {
        // Whatever ran here (a CSR write, a trap, an FP instruction out of line) may have changed what it depends on.
        defer { refreshRoundingFields() }
        var left = left &+ uncountedCrossings
        let eventSlotDispatched = left &- uncountedCrossings < 0
        uncountedCrossings = 0
        var pc = pcValue
        if eventSlotDispatched && left >= 0 {
            // Only the page crossings made the loop see an event: the instruction at pc was counted, not run.
            stepLeft = left &+ 1
            stepPageKey = pageKey
            return nil
        }
        if left < 0 {
            counters.events &+= 1
            let executed = eventTarget
            if let reason = handleEvent(executed: executed, pc: &pc) {
                pcValue = pc
                retired &+= executed
                return reason
            }
            pcValue = pc
            stepLeft = Int(truncatingIfNeeded: eventTarget &- executed)
            stepPageKey = slotKey(lookupPage, pc)
            return nil
        }
        let slot = UnsafePointer<DecodedInstruction>(bitPattern: pageKey &+ UInt(truncatingIfNeeded: pc) &<< 2)!
        let page = UnsafeMutablePointer<DecodedInstruction>(
            bitPattern: pageKey &+ UInt(truncatingIfNeeded: pc & ~0xfff) &<< 2)!
        stepPageKey = pageKey
        let executed = eventTarget &- UInt64(truncatingIfNeeded: left) &- 1
        countSlowStep(slot.pointee.op)
        let next = executeOutOfLine(slot.pointee, pc: pc, page: page, executed: executed)
        let code = stop
        stop = .none
        switch code {
        case .none:
            pcValue = next
            stepLeft = left
            return nil
        case .reexecute:
            stepLeft = left &+ 1
            return nil
        case .trap:
            left &+= 1
            pc = takeTrap(cause: trapCause, value: trapValue, pc: pc,
                          retiredNow: retired &+ eventTarget &- UInt64(truncatingIfNeeded: left))
        case .mmio:
            left &+= 1
            countMMIOExit(pendingAccess.address)
            stop = .mmio
            retired &+= eventTarget &- UInt64(truncatingIfNeeded: left)
            return .mmio
        case .watch:
            left &+= 1
            pcValue = pc
            retired &+= eventTarget &- UInt64(truncatingIfNeeded: left)
            return .watchpoint
        case .breakpoint:
            left &+= 1
            pcValue = pc
            retired &+= eventTarget &- UInt64(truncatingIfNeeded: left)
            return .breakpoint
        case .waitForInterrupt:
            counters.waits &+= 1
            pcValue = next
            waiting = true
            retired &+= eventTarget &- UInt64(truncatingIfNeeded: left)
            return .waitingForInterrupt
        case .spinHint:
            pcValue = next
            retired &+= eventTarget &- UInt64(truncatingIfNeeded: left)
            return .spinHint
        case .refresh:
            pc = next
        }
        // Re-examine interrupts, timers and breakpoints before the next instruction.
        pcValue = pc
        eventTarget &-= UInt64(truncatingIfNeeded: left)
        stepLeft = 0
        stepPageKey = slotKey(lookupPage, pc)
        return nil
    }

    /// Executes one instruction whose fast path did not apply (or a slot that is not an instruction yet).
    /// Returns the next pc; `stop` tells the outcome.
    func executeOutOfLine(_ slot: DecodedInstruction, pc: UInt64, page: UnsafeMutablePointer<DecodedInstruction>,
                          executed: UInt64) -> UInt64 {
        let e = Decoder.alone(slot)
        let x = regs
        let rd = Int(e.rd)
        let address = x[Int(e.rs1)] &+ UInt64(bitPattern: Int64(e.imm))
        let step = e.op.length
        /// A load: the value extended as the instruction says, written to rd.
        func load(_ size: UInt64, _ kind: MMIOLoadKind, floatingPoint: Bool = false) -> UInt64 {
            if floatingPoint && !floatingPointEnabled(pc) { return pc }
            let value = loadSlow(address, size: size, destination: rd, kind: kind, step: step, executed: executed)
            if stop != .none { return pc }
            switch kind {
            case .signed8: x[rd] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: value)))
            case .signed16: x[rd] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: value)))
            case .signed32: x[rd] = signExtend32(value)
            case .float32: x[rd] = box(value)
            default: x[rd] = value
            }
            return pc &+ step
        }
        func store(_ size: UInt64, floatingPoint: Bool = false) -> UInt64 {
            if floatingPoint && !floatingPointEnabled(pc) { return pc }
            storeSlow(address, size: size, value: x[Int(e.rs2)], step: step, executed: executed)
            return stop == .none ? pc &+ step : pc
        }
        switch e.op {
        case .undecoded:
            guard let decoded = decodeSlot(pc, page: page) else { return pc }
            stepPageKey = slotKey(decoded, pc)
            stop = .reexecute
            return pc
        case .pageCross:
            // Past a translated block's first instruction run alone: back to its page as it was, looked up or not
            // (a lookup here could decode the page again where the interpreter would not have).
            if page == aloneSlotPage {
                stepPageKey = aloneReturnKey
                stop = .reexecute
                return pc
            }
            // Running on into the next page, or a jump the loop sent here: a page entered recently needs no lookup.
            let recent = recentPages[Int(truncatingIfNeeded: (pc >> 12) & RecentPage.mask)]
            if recent.base == pc & ~0xfff {
                stepPageKey = recent.key
                stop = .reexecute
                return pc
            }
            guard enterPage(pc) else { return pc }
            stepPageKey = slotKey(currentPage, pc)
            stop = .reexecute
            return pc
        case .breakpoint:
            // Stop before the instruction, unless resuming over this breakpoint or the slot is another page's
            // breakpoint offset; then run the real instruction once from the scratch page.
            if breakpoints.contains(pc) && resumeFromBreakpoint != pc {
                resumeFromBreakpoint = pc
                stop = .breakpoint
                return pc
            }
            resumeFromBreakpoint = nil
            guard decodeAlone(pc) else { return pc }
            stepPageKey = slotKey(straddlePage, pc)
            stop = .reexecute
            return pc
        case .translated:
            // Near an event, or its first access missed the TLB: the block's first instruction runs alone, as
            // decoded, from the scratch page that holds it (as a breakpoint's instruction runs once).
            let slotIndex = Int((pc & 0xfff) >> 1)
            aloneSlotPage[aloneSlot] = DecodedInstruction(.pageCross)
            aloneSlotPage[slotIndex] = decodedAgain(page, slot: slotIndex)
            aloneSlot = slotIndex
            aloneReturnKey = slotKey(page, pc)
            stepPageKey = slotKey(aloneSlotPage, pc)
            stop = .reexecute
            return pc
        case .lb: return load(1, .signed8)
        case .lh: return load(2, .signed16)
        case .addi, .cAddi:
            // Only as a fused branch pair's first, run alone (`Op.addiBeq`).
            x[rd] = address
            return pc &+ step
        case .addiw, .cAddiw:
            x[rd] = signExtend32(address)
            return pc &+ step
        case .andi, .cAndi:
            x[rd] = x[Int(e.rs1)] & UInt64(bitPattern: Int64(e.imm))
            return pc &+ step
        case .lw, .cLw: return load(4, .signed32)
        case .ld, .cLd: return load(8, .full64)
        case .lbu: return load(1, .unsigned8)
        case .lhu: return load(2, .unsigned16)
        case .lwu: return load(4, .unsigned32)
        case .flw: return load(4, .float32, floatingPoint: true)
        case .fld, .cFld: return load(8, .full64, floatingPoint: true)
        case .sb: return store(1)
        case .sh: return store(2)
        case .sw, .cSw: return store(4)
        case .sd, .cSd: return store(8)
        case .fsw: return store(4, floatingPoint: true)
        case .fsd, .cFsd: return store(8, floatingPoint: true)
        case .atomic:
            let form = AtomicForm(imm: e.imm)
            guard let p = atomicAddress(x[Int(e.rs1)], size: form.width, kind: form.access) else { return pc }
            executeAtomic(form, rd: rd, rs2: Int(e.rs2), at: p)
        case .faddD, .fsubD, .fmulD, .fdivD:
            guard floatingPointEnabled(pc), let rm = roundingMode(e.imm, pc) else { return pc }
            x[rd] = doubleArithmetic(e.op, x[Int(e.rs1)], x[Int(e.rs2)], rm)
        case .fmaddD, .fnmsubD:
            guard floatingPointEnabled(pc), let rm = roundingMode(e.imm >> 8, pc) else { return pc }
            x[rd] = doubleFusedMultiplyAdd(e.op, x[Int(e.rs1)], x[Int(e.rs2)], x[Int(e.imm & 0xff)], rm)
        case .rareInteger:
            x[rd] = rareIntegerResult(e.imm, x[Int(e.rs1)], x[Int(e.rs2)])
        case .fpOther, .feqD, .fltD, .fleD:
            guard floatingPointEnabled(pc), executeFloatingPoint(UInt32(bitPattern: e.imm), pc: pc) else { return pc }
        case .fsgnjD, .fmvXD, .fmvDX, .fmvXW, .fmvWX:
            raiseIllegal(at: pc)  // only here when mstatus.FS is Off
            return pc
        case .zextW4, .zextW6, .zextW8, .shiftAdd4, .shiftAdd6, .shiftAdd8, .shiftAddLw6, .shiftAddLd6, .shiftAddLw8,
             .shiftAddLd8:
            // Only one instruction may run before the next event: the pair's first (slli) alone.
            x[Int(e.imm >> 16 & 0xff)] = x[Int(e.rs1)] &<< UInt64(e.imm & 0x3f)
            return pc &+ UInt64((e.imm >> 8) & 0xff)
        case .shiftRightXor4, .shiftRightXor6, .shiftRightXor8:
            x[Int(e.imm >> 16 & 0xff)] = x[Int(e.rs1)] &>> UInt64(e.imm & 0x3f)
            return pc &+ UInt64((e.imm >> 8) & 0xff)
        case .auipc:
            // Only as a kernel form's first, run alone (`Op.auipcAddi`), as slliw, srliw and c.add.
            x[rd] = pc &+ UInt64(bitPattern: Int64(e.imm))
            return pc &+ step
        case .slliw:
            x[rd] = signExtend32(UInt64(UInt32(truncatingIfNeeded: x[Int(e.rs1)]) &<< UInt32(e.imm)))
            return pc &+ step
        case .srliw:
            x[rd] = signExtend32(UInt64(UInt32(truncatingIfNeeded: x[Int(e.rs1)]) &>> UInt32(e.imm)))
            return pc &+ step
        case .cAdd:
            x[rd] = x[Int(e.rs1)] &+ x[Int(e.rs2)]
            return pc &+ step
        case .system, .sstatusSetClear:
            return executeSystem(UInt32(bitPattern: e.imm), pc: pc, executed: executed)
        case .illegal:
            raise(Cause.illegalInstruction, UInt64(UInt32(bitPattern: e.imm)))
            return pc
        default:
            // Every other operation completes inline; reaching here would be an interpreter bug.
            assertionFailure("\(e.op) has no out-of-line path")
            raise(Cause.illegalInstruction, 0)
            return pc
        }
        return pc &+ 4
    }

    // MARK: Fetch

    /// The key that places `page`'s slots under the addresses of pc's page: slot(pc) = key &+ pc << 2.
    @inline(__always)
    func slotKey(_ page: UnsafeMutablePointer<DecodedInstruction>, _ pc: UInt64) -> UInt {
        UInt(bitPattern: page) &- UInt(truncatingIfNeeded: pc & ~0xfff) &<< 2
    }

    /// A control transfer. Leaving the page consults the recently entered pages; otherwise the next fetch
    /// looks the target up (`enterPage`). Where the loop does not check every instruction, a transfer with the
    /// next event near sends the loop out to a slow step (the lookup page) that hands over to the other mode.
    /// `uncounted`: instructions run but not yet subtracted from `left` (a constant, which the comparison takes in).
    @inline(__always)
    func jump<Mode: DispatchMode>(_ pc: inout UInt64, _ target: UInt64, _ pageKey: inout UInt, _ left: Int,
                                  uncounted: Int = 0, _: Mode.Type) {
        if (target ^ pc) >> 12 != 0 {
            let recent = recentPages[Int(truncatingIfNeeded: (target >> 12) & RecentPage.mask)]
            pageKey = recent.base == target & ~0xfff ? recent.key : slotKey(lookupPage, target)
        }
        if !Mode.checksEveryInstruction && _slowPath(left < CodePage.straightLineLimit &+ uncounted) {
            pageKey = slotKey(lookupPage, target)
        }
        countEntry(target, pageKey)
        pc = target
    }

    /// A taken branch or direct jump back within its own page (`Op.beqBack`): as `jump`, without the page lookup.
    @inline(__always)
    func back<Mode: DispatchMode>(_ pc: inout UInt64, _ e: SlotReference, _ pageKey: inout UInt, _ left: Int,
                                  _: Mode.Type) {
        pc &+= immediate(e)
        if !Mode.checksEveryInstruction && _slowPath(left < CodePage.straightLineLimit) {
            pageKey = slotKey(lookupPage, pc)
        }
        countEntry(pc, pageKey)
    }

    /// Runs a scaled-index load (`Op.shiftAddLw6`) of `size` bytes (4: sign-extended) whole, or nothing (false: the
    /// shift runs alone out of line) where fewer than three instructions may run before the next event or the load
    /// leaves the fast path; counts the addition and the load (constants, as `bothRun`).
    @inline(__always)
    func scaledIndexLoad<Mode: DispatchMode>(_ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>,
                                             _ dataTLB: UnsafeMutablePointer<TLBEntry>, _ size: UInt64,
                                             _ left: inout Int, _: Mode.Type) -> Bool {
        if Mode.checksEveryInstruction && left < 2 { return false }
        let shifted = x[Int(e.rs1)] &<< immediate(e)
        let sum = shifted &+ x[Int(e.rs2)]
        // Slots are 8 bytes per halfword: the load's is imm >> 24 bytes on.
        let load = SlotReference(UInt(bitPattern: e.pointer) &+ UInt(truncatingIfNeeded: e.imm &>> 24) &<< 2)
        guard let value = loadFast(dataTLB, sum &+ immediate(load), size) else { return false }
        // In the instructions' order: the shift's, the addition's and the load's destinations may be one register.
        x[Int(e.imm &>> 16 & 0xff)] = shifted
        x[Int(e.rd)] = sum
        x[Int(load.rd)] = size == 4 ? signExtend32(value) : value
        left &-= 2
        return true
    }

    /// Whether a fused pair (`Op.zextW4`) runs both its instructions: always where the loop checks only at control
    /// transfers (the next event is a page of instructions away), else when the next event leaves room for the second;
    /// counts the second (by a constant, see `Op.zextW4`). False sends the pair out of line, which runs
    /// its first instruction alone.
    @inline(__always)
    func bothRun<Mode: DispatchMode>(_ left: inout Int, _ e: SlotReference, _: Mode.Type) -> Bool {
        if Mode.checksEveryInstruction && left < 1 { return false }
        left &-= 1
        return true
    }

    /// The conditional branch of a fused branch pair (`Op.addiBeq`), after its first instruction (`first` bytes, at
    /// pc) ran: the branch is the slot `first` bytes on; counts it.
    @inline(__always)
    func branchAfter<Branch: FusedBranch, Mode: DispatchMode>(_: Branch.Type, _ e: SlotReference,
                                                               _ x: UnsafeMutablePointer<UInt64>, _ first: UInt64,
                                                               _ pc: inout UInt64, _ pageKey: inout UInt,
                                                               _ left: inout Int, _: Mode.Type) {
        // Slots are 8 bytes per halfword.
        let branch = SlotReference(UInt(bitPattern: e.pointer) &+ UInt(truncatingIfNeeded: first) &<< 2)
        if Branch.taken(x[Int(branch.rs1)], Branch.comparesWithZero ? 0 : x[Int(branch.rs2)]) {
            // The target from the pair's pc, whose page is the branch's (a pair lies in one page): pc is not moved to
            // the branch first, one addition fewer on the taken path.
            jump(&pc, pc &+ (immediate(branch) &+ first), &pageKey, left, uncounted: 1, Mode.self)
        } else {
            pc &+= first &+ Branch.length
        }
        left &-= 1
    }

    /// The addition of a fused store pair (`Op.swAddi`), after its store (`first` bytes, at pc) ran: the addition
    /// (`second` bytes) is the slot `first` bytes on; counts it.
    @inline(__always)
    func additionAfter(word: Bool, _ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>, _ first: UInt64,
                       _ second: UInt64, _ pc: inout UInt64, _ left: inout Int) {
        left &-= 1
        // Slots are 8 bytes per halfword.
        let addition = SlotReference(UInt(bitPattern: e.pointer) &+ UInt(truncatingIfNeeded: first) &<< 2)
        let sum = x[Int(addition.rs1)] &+ immediate(addition)
        x[Int(addition.rd)] = word ? signExtend32(sum) : sum
        pc &+= first &+ second
    }

    // MARK: Floating-point fast paths

    /// Whether mstatus.FS is Dirty: an F/D instruction that does not round may run inline with nothing to mark
    /// (else it goes out of line, which marks FS Dirty). One test of `roundingFieldsOnHost`, which is 0 unless so.
    @inline(__always)
    var floatingPointDirty: Bool { roundingFieldsOnHost != 0 }

    /// Whether an F/D instruction whose rm field is the low 3 bits of `field` may run on the host FPU as it is
    /// (`roundingFieldsOnHost`): one test, with no read of frm or mstatus.
    @inline(__always)
    func hostRoundsAsAsked(_ field: Int32) -> Bool {
        roundingFieldsOnHost &>> UInt8(truncatingIfNeeded: field & 7) & 1 != 0
    }

    /// Double add/sub/mul/div when FP is on and the host already rounds as the instruction asks (never
    /// RMM): false sends the instruction out of line.
    @inline(__always)
    func doubleFastPath(_ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>, _ op: Op) -> Bool {
        guard hostRoundsAsAsked(e.imm) else { return false }
        let result = Double(bitPattern: hostDoubleArithmetic(op, x[Int(e.rs1)], x[Int(e.rs2)]))
        // A NaN result becomes the canonical NaN: tested as a double (one comparison and a branch that is never
        // taken on ordinary code) rather than on the bits (`canonical64`: a mask, a comparison and a select).
        x[Int(e.rd)] = _slowPath(result.isNaN) ? canonical64(result.bitPattern) : result.bitPattern
        return true
    }

    /// The operands of a double comparison when neither is a NaN (such a comparison raises no flag); nil sends it
    /// out of line.
    @inline(__always)
    func orderedOperands(_ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>) -> (Double, Double)? {
        let a = x[Int(e.rs1)], b = x[Int(e.rs2)]
        let magnitude: UInt64 = 0x7fff_ffff_ffff_ffff, infinity: UInt64 = 0x7ff0_0000_0000_0000
        guard a & magnitude <= infinity && b & magnitude <= infinity else { return nil }
        return (Double(bitPattern: a), Double(bitPattern: b))
    }

    /// The double fused multiply-adds, under the same conditions; infinity x 0 goes out of line (RISC-V
    /// wants the invalid flag even with a quiet NaN addend).
    @inline(__always)
    func fusedFastPath(_ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>, negateProduct: Bool,
                       negateAddend: Bool) -> Bool {
        var rm = UInt64((e.imm >> 8) & 7)
        if rm == 7 { rm = frm }
        guard mstatus & MStatus.fs != 0, rm == hostRounding else { return false }
        mstatus |= MStatus.fs
        let a = x[Int(e.rs1)], b = x[Int(e.rs2)], c = x[Int(e.imm & 0xff)]
        let magnitude: UInt64 = 0x7fff_ffff_ffff_ffff, infinity: UInt64 = 0x7ff0_0000_0000_0000
        guard !((a & magnitude == infinity && b & magnitude == 0) || (b & magnitude == infinity && a & magnitude == 0))
        else { return false }
        let product = Double(bitPattern: negateProduct ? a ^ (1 << 63) : a)
        let addend = Double(bitPattern: negateAddend ? c ^ (1 << 63) : c)
        let result = addend.addingProduct(product, Double(bitPattern: b))
        x[Int(e.rd)] = _slowPath(result.isNaN) ? canonical64(result.bitPattern) : result.bitPattern  // as `doubleFastPath`
        return true
    }

    // MARK: Memory access fast paths

    /// Whether the data TLB entry `entry` maps an access of `size` bytes at `address`: one comparison, true
    /// only for an aligned access (misaligned ones take the slow path, which performs them) to a page whose
    /// entry has no marker bit. A page is kept on the slow path for loads and stores by not refilling its entry
    /// (`resolve`), or for stores alone by the code marker.
    @inline(__always)
    func dataHit(_ entry: TLBEntry, _ address: UInt64, _ size: UInt64) -> Bool {
        entry.tag == address & (~0xfff | (size &- 1))
    }

    /// A load through the data TLB (`dataTLB`: the load entries): the zero-extended value, or nil for the
    /// out-of-line path.
    @inline(__always)
    func loadFast(_ dataTLB: UnsafeMutablePointer<TLBEntry>, _ address: UInt64, _ size: UInt64) -> UInt64? {
        let entry = dataTLB[Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
        guard _fastPath(dataHit(entry, address, size)) else { return nil }
        let p = entry.hostPointer(address)
        switch size {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(p.loadUnaligned(as: UInt16.self))
        case 4: return UInt64(p.loadUnaligned(as: UInt32.self))
        default: return p.loadUnaligned(as: UInt64.self)
        }
    }

    /// A store through the store entries, which follow the load entries of `dataTLB`.
    @inline(__always)
    func storeFast(_ dataTLB: UnsafeMutablePointer<TLBEntry>, _ address: UInt64, _ size: UInt64,
                   _ value: UInt64) -> Bool {
        let entry = dataTLB[TLBLayout.entries + Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
        guard _fastPath(dataHit(entry, address, size)) else { return false }
        let p = entry.hostPointer(address)
        switch size {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
        default: p.storeBytes(of: value, as: UInt64.self)
        }
        return true
    }

    /// An access run's stores (`Op.cSdRun2`, `count` of them, each in its own slot from `e` on): all of them when the
    /// next event leaves room for them and every one hits the store TLB, else none (false: the out-of-line path runs
    /// the first alone). Counts all but the first.
    @inline(__always)
    func storeRun<Mode: DispatchMode>(_ count: Int, _ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>,
                                      _ dataTLB: UnsafeMutablePointer<TLBEntry>, _ left: inout Int, _: Mode.Type) -> Bool {
        if Mode.checksEveryInstruction && left < count - 1 { return false }
        guard storeEach(e.pointer, count, base: x[Int(e.rs1)], x, dataTLB) else { return false }
        left &-= count &- 1
        return true
    }

    /// A stack adjustment and the `stores` saves after it (`Op.pushRun2`): as `storeRun`, off the adjusted sp.
    @inline(__always)
    func pushRun<Mode: DispatchMode>(_ stores: Int, _ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>,
                                     _ dataTLB: UnsafeMutablePointer<TLBEntry>, _ left: inout Int, _: Mode.Type) -> Bool {
        if Mode.checksEveryInstruction && left < stores { return false }
        let sp = x[Int(e.rs1)] &+ immediate(e)
        // Slots are 8 bytes per halfword: the compressed saves are in the slots after this one. None stores sp.
        guard storeEach(e.pointer + 1, stores, base: sp, x, dataTLB) else { return false }
        x[Int(e.rd)] = sp
        left &-= stores
        return true
    }

    /// The `loads` restores off sp and the stack adjustment after them (`Op.popRun2`), and the return after those
    /// when `thenReturn` (`Op.popReturn3`): as `loadRun`.
    @inline(__always)
    func popRun<Mode: DispatchMode>(_ loads: Int, thenReturn: Bool, _ e: SlotReference,
                                    _ x: UnsafeMutablePointer<UInt64>, _ dataTLB: UnsafeMutablePointer<TLBEntry>,
                                    _ left: inout Int, _: Mode.Type) -> Bool {
        let others = thenReturn ? loads &+ 1 : loads
        if Mode.checksEveryInstruction && left < others { return false }
        let sp = x[Int(e.rs1)]
        // None of the loads writes sp.
        guard loadEach(e.pointer, loads, base: sp, x, dataTLB) else { return false }
        x[Int(e.rs1)] = sp &+ immediate(SlotReference(UInt(bitPattern: e.pointer + loads)))
        left &-= others
        return true
    }

    /// The `count` compressed doubleword stores in the slots from `slots` on, each to `base` plus its offset: all of
    /// them when every one hits the store TLB, else none (false).
    @inline(__always)
    func storeEach(_ slots: UnsafePointer<DecodedInstruction>, _ count: Int, base: UInt64,
                   _ x: UnsafeMutablePointer<UInt64>, _ dataTLB: UnsafeMutablePointer<TLBEntry>) -> Bool {
        for i in 0..<count {
            let address = base &+ UInt64(bitPattern: Int64(slots[i].imm))
            let entry = dataTLB[TLBLayout.entries + Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
            guard _fastPath(dataHit(entry, address, 8)) else { return false }
        }
        for i in 0..<count {
            let address = base &+ UInt64(bitPattern: Int64(slots[i].imm))
            let entry = dataTLB[TLBLayout.entries + Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
            entry.hostPointer(address).storeBytes(of: x[Int(slots[i].rs2)], as: UInt64.self)
        }
        return true
    }

    /// An access run's loads (`Op.cLdRun2`), as `storeRun` for stores: every address is off the base register's value
    /// before the run (only the last load may write it).
    @inline(__always)
    func loadRun<Mode: DispatchMode>(_ count: Int, _ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>,
                                     _ dataTLB: UnsafeMutablePointer<TLBEntry>, _ left: inout Int, _: Mode.Type) -> Bool {
        if Mode.checksEveryInstruction && left < count - 1 { return false }
        guard loadEach(e.pointer, count, base: x[Int(e.rs1)], x, dataTLB) else { return false }
        left &-= count &- 1
        return true
    }

    /// The `count` compressed doubleword loads in the slots from `slots` on, as `storeEach`.
    @inline(__always)
    func loadEach(_ slots: UnsafePointer<DecodedInstruction>, _ count: Int, base: UInt64,
                  _ x: UnsafeMutablePointer<UInt64>, _ dataTLB: UnsafeMutablePointer<TLBEntry>) -> Bool {
        for i in 0..<count {
            let address = base &+ UInt64(bitPattern: Int64(slots[i].imm))
            let entry = dataTLB[Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
            guard _fastPath(dataHit(entry, address, 8)) else { return false }
        }
        for i in 0..<count {
            let address = base &+ UInt64(bitPattern: Int64(slots[i].imm))
            let entry = dataTLB[Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
            x[Int(slots[i].rd)] = entry.hostPointer(address).loadUnaligned(as: UInt64.self)
        }
        return true
    }

    /// The two byte loads of `Op.lbuPair` when both hit the load TLB (the first's rd is not the base): false runs
    /// the first alone out of line.
    @inline(__always)
    func loadBytePair(_ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>,
                      _ dataTLB: UnsafeMutablePointer<TLBEntry>) -> Bool {
        let base = x[Int(e.rs1)]
        guard let first = loadFast(dataTLB, base &+ UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: e.imm))), 1),
              let second = loadFast(dataTLB, base &+ UInt64(bitPattern: Int64(e.imm &>> 16)), 1) else { return false }
        x[Int(e.rd)] = first
        x[Int(e.rs2)] = second
        return true
    }

    /// The two doubleword stores of `Op.sdPair` when both hit the store TLB (checked before either is made): false
    /// runs the first alone out of line.
    @inline(__always)
    func storePair(_ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>,
                   _ dataTLB: UnsafeMutablePointer<TLBEntry>) -> Bool {
        let base = x[Int(e.rs1)]
        let first = base &+ UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: e.imm)))
        let second = base &+ UInt64(bitPattern: Int64(e.imm &>> 16))
        let stores = dataTLB + TLBLayout.entries
        let firstEntry = stores[Int(truncatingIfNeeded: (first >> 12) & TLBLayout.indexMask)]
        let secondEntry = stores[Int(truncatingIfNeeded: (second >> 12) & TLBLayout.indexMask)]
        guard _fastPath(dataHit(firstEntry, first, 8) && dataHit(secondEntry, second, 8)) else { return false }
        UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: first &+ firstEntry.hostOffset)).unsafelyUnwrapped
            .storeBytes(of: x[Int(e.rs2)], as: UInt64.self)
        UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: second &+ secondEntry.hostOffset)).unsafelyUnwrapped
            .storeBytes(of: x[Int(e.rd)], as: UInt64.self)
        return true
    }

    /// `Op.slliwOr`: the word shift into t (imm bits 16-23), then t or'ed with rs2, the result for rd.
    @inline(__always)
    func shiftedWordThenOr(left: Bool, _ e: SlotReference, _ x: UnsafeMutablePointer<UInt64>) -> UInt64 {
        let word = UInt32(truncatingIfNeeded: x[Int(e.rs1)]), amount = UInt32(truncatingIfNeeded: e.imm) & 0x1f
        let shifted = signExtend32(UInt64(left ? word &<< amount : word &>> amount))
        let other = x[Int(e.rs2)]
        x[Int(e.imm &>> 16 & 0xff)] = shifted
        return shifted | other
    }

    // MARK: Integer helpers

    /// An `Op.rareInteger` slot's result (`RareIntegerOperation`, from the slot's imm) for operands `a` (rs1) and
    /// `b` (rs2): out of line.
    func rareIntegerResult(_ operation: Int32, _ a: UInt64, _ b: UInt64) -> UInt64 {
        let a32 = UInt32(truncatingIfNeeded: a), b32 = UInt32(truncatingIfNeeded: b)
        switch RareIntegerOperation(rawValue: operation).unsafelyUnwrapped {
        case .mulh:
            return UInt64(bitPattern: Int64(bitPattern: a).multipliedFullWidth(by: Int64(bitPattern: b)).high)
        case .mulhsu:
            let high = a.multipliedFullWidth(by: b).high
            return Int64(bitPattern: a) < 0 ? high &- b : high
        case .mulhu: return a.multipliedFullWidth(by: b).high
        case .divu: return b == 0 ? .max : a / b
        case .divw: return divideWord(a, b)
        case .divuw: return signExtend32(UInt64(b32 == 0 ? .max : a32 / b32))
        case .remw: return remainderWord(a, b)
        case .remuw: return signExtend32(UInt64(b32 == 0 ? a32 : a32 % b32))
        case .slt: return Int64(bitPattern: a) < Int64(bitPattern: b) ? 1 : 0
        case .sra: return UInt64(bitPattern: Int64(bitPattern: a) &>> Int64(bitPattern: b))
        case .srlw: return signExtend32(UInt64(a32 &>> b32))
        case .sraw: return UInt64(bitPattern: Int64(Int32(bitPattern: a32) &>> Int32(bitPattern: b32)))
        }
    }

    @inline(__always)
    func divide(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let sa = Int64(bitPattern: a), sb = Int64(bitPattern: b)
        if sb == 0 { return .max }
        if sb == -1 { return UInt64(bitPattern: 0 &- sa) }
        return UInt64(bitPattern: sa / sb)
    }

    @inline(__always)
    func remainder(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let sa = Int64(bitPattern: a), sb = Int64(bitPattern: b)
        if sb == 0 { return a }
        if sb == -1 { return 0 }
        return UInt64(bitPattern: sa % sb)
    }

    @inline(__always)
    func divideWord(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let sa = Int32(truncatingIfNeeded: a), sb = Int32(truncatingIfNeeded: b)
        if sb == 0 { return .max }
        if sb == -1 { return UInt64(bitPattern: Int64(0 &- sa)) }
        return UInt64(bitPattern: Int64(sa / sb))
    }

    @inline(__always)
    func remainderWord(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let sa = Int32(truncatingIfNeeded: a), sb = Int32(truncatingIfNeeded: b)
        if sb == 0 { return UInt64(bitPattern: Int64(sa)) }
        if sb == -1 { return 0 }
        return UInt64(bitPattern: Int64(sa % sb))
    }

    /// LR, SC or an AMO when the data TLB maps its (aligned) address; false sends it out of line. `x` is the
    /// register file and `dataTLB` the loop's load entries (the store entries follow them), both in the loop's
    /// registers already. Each width is its own straight path, LR first (a spinning `lr.w; bnez` makes half a
    /// lock wait's instructions LRs). Not inlined: the loop stays small.
    @inline(never)
    func atomicThroughTLB(_ e: UnsafePointer<DecodedInstruction>, _ x: UnsafeMutablePointer<UInt64>,
                          _ dataTLB: UnsafeMutablePointer<TLBEntry>) -> Bool {
        let form = AtomicForm(imm: e.pointee.imm)
        return form.withWidth { atomicThroughTLB(e.pointee, form, x, dataTLB, size: $0) }
    }

    @inline(__always)
    private func atomicThroughTLB(_ e: DecodedInstruction, _ form: AtomicForm, _ x: UnsafeMutablePointer<UInt64>,
                                  _ dataTLB: UnsafeMutablePointer<TLBEntry>, size: UInt64) -> Bool {
        let address = x[Int(e.rs1)]
        // LR reads through the load entries; SC and the AMOs need the store ones. A hit is aligned (`dataHit`).
        let table = form.isLoadReserved ? dataTLB : dataTLB + TLBLayout.entries
        let entry = table[Int(truncatingIfNeeded: (address >> 12) & TLBLayout.indexMask)]
        guard _fastPath(dataHit(entry, address, size)) else { return false }
        let p = entry.hostPointer(address)
        executeAtomic(form, rd: Int(e.rd), rs2: Int(e.rs2), at: p, x, size: size)
        return true
    }

    /// csrrs/csrrc (or their immediate forms) of sstatus when it is accessible, changes no bit but SIE and
    /// leaves no interrupt takeable that was not (what `executeSystem` does for it then, without leaving the loop:
    /// the data TLB set, translations and the loop's mode stay as they are); false sends it out of line, where
    /// the same instruction is executed in full. Not inlined: the loop stays small.
    @inline(never)
    func setOrClearStatusInline(_ e: UnsafePointer<DecodedInstruction>) -> Bool {
        guard priv != .user else { return false }
        let raw = UInt32(bitPattern: e.pointee.imm)
        let immediateForm = raw & 0x4000 != 0
        let operand = (immediateForm ? UInt64(e.pointee.rs1) : regs[Int(e.pointee.rs1)]) & MStatus.supervisorWritable
        let old = mstatus
        let new = raw & 0x1000 == 0 ? old | operand : old & ~operand  // funct3 bit 0: clear
        guard (new ^ old) & ~MStatus.sie == 0 else { return false }
        // SIE turned on with an enabled interrupt pending: the slow path decides whether it is taken now.
        if new & ~old != 0 && effectiveMip() & mie != 0 { return false }
        regs[Int(e.pointee.rd)] = mstatusValue & MStatus.supervisorView
        mstatus = new
        counters.statusBitsInline &+= 1
        return true
    }

    /// LR, SC or an AMO at its host address `p` (aligned, in RAM, permission checked): the one definition
    /// behind the loop's TLB path and the out-of-line path.
    func executeAtomic(_ form: AtomicForm, rd: Int, rs2: Int, at p: UnsafeMutableRawPointer) {
        form.withWidth { executeAtomic(form, rd: rd, rs2: rs2, at: p, regs, size: $0) }
    }

    /// `executeAtomic` for one width (`size` 4 or 8, a constant where it is inlined).
    @inline(__always)
    private func executeAtomic(_ form: AtomicForm, rd: Int, rs2: Int, at p: UnsafeMutableRawPointer,
                               _ x: UnsafeMutablePointer<UInt64>, size: UInt64) {
        let word = size == 4
        let old = word ? signExtend32(UInt64(p.load(as: UInt32.self))) : p.load(as: UInt64.self)
        let here = UInt64(UInt(bitPattern: p))
        if form.isLoadReserved {
            reservation = here
            x[rd] = old
            return
        }
        let new: UInt64
        if form.isStoreConditional {
            let reserved = reservation == here
            new = x[rs2]  // before rd is written: it may be rs2
            reservation = .max
            x[rd] = reserved ? 0 : 1
            guard reserved else { return }
        } else {
            new = atomicOperation(form.funct5, old, x[rs2], word: word)
            x[rd] = old
        }
        if word {
            p.storeBytes(of: UInt32(truncatingIfNeeded: new), as: UInt32.self)
        } else {
            p.storeBytes(of: new, as: UInt64.self)
        }
    }

    /// AMO arithmetic; `word` operands are sign-extended 32-bit values.
    @inline(__always)
    func atomicOperation(_ funct5: Int32, _ old: UInt64, _ operand: UInt64, word: Bool) -> UInt64 {
        let b = word ? signExtend32(operand) : operand
        switch funct5 {
        case AtomicForm.swap: return b
        case AtomicForm.add: return old &+ b
        case AtomicForm.xor: return old ^ b
        case AtomicForm.and: return old & b
        case AtomicForm.or: return old | b
        case AtomicForm.min: return Int64(bitPattern: old) < Int64(bitPattern: b) ? old : b
        case AtomicForm.max: return Int64(bitPattern: old) > Int64(bitPattern: b) ? old : b
        case AtomicForm.minUnsigned: return (word ? old & 0xffff_ffff : old) < (word ? b & 0xffff_ffff : b) ? old : b
        default: return (word ? old & 0xffff_ffff : old) > (word ? b & 0xffff_ffff : b) ? old : b  // maxUnsigned
        }
    }
}

extension AtomicForm {
    /// `body(width)` with the width (4 or 8) a constant in each branch, so that an inlined body becomes one straight
    /// path per width.
    @inline(__always)
    func withWidth<Result>(_ body: (_ width: UInt64) -> Result) -> Result {
        isDoubleword ? body(8) : body(4)
    }
}
