@testable import RVHart
import XCTest

/// Budgets, device stops, breakpoints, code changes, straddling instructions, determinism.
final class ExecutionTests: XCTestCase {
    let m = TestMachine()
    let handler = TestMachine.ramBase + 0x400

    /// A loop with branches, calls and compressed code spanning two pages.
    private func loadLoop() {
        let start = TestMachine.ramBase + 0xff0
        m.put([
            Asm.addi(1, 1, 1),  // ff0
            Asm.jal(rd: 5, offset: 0x20),  // ff4 -> 1014 (next page)
            Asm.addi(2, 2, 3),  // ff8
            Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: -12),  // ffc: back to ff0
        ], at: start)
        m.put([Asm.addi(3, 3, 1), Asm.jalr(rd: 0, rs1: 5)], at: TestMachine.ramBase + 0x1014)
        m.hart.pc = start
    }

    /// Compressed nops at 0xffa and 0xffc of a page, a 32-bit addi x1, x1, 3 at 0xffe whose upper half is on
    /// the next page, then a branch back to 0xffc; pc at 0xffa. Returns the page.
    @discardableResult
    private func loadStraddlingLoop() -> UInt64 {
        let base = TestMachine.ramBase + 0x2000
        m.put16([0x0001, 0x0001], at: base + 0xffa)
        let word = Asm.addi(1, 1, 3)
        m.put16([UInt16(word & 0xffff)], at: base + 0xffe)
        m.put16([UInt16(word >> 16)], at: base + 0x1000)
        m.put([Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: -6)], at: base + 0x1002)  // back to 0xffc
        m.hart.pc = base + 0xffa
        return base
    }

    func testBudgetsAreExact() {
        loadLoop()
        var total: UInt64 = 0
        for budget: UInt64 in [1, 2, 3, 5, 7, 11, 1000, 1, 9999] {
            XCTAssertEqual(m.hart.run(budget: budget, globalCount: total), .budgetExhausted)
            total += budget
            XCTAssertEqual(m.hart.retired, total)
        }
        XCTAssertEqual(m.hart.run(budget: 0, globalCount: total), .budgetExhausted)
        XCTAssertEqual(m.hart.retired, total)
        // Six instructions per iteration; x1 counts iterations.
        XCTAssertEqual(m.x(1), (total + 5) / 6)
    }

    func testBudgetsAreExactInLongStraightRuns() {
        // Three pages of counting instructions without a branch, then a jump back: the loop looks for the budget
        // end only at control transfers while it is far, so a budget ending anywhere in a page must still stop there.
        let count = 3 * 1024
        m.put(Array(repeating: Asm.addi(1, 1, 1), count: count) + [Asm.jal(rd: 0, offset: -Int32(4 * count))])
        m.hart.pc = TestMachine.ramBase
        var total: UInt64 = 0
        for budget: UInt64 in [2049, 2050, 2051, 4096, 1, 3000, 5000, 1023, 7000, 2048] {
            XCTAssertEqual(m.hart.run(budget: budget, globalCount: total), .budgetExhausted)
            total += budget
            XCTAssertEqual(m.hart.retired, total)
            let iterations = total / UInt64(count + 1), within = total % UInt64(count + 1)
            XCTAssertEqual(m.x(1), iterations * UInt64(count) + min(within, UInt64(count)), "after \(total)")
        }
    }

    func testBudgetsEndingAroundPageCrossingsAreExact() {
        // The loop runs on into a recently entered page without a slow step and gives the crossing's count back at
        // the next one: budgets ending just before, at and after each crossing, in runs of one instruction and
        // longer ones, must stop exactly there.
        let count = 3 * 1024
        m.put(Array(repeating: Asm.addi(1, 1, 1), count: count) + [Asm.jal(rd: 0, offset: -Int32(4 * count))])
        m.hart.pc = TestMachine.ramBase
        var total: UInt64 = 0
        func run(_ budget: UInt64) {
            XCTAssertEqual(m.hart.run(budget: budget, globalCount: total), .budgetExhausted)
            total += budget
            XCTAssertEqual(m.hart.retired, total)
            let iterations = total / UInt64(count + 1), within = total % UInt64(count + 1)
            XCTAssertEqual(m.x(1), iterations * UInt64(count) + min(within, UInt64(count)), "after \(total)")
        }
        run(UInt64(count + 1))  // every page entered once: the crossings below are recent pages
        // (iteration, index of the first instruction on the next page): a budget ends 3 before it, then 1 by 1.
        for (iteration, crossing) in [(1, 1024), (1, 2048), (1, 3072), (2, 1024), (3, 2048)] {
            run(UInt64(iteration * (count + 1) + crossing - 3) - total)
            for _ in 0..<6 { run(1) }
            run(2)
            run(3)
        }
        for budget: UInt64 in [1021, 2, 1, 1024, 3, 2047, 2051, 1] { run(budget) }
    }

    func testHugeBudgetStopsAtWFI() {
        m.put([Asm.nop, Asm.nop, Asm.wfi])
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.hart.run(budget: .max, globalCount: 0), .waitingForInterrupt)
        XCTAssertEqual(m.hart.retired, 3)
    }

    func testSpinHintsEndTheRunOnlyWhenAsked() {
        // A spin loop: PAUSE, then WFI with a machine timer interrupt pending but MIE clear (it completes at once).
        m.put([Asm.addi(1, 1, 1), Asm.pause, Asm.wfi, Asm.jal(rd: 0, offset: -12)])
        m.hart.pc = TestMachine.ramBase
        m.hart.mie = Interrupt.mtip
        m.hart.setInterruptLines(Interrupt.mtip)
        XCTAssertEqual(m.run(100), .budgetExhausted, "without the flag both are plain instructions")
        XCTAssertEqual(m.x(1), 25)

        m.hart.spinHintsEndRun = true
        m.hart.pc = TestMachine.ramBase
        let before = m.hart.retired
        XCTAssertEqual(m.run(100), .spinHint)
        XCTAssertEqual(m.hart.retired - before, 2, "PAUSE retires, then the run ends")
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 8)
        XCTAssertEqual(m.run(100), .spinHint)
        XCTAssertEqual(m.hart.retired - before, 3, "WFI completed by a pending interrupt retires, then the run ends")
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 12)
        XCTAssertFalse(m.hart.isWaitingForInterrupt)

        m.hart.setInterruptLines(0)
        m.hart.pc = TestMachine.ramBase + 8
        XCTAssertEqual(m.run(100), .waitingForInterrupt, "with nothing pending WFI waits as before")
    }

    func testSameStartSameEnd() {
        loadLoop()
        XCTAssertEqual(m.hart.run(budget: 12345, globalCount: 0), .budgetExhausted)
        let other = TestMachine()
        let start = TestMachine.ramBase + 0xff0
        for offset in stride(from: UInt64(0), to: 0x40, by: 4) {
            other.write32(start + offset, m.read32(start + offset))
        }
        other.put([Asm.addi(3, 3, 1), Asm.jalr(rd: 0, rs1: 5)], at: TestMachine.ramBase + 0x1014)
        other.hart.pc = start
        for slice: UInt64 in [5000, 7000, 345] { _ = other.hart.run(budget: slice, globalCount: other.hart.retired) }
        XCTAssertEqual(other.hart.retired, m.hart.retired)
        XCTAssertEqual(other.hart.stateHash(), m.hart.stateHash())
        other.step(1)
        XCTAssertNotEqual(other.hart.stateHash(), m.hart.stateHash())
    }

    func testDeviceLoadStopsBeforeRetiring() {
        m.set(1, TestMachine.device)
        m.put([Asm.load(1, 2, 1, 6), Asm.sw(2, 1, 8), Asm.addi(3, 0, 1)])
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.run(10), .mmio)
        XCTAssertEqual(m.hart.retired, 0)
        XCTAssertEqual(m.hart.pendingAccess, MMIOAccess(address: TestMachine.device + 6, size: 2, isWrite: false, value: 0))
        XCTAssertEqual(m.run(10), .mmio, "nothing runs until the access completes")
        m.hart.completeMMIO(value: 0xffff_8001)
        XCTAssertEqual(m.hart.retired, 1)
        XCTAssertEqual(m.x(2), 0xffff_ffff_ffff_8001, "lh sign-extends the device's answer")
        XCTAssertEqual(m.run(10), .mmio)
        XCTAssertEqual(m.hart.pendingAccess,
                       MMIOAccess(address: TestMachine.device + 8, size: 4, isWrite: true, value: 0xffff_8001))
        m.hart.completeMMIO(value: 0)
        XCTAssertEqual(m.run(1), .budgetExhausted)
        XCTAssertEqual(m.x(3), 1)
        XCTAssertEqual(m.hart.retired, 3)
    }

    func testDeviceErrorsAndForbiddenDeviceAccesses() {
        m.installHandler(at: handler)
        m.set(1, TestMachine.device)
        m.put([Asm.ld(2, 1)])
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.run(1), .mmio)
        m.hart.failMMIO()
        XCTAssertEqual(m.hart.mcause, Cause.loadAccess)
        XCTAssertEqual(m.hart.mtval, TestMachine.device)
        XCTAssertEqual(m.hart.pc, handler)
        // AMOs to a device take a store/AMO access fault; misaligned device accesses are misaligned.
        for (word, expected) in [(Asm.amo(0x00, width: 3, 2, 1, 0), Cause.storeAccess),
                                 (Asm.ld(2, 1, 4), Cause.loadMisaligned), (Asm.sd(2, 1, 2), Cause.storeMisaligned)] {
            m.put([word])
            m.hart.pc = TestMachine.ramBase
            XCTAssertEqual(m.run(1), .budgetExhausted)
            XCTAssertEqual(m.hart.mcause, expected)
        }
        // Fetching from a device or from nothing is an instruction access fault; so is storing to ROM.
        for target in [TestMachine.device, 0x7000_0000 as UInt64] {
            m.set(1, target)
            m.put([Asm.jalr(rd: 0, rs1: 1)])
            m.hart.pc = TestMachine.ramBase
            m.run(2)
            XCTAssertEqual(m.hart.mcause, Cause.fetchAccess)
            XCTAssertEqual(m.hart.mtval, target)
        }
        m.set(1, 0x1000)
        m.put([Asm.sd(0, 1)])
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        XCTAssertEqual(m.hart.mcause, Cause.storeAccess)
    }

    func testRunsFromROM() {
        let rom = TestMachine(rom: [0x93, 0x00, 0x50, 0x00])  // addi x1, x0, 5 at 0x1000
        rom.hart.pc = 0x1000
        rom.step(1)
        XCTAssertEqual(rom.x(1), 5)
    }

    /// Jumping back to a page entered before must decode its not yet executed slots from that page.
    func testReturningToARecentPageDecodesItsOwnBytes() {
        let pageA = TestMachine.ramBase + 0x4000, pageB = TestMachine.ramBase + 0x5000
        m.put([
            Asm.jal(rd: 1, offset: Int32(pageB - pageA)),  // call B+0
            Asm.jal(rd: 1, offset: Int32(pageB + 0x100 - (pageA + 4))),  // then B+0x100, never run before
        ], at: pageA)
        m.put([Asm.jalr(rd: 0, rs1: 1)], at: pageB)
        m.put([Asm.addi(7, 0, 77)], at: pageB + 0x100)
        m.put([Asm.addi(7, 0, 11)], at: pageA + 0x100)  // what the bytes at A's offset would decode to
        m.hart.pc = pageA
        m.step(4)
        XCTAssertEqual(m.x(7), 77)
    }

    func testDecodedCacheLimitDropsAndRebuilds() {
        m.hart.codePageLimit = 2
        // Three pages calling each other in a loop: the cache is dropped and rebuilt again and again.
        let pages = [TestMachine.ramBase + 0x6000, TestMachine.ramBase + 0x7000, TestMachine.ramBase + 0x8000]
        m.put([Asm.addi(5, 5, 1), Asm.jal(rd: 0, offset: 0x1000 - 4)], at: pages[0])
        m.put([Asm.addi(6, 6, 1), Asm.jal(rd: 0, offset: 0x1000 - 4)], at: pages[1])
        m.put([Asm.addi(7, 7, 1), Asm.jal(rd: 0, offset: -0x2000 - 4)], at: pages[2])
        m.hart.pc = pages[0]
        m.step(6 * 50)
        XCTAssertEqual([m.x(5), m.x(6), m.x(7)], [50, 50, 50])
        XCTAssertLessThanOrEqual(m.hart.allocatedCodePages, 2)
    }

    func testBreakpoints() {
        loadLoop()
        m.hart.addBreakpoint(TestMachine.ramBase + 0xffc)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0xffc)
        XCTAssertEqual(m.hart.retired, 5)
        XCTAssertEqual(m.run(100), .breakpoint, "resumes over the breakpoint, stops there next time")
        XCTAssertEqual(m.hart.retired, 11)
        m.hart.removeBreakpoint(TestMachine.ramBase + 0xffc)
        XCTAssertEqual(m.run(100), .budgetExhausted)
        XCTAssertEqual(m.hart.retired, 111)
    }

    func testBreakpointSetOnAlreadyDecodedPage() {
        // Both pages of the loop are decoded before the breakpoint exists (at 0x1018, the jalr on the second page).
        loadLoop()
        XCTAssertEqual(m.run(100), .budgetExhausted)
        m.hart.addBreakpoint(TestMachine.ramBase + 0x1018)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0x1018)
        XCTAssertEqual(m.hart.retired, 105, "stops before the instruction, 100 = 16 iterations + 4, then 5 more")
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.retired, 111)
        // A compressed instruction and one straddling two pages, both decoded before.
        let base = loadStraddlingLoop()
        m.set(1, 0)
        XCTAssertEqual(m.run(7), .budgetExhausted)  // ffa, then (ffc, ffe, 1002) twice
        m.hart.addBreakpoint(base + 0xffe)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, base + 0xffe)
        XCTAssertEqual(m.x(1), 6)
        m.hart.removeBreakpoint(base + 0xffe)
        m.hart.addBreakpoint(base + 0xffc)
        XCTAssertEqual(m.run(100), .breakpoint, "runs on from the straddling instruction")
        XCTAssertEqual(m.hart.pc, base + 0xffc)
        XCTAssertEqual(m.x(1), 9)
        XCTAssertEqual(m.hart.retired, 111 + 7 + 1 + 2)
    }

    func testBreakpointSetAfterFenceIOnAPageKeptDecoded() {
        loadLoop()
        XCTAssertEqual(m.run(100), .budgetExhausted)
        // The pages are from before the FENCE.I when the breakpoint is set; unchanged, they are kept.
        m.hart.invalidateDecodedInstructions()
        m.hart.addBreakpoint(TestMachine.ramBase + 0x1018)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0x1018)
        XCTAssertGreaterThan(m.hart.counters.codePagesKept, 0)
    }

    func testBreakpointRemovedWhileDecoded() {
        loadLoop()
        m.hart.addBreakpoint(TestMachine.ramBase + 0x1018)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.retired, 3)
        m.hart.removeBreakpoint(TestMachine.ramBase + 0x1018)
        XCTAssertEqual(m.run(100), .budgetExhausted)
        XCTAssertEqual(m.hart.retired, 103)
        // A breakpoint at the same page offset elsewhere makes this slot a breakpoint slot too; it runs as usual.
        m.hart.addBreakpoint(TestMachine.ramBase + 0x5018)
        XCTAssertEqual(m.run(600), .budgetExhausted)
        XCTAssertEqual(m.hart.retired, 703)
        XCTAssertEqual(m.x(3), (703 + 3) / 6, "x3 counts iterations that reached the second page")
    }

    /// A loop of the pairs decoding fuses into one slot (`Decoder.fused`), 32-bit and compressed: zext.w x11, x10
    /// (8 bytes), x13 = x14 + (x10 << 3) (8), x15 = (x15 << 2) + x30 (4), zext.w x12, x10 (6), x9 = (x10 >> 7) ^ x14
    /// through x6 (8); then x10 += 0x123 and a jump back. Returns the model of its twelve instructions (registers
    /// indexed by number) and their pcs.
    private func loadFusedPairsLoop() -> (steps: [(inout [UInt64]) -> Void], pcs: [UInt64]) {
        func halves(_ word: UInt32) -> [UInt16] { [UInt16(word & 0xffff), UInt16(word >> 16)] }
        let code = halves(Asm.slli(11, 10, 32)) + halves(Asm.srli(11, 11, 32))
            + halves(Asm.slli(13, 10, 3)) + halves(Asm.add(13, 14, 13))
            + [0x078a, 0x97fa]  // c.slli x15, 2; c.add x15, x30
            + halves(Asm.slli(12, 10, 32)) + [0x9201]  // c.srli x12, 32
            + halves(Asm.srli(6, 10, 7)) + halves(Asm.op(0, 4, 9, 6, 14))  // xor x9, x6, x14
            + halves(Asm.addi(10, 10, 0x123)) + halves(Asm.jal(rd: 0, offset: -0x26))
        m.put16(code, at: TestMachine.ramBase)
        m.hart.pc = TestMachine.ramBase
        m.set(10, 0xfedc_ba98_7654_3210)
        m.set(14, 0x1000)
        m.set(15, 1)
        m.set(30, 3)
        let steps: [(inout [UInt64]) -> Void] = [
            { $0[11] = $0[10] << 32 }, { $0[11] = $0[11] >> 32 }, { $0[13] = $0[10] << 3 }, { $0[13] = $0[14] &+ $0[13] },
            { $0[15] = $0[15] << 2 }, { $0[15] = $0[15] &+ $0[30] }, { $0[12] = $0[10] << 32 }, { $0[12] = $0[12] >> 32 },
            { $0[6] = $0[10] >> 7 }, { $0[9] = $0[6] ^ $0[14] }, { $0[10] = $0[10] &+ 0x123 }, { _ in },
        ]
        let offsets: [UInt64] = [0x00, 0x04, 0x08, 0x0c, 0x10, 0x12, 0x14, 0x18, 0x1a, 0x1e, 0x22, 0x26]
        return (steps, offsets.map { TestMachine.ramBase + $0 })
    }

    func testFusedPairsRunAsTheirTwoInstructions() {
        // Budgets ending between the two instructions of a pair (one instruction runs the first alone), at every
        // offset, and runs long enough for the loop to check only at control transfers.
        let (steps, pcs) = loadFusedPairsLoop()
        var model = (0..<32).map { m.x($0) }
        var total: UInt64 = 0
        for budget: UInt64 in [1, 1, 1, 2, 3, 1, 2, 5, 7, 11, 1, 13, 4, 6, 5000, 1, 2, 3, 9, 4099, 17, 1, 8, 10] {
            XCTAssertEqual(m.step(budget), .budgetExhausted)
            for _ in 0..<budget {
                steps[Int(total % 12)](&model)
                total += 1
            }
            XCTAssertEqual(m.hart.retired, total)
            XCTAssertEqual(m.hart.pc, pcs[Int(total % 12)], "after \(total)")
            XCTAssertEqual((5...15).map { m.x($0) }, Array(model[5...15]), "after \(total)")
        }
    }

    func testBreakpointOnTheSecondInstructionOfAFusedPair() {
        // The loop runs (its pairs fused) before breakpoints are set on the second instruction of two pairs.
        let (_, pcs) = loadFusedPairsLoop()
        m.step(27)
        m.hart.addBreakpoint(pcs[1])
        m.hart.addBreakpoint(pcs[5])
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, pcs[5])
        XCTAssertEqual(m.hart.retired, 29)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, pcs[1])
        XCTAssertEqual(m.hart.retired, 37)
        XCTAssertEqual(m.x(11), m.x(10) << 32, "the pair's first instruction ran alone")
    }

    func testOwnStoreToTheSecondInstructionOfAFusedPairIsSeen() {
        // zext.w x11, x10 as a pair; then the program rewrites the pair's srli into addi x11, x11, 1.
        m.set(2, TestMachine.ramBase)
        m.set(3, UInt64(Asm.addi(11, 11, 1)))
        m.set(10, 0x1234_5678_9abc_def0)
        m.put([Asm.slli(11, 10, 32), Asm.srli(11, 11, 32), Asm.sw(3, 2, 4), Asm.jal(rd: 0, offset: -12)])
        m.hart.pc = TestMachine.ramBase
        m.step(4)
        XCTAssertEqual(m.x(11), 0x9abc_def0)
        m.step(2)
        XCTAssertEqual(m.x(11), (0x9abc_def0 << 32) + 1)
    }

    /// A loop of first instructions each followed by a conditional branch (taken and not): addi, ld, addiw, c.addi,
    /// c.lw, andi and lbu fuse with their branch (`Op.addiBeq`), add and c.mv do not. Puts it at RAM base with its
    /// data at +0x800 and pc at its start; x9 counts branches that fell through wrongly.
    private func loadFusedBranchPairs(into machine: TestMachine? = nil) {
        let m = machine ?? self.m
        let base = TestMachine.ramBase
        m.put([
            Asm.addi(1, 1, 1), Asm.b(funct3: 1, rs1: 1, rs2: 0, offset: 8),  // 00: bne x1, x0 -> 0c
            Asm.addi(9, 9, 1),
            Asm.ld(4, 5), Asm.b(funct3: 0, rs1: 4, rs2: 0, offset: 8),  // 0c: beq x4, x0 -> 18
            Asm.addi(9, 9, 1),
            Asm.add(6, 6, 1), Asm.b(funct3: 4, rs1: 6, rs2: 0, offset: 8),  // 18: blt x6, x0 (not taken)
            Asm.addiw(7, 7, -1), Asm.b(funct3: 5, rs1: 7, rs2: 0, offset: -0x24),  // 20: bge x7, x0 -> 00
            Asm.addi(7, 0, 3), Asm.jal(rd: 0, offset: 0xd4),  // 28: -> 100
        ], at: base)
        // c.addi s0, 1; c.bnez s0, +4; c.addi s1, 1; c.lw a0, 0(a1); c.beqz a0, +4; c.addi s1, 1; c.mv a2, s0;
        // c.beqz a2, +2 (not taken).
        m.put16([0x0405, 0xe011, 0x0485, 0x4188, 0xc111, 0x0485, 0x8622, 0xc209], at: base + 0x100)
        m.put([
            Asm.i(0x13, rd: 12, funct3: 7, rs1: 1, imm: 1), Asm.b(funct3: 0, rs1: 12, rs2: 0, offset: 8),  // 110: andi
            Asm.addi(12, 12, 5),  // x1 odd
            Asm.load(4, 3, 11, 8), Asm.b(funct3: 1, rs1: 3, rs2: 0, offset: 4),  // 11c: lbu x3, 8(x11); bne -> 124
            Asm.jal(rd: 0, offset: -0x124),  // 124: -> 00
        ], at: base + 0x110)
        m.write32(base + 0x808, 0x7f)
        m.set(5, base + 0x800)
        m.set(11, base + 0x800)
        m.hart.pc = base
    }

    /// Loops closed by branches back within their page (`Op.bneBack` and the others, compressed too, and a branch to
    /// itself), none fused with the instruction before it.
    private func loadBackwardLoops(into machine: TestMachine) {
        let base = TestMachine.ramBase
        machine.put([
            Asm.addi(1, 0, 1000),
            Asm.add(2, 2, 1), Asm.addi(1, 1, -1), Asm.add(3, 3, 2),
            Asm.b(funct3: 1, rs1: 1, rs2: 0, offset: -0xc),  // 10: bne x1, x0 -> 04
            Asm.addi(1, 0, 1500),
            Asm.addi(1, 1, -1), Asm.add(3, 3, 1),
            Asm.b(funct3: 4, rs1: 0, rs2: 1, offset: -0x8),  // 20: blt x0, x1 -> 18
            Asm.addi(1, 0, 3), Asm.addi(5, 0, 1),
            Asm.addi(1, 1, -1), Asm.add(3, 3, 1),
            Asm.b(funct3: 7, rs1: 1, rs2: 5, offset: -0x8),  // 34: bgeu x1, x5 -> 2c (while x1 >= 1)
            Asm.addi(1, 0, 5),
            Asm.addi(1, 1, -1), Asm.op(0, 3, 6, 1, 5),  // 3c: sltu x6, x1, x5
            Asm.b(funct3: 0, rs1: 6, rs2: 0, offset: -0x8),  // 44: beq x6, x0 -> 3c
            Asm.jal(rd: 0, offset: 0x38),  // 48: -> 80
        ], at: base)
        // c.addi s0, -1; c.add s1, s0; c.bnez s0, -4 (-> 80); then beq x0, x0, 0 (to itself).
        machine.put16([0x147d, 0x94a2, 0xfc75], at: base + 0x80)
        machine.put([Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: 0)], at: base + 0x86)
        machine.set(8, 6)
        machine.hart.pc = base
    }

    func testLoopsBackWithinTheirPageStopExactly() {
        let decoded = DecodedInstruction(.bne, imm: -0xc)
        XCTAssertEqual(Decoder.placed(decoded, offset: 0x10).op, .bneBack)
        let runs = m.assertBudgetsMatchSingleSteps(
            [1, 2, 3, 5, 8, 13, 2049, 2050, 2051, 2052, 1, 1, 600, 4000, 3, 9, 1, 1],
            load: { self.loadBackwardLoops(into: $0) }, state: { m in [m.hart.pc] + (1...9).map { m.x($0) } })
        XCTAssertEqual(runs.hart.pc, TestMachine.ramBase + 0x86, "ends in the branch to itself")
        XCTAssertEqual([runs.x(1), runs.x(8), runs.x(9)], [0, 0, 15])
    }

    func testFusedBranchPairsStopExactlyBetweenTheirInstructions() {
        let fused = m.assertBudgetsMatchSingleSteps(
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 2049, 2050, 2051, 2052, 3001, 4000, 5, 1, 1, 1],
            load: { self.loadFusedBranchPairs(into: $0) }, state: { m in [m.hart.pc] + (1...12).map { m.x($0) } })
        XCTAssertEqual(fused.x(9), 0, "no branch fell through wrongly")
        XCTAssertEqual(fused.x(3), 0x7f)
    }

    func testBreakpointAndStoreOnTheSecondOfAFusedBranchPair() {
        loadFusedBranchPairs()
        XCTAssertEqual(m.run(100), .budgetExhausted)
        // The bne at 04 is the second of a decoded pair: the pair must not run past it.
        m.hart.addBreakpoint(TestMachine.ramBase + 4)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 4)
        let stopped = m.hart.retired
        m.hart.removeBreakpoint(TestMachine.ramBase + 4)
        // The program's own store turns that bne into a beq x0, x0 to 10: the decoded pair must not run the old one.
        m.set(13, UInt64(Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: 12)))
        m.set(14, TestMachine.ramBase + 4)
        m.write32(TestMachine.ramBase + 0x200, Asm.sw(13, 14))  // slots not decoded yet: no FENCE.I needed
        m.write32(TestMachine.ramBase + 0x204, Asm.jal(rd: 0, offset: -0x204))
        m.hart.pc = TestMachine.ramBase + 0x200
        XCTAssertEqual(m.run(4), .budgetExhausted)  // sw, jal, addi, the new beq
        XCTAssertEqual(m.hart.retired, stopped + 4)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0x10)
    }

    func testFaultingLoadOfAFusedBranchPairRunsNeitherInstruction() {
        // ld x4, 0(x5); bne x4, x0, +8; addi x9, x9, 1; back: the pair runs fused while x5 points at RAM. Then x5
        // points at nothing: the load's access fault leaves x4 and pc at the ld, and the branch unrun; every
        // instruction retired after it is one of the handler's nops. Near the budget's end and far from it.
        let nops = TestMachine.ramBase + 0x1_0000
        for budget: UInt64 in [2, 3000] {
            m.put([Asm.ld(4, 5), Asm.b(funct3: 1, rs1: 4, rs2: 0, offset: 8), Asm.addi(9, 9, 1),
                   Asm.jal(rd: 0, offset: -12)])
            m.installHandler(at: nops, nops: 4096)
            m.set(5, TestMachine.ramBase + 0x800)
            m.set(9, 0)
            m.hart.pc = TestMachine.ramBase
            XCTAssertEqual(m.run(4000), .budgetExhausted)
            XCTAssertEqual(m.x(9), 1000)
            let before = m.hart.retired
            m.set(4, 7)
            m.set(5, 0x7000_0000)
            XCTAssertEqual(m.run(budget), .budgetExhausted)
            XCTAssertEqual(m.hart.mcause, Cause.loadAccess)
            XCTAssertEqual(m.hart.mepc, TestMachine.ramBase)
            XCTAssertEqual(m.hart.mtval, 0x7000_0000)
            XCTAssertEqual(m.x(4), 7)
            XCTAssertEqual(m.x(9), 1000)
            XCTAssertEqual(m.hart.pc, nops + 4 * (m.hart.retired - before), "budget \(budget)")
            XCTAssertGreaterThan(m.hart.retired, before)
        }
    }

    /// c.sw, c.sd, c.addi and c.addiw (registers x8-x15 for the primed fields).
    private func cStore(doubleword: Bool, _ rs2: UInt16, _ rs1: UInt16, _ offset: UInt16) -> UInt16 {
        let high = doubleword ? (offset >> 6 & 3) << 5 : (offset >> 2 & 1) << 6 | (offset >> 6 & 1) << 5
        return (doubleword ? 7 : 6) << 13 | (offset >> 3 & 7) << 10 | (rs1 - 8) << 7 | high | (rs2 - 8) << 2
    }

    private func cAddi(word: Bool, _ rd: UInt16, _ imm: Int16) -> UInt16 {
        let u = UInt16(bitPattern: imm)
        return (word ? 1 : 0) << 13 | (u >> 5 & 1) << 12 | rd << 7 | (u & 0x1f) << 2 | 1
    }

    /// A loop of stores each followed by an addition: sw + addi, sd + addiw, c.sw + c.addi, c.sd + c.addiw, sw + the
    /// c.addi of a fused branch pair, sd + addi fuse (`Op.swAddi`); sd + add does not. Code at RAM base, data at
    /// +0x2000 (another page: a store into a code page always leaves the fast path); x14 counts wrong branches.
    private func loadFusedStorePairs(into machine: TestMachine? = nil) {
        let m = machine ?? self.m
        let base = TestMachine.ramBase
        func halves(_ word: UInt32) -> [UInt16] { [UInt16(word & 0xffff), UInt16(word >> 16)] }
        let code: [UInt16] = halves(Asm.sw(10, 8)) + halves(Asm.addi(8, 8, 4))  // 00
            + halves(Asm.sd(11, 9)) + halves(Asm.addiw(11, 11, 3))  // 08
            + [cStore(doubleword: false, 10, 9, 4), cAddi(word: false, 10, 1)]  // 10
            + [cStore(doubleword: true, 11, 9, 8), cAddi(word: true, 12, -1)]  // 14
            + halves(Asm.sw(12, 9, 12)) + [cAddi(word: false, 13, 1)]  // 18
            + halves(Asm.b(funct3: 1, rs1: 13, rs2: 0, offset: 8))  // 1e: bne x13, x0 -> 26
            + halves(Asm.addi(14, 14, 1))  // 22
            + halves(Asm.sd(10, 9, 16)) + halves(Asm.add(15, 15, 10))  // 26
            + halves(Asm.sd(15, 9, 24)) + halves(Asm.addi(8, 8, -4))  // 2e
            + halves(Asm.jal(rd: 0, offset: -0x36))  // 36
        m.put16(code, at: base)
        m.set(8, base + 0x2000)
        m.set(9, base + 0x2100)
        m.set(10, 0x1234_5678_9abc_def0)
        m.set(11, 0x7fff_fff0)
        m.hart.pc = base
    }

    func testFusedStorePairsStopExactlyBetweenTheirInstructions() {
        let fused = m.assertBudgetsMatchSingleSteps(
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 2049, 2050, 2051, 2052, 3001, 4000, 5, 1, 1, 1],
            load: { self.loadFusedStorePairs(into: $0) }, state: { m in
                [m.hart.pc] + (8...15).map { m.x($0) } + (0..<4).map { m.read64(TestMachine.ramBase + 0x2100 + 8 * $0) }
                    + [m.read64(TestMachine.ramBase + 0x2000)]
            })
        let total = fused.hart.retired
        XCTAssertEqual(fused.x(14), 0, "no branch fell through wrongly")
        XCTAssertEqual(fused.x(13), (total + 6) / 16, "its c.addi is the 10th of 16 instructions an iteration")
    }

    func testOwnStoreAndBreakpointOnTheAdditionOfAFusedStorePair() {
        // sw x3, 0(x2); addi x11, x11, 1; jal back: the pair runs fused while x2 points at data. Then a breakpoint
        // on the addi stops the pair between its two instructions; then x2 points at the addi, and the store turns it
        // into addi x11, x11, 100, which the next run must execute.
        let base = TestMachine.ramBase
        m.put([Asm.sw(3, 2), Asm.addi(11, 11, 1), Asm.jal(rd: 0, offset: -8)])
        m.set(2, base + 0x2000)
        m.set(3, UInt64(Asm.addi(11, 11, 100)))
        XCTAssertEqual(m.run(3000), .budgetExhausted)
        XCTAssertEqual(m.x(11), 1000)
        m.hart.addBreakpoint(base + 4)
        XCTAssertEqual(m.run(100), .breakpoint)
        XCTAssertEqual(m.hart.pc, base + 4)
        XCTAssertEqual(m.x(11), 1000)
        m.hart.removeBreakpoint(base + 4)
        XCTAssertEqual(m.run(2), .budgetExhausted)  // the addi, the jal
        XCTAssertEqual(m.x(11), 1001)
        m.set(2, base + 4)
        XCTAssertEqual(m.run(2), .budgetExhausted)  // the store into the addi, then the new addi
        XCTAssertEqual(m.x(11), 1101)
        XCTAssertEqual(m.hart.pc, base + 8)
    }

    func testFaultingStoreOfAFusedStorePairRunsNeitherInstruction() {
        // sd x4, 0(x5); addi x9, x9, 1; back: the pair runs fused while x5 points at RAM. Then x5 points at nothing:
        // the store's access fault leaves x9 and pc at the sd; every instruction retired after it is one of the
        // handler's nops. Near the budget's end and far from it.
        let nops = TestMachine.ramBase + 0x1_0000
        for budget: UInt64 in [2, 3000] {
            m.put([Asm.sd(4, 5), Asm.addi(9, 9, 1), Asm.jal(rd: 0, offset: -8)])
            m.installHandler(at: nops, nops: 4096)
            m.set(5, TestMachine.ramBase + 0x2000)
            m.set(9, 0)
            m.hart.pc = TestMachine.ramBase
            XCTAssertEqual(m.run(3000), .budgetExhausted)
            XCTAssertEqual(m.x(9), 1000)
            let before = m.hart.retired
            m.set(5, 0x7000_0000)
            XCTAssertEqual(m.run(budget), .budgetExhausted)
            XCTAssertEqual(m.hart.mcause, Cause.storeAccess)
            XCTAssertEqual(m.hart.mepc, TestMachine.ramBase)
            XCTAssertEqual(m.hart.mtval, 0x7000_0000)
            XCTAssertEqual(m.x(9), 1000)
            XCTAssertEqual(m.hart.pc, nops + 4 * (m.hart.retired - before), "budget \(budget)")
            XCTAssertGreaterThan(m.hart.retired, before)
        }
    }

    func testOwnStoresToCodeAreSeen() {
        // The program overwrites its own next instruction (addi x1, x0, 1 -> addi x1, x0, 2).
        let replacement = Asm.addi(1, 0, 2)
        m.set(2, TestMachine.ramBase + 8)
        m.set(3, UInt64(replacement))
        m.put([Asm.nop, Asm.sw(3, 2), Asm.addi(1, 0, 1)])
        m.hart.pc = TestMachine.ramBase
        m.step(3)
        XCTAssertEqual(m.x(1), 2)
        // Rewriting a running loop many times keeps it exact.
        m.put([Asm.addi(4, 4, 1), Asm.sw(3, 2), Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: -8)])
        m.hart.pc = TestMachine.ramBase
        m.set(3, UInt64(Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: -8)))
        m.step(3 * 400)
        XCTAssertEqual(m.x(4), 400)
    }

    func testMisalignedOwnStoresToCodeAreSeen() {
        // An aligned store first fills the store TLB entry of the code page; then a halfword store at an odd
        // address (bytes 13 and 14) turns the already decoded addi x1, x0, 1 at 12 into addi x1, x0, 2. The
        // fast path's tag comparison keeps an access's low address bits, so the code page's marker must not
        // be one of them.
        m.set(2, TestMachine.ramBase)
        m.set(4, 0x2000)
        m.put([Asm.sw(0, 2, 0x100), Asm.store(1, 4, 2, 13), Asm.nop, Asm.addi(1, 0, 1)])
        m.hart.pc = TestMachine.ramBase
        m.step(4)
        XCTAssertEqual(m.x(1), 2)
    }

    func testOtherWritersNeedFenceI() {
        m.put([Asm.addi(1, 0, 1), Asm.fenceI, Asm.b(funct3: 0, rs1: 0, rs2: 0, offset: -8)])
        m.hart.pc = TestMachine.ramBase
        m.step(1)
        XCTAssertEqual(m.x(1), 1)
        // Another agent rewrites the first instruction; the hart sees it after its FENCE.I.
        m.write32(TestMachine.ramBase, Asm.addi(1, 0, 7))
        m.step(3)
        XCTAssertEqual(m.x(1), 7)
    }

    func testFenceIKeepsUnchangedPagesAndSeesBytesWrittenBack() {
        let a = TestMachine.ramBase, b = TestMachine.ramBase + 0x1000
        let one = Asm.addi(1, 0, 1), seven = Asm.addi(1, 0, 7)
        m.put([Asm.jalr(rd: 5, rs1: 6), Asm.nop, Asm.fenceI, Asm.nop], at: a)
        m.put([one, Asm.jalr(rd: 0, rs1: 5), Asm.jalr(rd: 0, rs1: 5)], at: b)
        func call(_ target: UInt64, _ count: UInt64) {
            m.set(6, target)
            m.hart.pc = a
            m.step(count)
            XCTAssertEqual(m.hart.pc, a + 4)
        }
        call(b + 8, 2)  // enters b without decoding its first instruction
        // Another agent changes b's first instruction; the hart decodes it from there, then the agent writes the
        // old bytes back. After a FENCE.I the hart must run the old instruction again, although the page's
        // bytes equal those it had when first entered.
        m.write32(b, seven)
        call(b, 3)
        XCTAssertEqual(m.x(1), 7, "decoded after the change (no FENCE.I needed for that)")
        m.write32(b, one)
        let kept = m.hart.counters.codePagesKept
        m.hart.pc = a + 8
        m.step(1)
        call(b, 3)
        XCTAssertEqual(m.x(1), 1, "after FENCE.I the bytes written back run")
        XCTAssertEqual(m.hart.counters.codePagesKept, kept + 1, "the unchanged calling page kept its decoded slots")
    }

    func testInstructionStraddlingPages() {
        loadStraddlingLoop()
        m.step(1 + 3 * 10)
        XCTAssertEqual(m.x(1), 30)
    }

    func testStateHashCoversArchitecturalState() {
        let a = m.hart.stateHash()
        m.hart.setFPRegister(3, 1)
        let b = m.hart.stateHash()
        XCTAssertNotEqual(a, b)
        m.hart.mscratch = 5
        XCTAssertNotEqual(m.hart.stateHash(), b)
        XCTAssertEqual(m.hart.stateHash(), m.hart.stateHash())
    }
}
