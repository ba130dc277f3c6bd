@testable import RVHart
import XCTest

/// Debugger watchpoints in the hart: an access to a watched physical range stops the hart just before it
/// (the instruction has not executed), resuming executes it unchecked, accesses elsewhere on the same page
/// go on, and a TLB entry already filled for the page is marked so the fast path cannot skip the check.
final class WatchpointTests: XCTestCase {
    let m = TestMachine()
    let data = TestMachine.ramBase + 0x2000

    /// x1 = data; a loop: store x2 at data+8, load x3 from data, store x2 at data+16, x2 += 1.
    private func loadLoop() {
        m.put([
            Asm.auipc(1, 0x2000),                          // 0: x1 = data
            Asm.sd(2, 1, 8),                               // 4
            Asm.ld(3, 1, 0),                               // 8
            Asm.sd(2, 1, 16),                              // c
            Asm.addi(2, 2, 1),                             // 10
            Asm.jal(rd: 0, offset: -16),                   // 14: back to 4
        ])
        m.hart.pc = TestMachine.ramBase
    }

    func testAWriteWatchpointStopsBeforeTheStoreAndResumesPastIt() {
        loadLoop()
        XCTAssertEqual(m.run(20), .budgetExhausted, "the loop fills the TLB for the data page first")
        m.hart.setWatchpoints([Watchpoint(physical: data + 16, length: 8, kind: .write)])
        let before = m.hart.retired
        XCTAssertEqual(m.hart.run(budget: 100, globalCount: 0), .watchpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 0xc, "stopped at the store to the watched range")
        XCTAssertEqual(m.hart.lastWatchHit, WatchHit(address: data + 16, kind: .write))
        let value = m.hart.register(2)
        XCTAssertNotEqual(m.read64(data + 16), value, "the store has not happened")
        XCTAssertLessThan(m.hart.retired - before, 5, "the store to data+8 on the same page did not stop")

        m.hart.stepOverWatchpoint()
        XCTAssertEqual(m.hart.run(budget: 1, globalCount: 0), .budgetExhausted)
        XCTAssertEqual(m.read64(data + 16), value, "resumed, the store happens")
        XCTAssertEqual(m.hart.run(budget: 100, globalCount: 0), .watchpoint, "and the next one stops again")

        m.hart.setWatchpoints([])
        XCTAssertEqual(m.hart.run(budget: 100, globalCount: 0), .budgetExhausted, "no watchpoints: nothing stops")
    }

    func testReadAndAccessWatchpointsTellLoadsFromStores() {
        loadLoop()
        m.hart.setWatchpoints([Watchpoint(physical: data, length: 4, kind: .read)])
        XCTAssertEqual(m.hart.run(budget: 100, globalCount: 0), .watchpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 8, "the load from data, not the stores around it")
        XCTAssertEqual(m.hart.lastWatchHit?.kind, .read)

        m.hart.setWatchpoints([Watchpoint(physical: data + 8, length: 1, kind: .access)])
        m.hart.pc = TestMachine.ramBase + 0x10
        XCTAssertEqual(m.hart.run(budget: 100, globalCount: 0), .watchpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 4, "an 8-byte store overlapping the watched byte")
    }

    func testAMisalignedAccessToAWatchedPageIsCheckedToo() {
        m.put([Asm.auipc(1, 0x2000), Asm.ld(3, 1, 0), Asm.lw(3, 1, 0x12), Asm.jal(rd: 0, offset: -8)])
        m.hart.pc = TestMachine.ramBase
        XCTAssertEqual(m.run(3), .budgetExhausted, "the TLB holds the data page")
        m.hart.setWatchpoints([Watchpoint(physical: data + 0x12, length: 4, kind: .read)])
        m.hart.pc = TestMachine.ramBase + 4
        XCTAssertEqual(m.hart.run(budget: 10, globalCount: 0), .watchpoint)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 8, "the misaligned load at data+0x12, not the aligned one")
    }

    func testWatchingChangesNothingTheProgramComputes() {
        loadLoop()
        let plain = TestMachine()
        plain.put([
            Asm.auipc(1, 0x2000), Asm.sd(2, 1, 8), Asm.ld(3, 1, 0), Asm.sd(2, 1, 16),
            Asm.addi(2, 2, 1), Asm.jal(rd: 0, offset: -16),
        ])
        plain.hart.pc = TestMachine.ramBase
        XCTAssertEqual(plain.hart.run(budget: 1000, globalCount: 0), .budgetExhausted)

        m.hart.setWatchpoints([Watchpoint(physical: data + 16, length: 8, kind: .write)])
        while m.hart.retired < 1000 {
            let reason = m.hart.run(budget: 1000 - m.hart.retired, globalCount: 0)
            if reason == .watchpoint { m.hart.stepOverWatchpoint() } else { XCTAssertEqual(reason, .budgetExhausted) }
        }
        XCTAssertEqual(m.hart.stateHash(), plain.hart.stateHash())
        XCTAssertEqual(m.read64(data + 16), plain.read64(data + 16))
    }
}
