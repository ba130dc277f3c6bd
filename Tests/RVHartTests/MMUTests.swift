@testable import RVHart
import XCTest

/// Sv39/Sv48 page-table walks, A/D updates, every page-fault case, MPRV, SUM, MXR, SFENCE.VMA.
final class MMUTests: XCTestCase {
    static let v: UInt64 = 1, r: UInt64 = 2, w: UInt64 = 4, x: UInt64 = 8, u: UInt64 = 16, a: UInt64 = 64, d: UInt64 = 128

    var m = TestMachine()
    let handler = TestMachine.ramBase + 0x400
    let data = TestMachine.ramBase + 0x40000
    var nextTable = TestMachine.ramBase + 0x10000
    var root: UInt64 = 0
    var levels = 3

    override func setUp() {
        makeRoot(levels: 3)
    }

    /// A fresh root table; the RAM gigapage (Sv39) or its level-2 entry (Sv48) identity-mapped RWX for S.
    func makeRoot(levels: Int) {
        self.levels = levels
        root = allocateTable()
        map(TestMachine.ramBase, to: TestMachine.ramBase, flags: MMUTests.r | MMUTests.w | MMUTests.x | MMUTests.a
            | MMUTests.d, level: 2)
        m.hart.satp = (levels == 3 ? 8 : 9) << 60 | root >> 12
        m.hart.flushTranslations()
        m.installHandler(at: handler)
        m.installHandler(at: handler, mode: .supervisor)
    }

    func allocateTable() -> UInt64 {
        let table = nextTable
        nextTable += 4096
        for offset in stride(from: 0, to: 4096, by: 8) { m.write64(table + UInt64(offset), 0) }
        return table
    }

    /// Maps `va` to `pa` with a leaf at `level` (0 = 4 KiB), creating intermediate tables.
    @discardableResult
    func map(_ va: UInt64, to pa: UInt64, flags: UInt64, level: Int = 0) -> UInt64 {
        var table = root
        var current = levels - 1
        while true {
            let index = (va >> (12 + 9 * UInt64(current))) & 0x1ff
            let slot = table + index * 8
            if current == level {
                m.write64(slot, (pa >> 12) << 10 | flags | MMUTests.v)
                return slot
            }
            let pte = m.read64(slot)
            if pte & MMUTests.v == 0 {
                let next = allocateTable()
                m.write64(slot, (next >> 12) << 10 | MMUTests.v)
                table = next
            } else {
                table = (pte >> 10) << 12
            }
            current -= 1
        }
    }

    /// Runs `word` at RAM base in `mode` with x1 = `address`; returns the exception cause (nil: none).
    func access(_ word: UInt32, _ address: UInt64, mode: PrivilegeMode = .supervisor, count: UInt64 = 1) -> UInt64? {
        m.hart.mcause = 0
        m.hart.scause = 0
        m.put([word])
        m.set(1, address)
        m.hart.pc = TestMachine.ramBase
        m.hart.forcePrivilege(mode)
        m.run(count)
        let cause = m.hart.mcause != 0 ? m.hart.mcause : m.hart.scause
        if cause != 0 { XCTAssertEqual(m.hart.mtval, address, "tval is the faulting address") }
        return cause == 0 ? nil : cause
    }

    let load = Asm.ld(2, 1), store = Asm.sd(2, 1), jump = Asm.jalr(rd: 0, rs1: 1)

    func testTranslationAndAccessedDirtyBits() {
        let va: UInt64 = 0x40_0000
        let slot = map(va, to: data, flags: MMUTests.r | MMUTests.w)
        m.write64(data + 8, 0x1234_5678)
        XCTAssertNil(access(Asm.ld(2, 1, 8), va))
        XCTAssertEqual(m.x(2), 0x1234_5678)
        XCTAssertEqual(m.read64(slot) & (MMUTests.a | MMUTests.d), MMUTests.a, "a load sets A only")
        m.set(2, 0xabcd)
        XCTAssertNil(access(Asm.sd(2, 1, 16), va))
        XCTAssertEqual(m.read64(data + 16), 0xabcd)
        XCTAssertEqual(m.read64(slot) & (MMUTests.a | MMUTests.d), MMUTests.a | MMUTests.d, "a store sets D")
    }

    func testSuperpages() {
        let va: UInt64 = 0x4000_0000  // gigapage index 1
        map(va, to: TestMachine.ramBase, flags: MMUTests.r, level: 2)
        m.write64(data, 77)
        XCTAssertNil(access(load, va + (data - TestMachine.ramBase)))
        XCTAssertEqual(m.x(2), 77)
        // A megapage whose physical page number is not 2 MiB aligned is a page fault.
        let mega: UInt64 = 0x20_0000
        map(mega, to: data, flags: MMUTests.r, level: 1)
        XCTAssertEqual(access(load, mega), Cause.loadPageFault)
    }

    func testPageFaultCases() {
        let base: UInt64 = 0x60_0000
        XCTAssertEqual(access(load, base), Cause.loadPageFault, "no mapping")
        map(base, to: data, flags: MMUTests.w)  // W without R is reserved
        XCTAssertEqual(access(load, base), Cause.loadPageFault)
        map(base, to: data, flags: MMUTests.r)
        XCTAssertEqual(access(store, base), Cause.storePageFault, "read-only")
        XCTAssertEqual(access(jump, base, count: 2), Cause.fetchPageFault, "not executable")
        map(base + 0x1000, to: data, flags: MMUTests.x)
        XCTAssertEqual(access(load, base + 0x1000), Cause.loadPageFault, "execute-only without MXR")
        m.hart.mstatus |= MStatus.mxr
        m.hart.flushTranslations()
        XCTAssertNil(access(load, base + 0x1000), "MXR makes executable pages readable")
        m.hart.mstatus &= ~MStatus.mxr
        map(base + 0x2000, to: data, flags: MMUTests.r | MMUTests.w | MMUTests.x | MMUTests.u)
        XCTAssertEqual(access(load, base + 0x2000), Cause.loadPageFault, "U page from S without SUM")
        m.hart.mstatus |= MStatus.sum
        XCTAssertNil(access(load, base + 0x2000), "SUM")
        XCTAssertEqual(access(jump, base + 0x2000, count: 2), Cause.fetchPageFault, "S never executes U pages")
        m.hart.mstatus &= ~MStatus.sum
        map(base + 0x3000, to: data, flags: MMUTests.r | (0x3 << 61))
        XCTAssertEqual(access(load, base + 0x3000), Cause.loadPageFault, "reserved PBMT bits")
        // A non-leaf at the last level.
        let slot = map(base + 0x4000, to: data, flags: 0)
        m.write64(slot, (data >> 12) << 10 | MMUTests.v)
        XCTAssertEqual(access(load, base + 0x4000), Cause.loadPageFault)
        // Addresses that are not sign-extended from bit 38.
        XCTAssertEqual(access(load, 0x0000_0040_0000_0000), Cause.loadPageFault)
    }

    func testUserModeNeedsUserPages() {
        m.put([Asm.nop], at: TestMachine.ramBase)
        let va: UInt64 = 0x70_0000
        map(va, to: data, flags: MMUTests.r | MMUTests.w)
        // User code must itself live on a U page: map the code page for U at its own address.
        makeRootForUser()
        XCTAssertEqual(access(load, va, mode: .user), Cause.loadPageFault)
        map(va, to: data, flags: MMUTests.r | MMUTests.w | MMUTests.u)
        m.hart.flushTranslations()
        XCTAssertNil(access(load, va, mode: .user))
    }

    private func makeRootForUser() {
        nextTable = TestMachine.ramBase + 0x30000
        let saved = root
        root = allocateTable()
        map(TestMachine.ramBase, to: TestMachine.ramBase, flags: MMUTests.r | MMUTests.x | MMUTests.u | MMUTests.a,
            level: 0)
        map(0x70_0000, to: data, flags: MMUTests.r | MMUTests.w)
        _ = saved
        m.hart.satp = 8 << 60 | root >> 12
        m.hart.flushTranslations()
    }

    func testSv48WalkAndCanonicalAddresses() {
        m = TestMachine(maxSatpMode: .sv48)
        nextTable = TestMachine.ramBase + 0x10000
        makeRoot(levels: 4)
        let high: UInt64 = 0x0000_7f00_0000_0000
        map(high, to: data, flags: MMUTests.r)
        m.write64(data, 4848)
        XCTAssertNil(access(load, high))
        XCTAssertEqual(m.x(2), 4848)
        XCTAssertEqual(access(load, 0x0000_8000_0000_0000), Cause.loadPageFault, "bit 47 set without extension")
        map(0xffff_8000_0000_0000, to: data, flags: MMUTests.r)
        XCTAssertNil(access(load, 0xffff_8000_0000_0000))
    }

    func testMPRVTranslatesMachineLoads() {
        let va: UInt64 = 0x50_0000
        map(va, to: data, flags: MMUTests.r)
        m.write64(data, 99)
        m.hart.mstatus = (m.hart.mstatus & ~MStatus.mpp) | 1 << 11 | MStatus.mprv
        m.hart.selectTLBs()
        XCTAssertNil(access(load, va, mode: .machine))
        XCTAssertEqual(m.x(2), 99)
        m.hart.mstatus &= ~MStatus.mprv
        XCTAssertEqual(access(load, va, mode: .machine), Cause.loadAccess, "untranslated: nothing at 0x50_0000")
    }

    func testSfenceVMAMakesPageTableChangesVisible() {
        let va: UInt64 = 0x58_0000
        let slot = map(va, to: data, flags: MMUTests.r | MMUTests.a)
        m.write64(data, 1)
        m.write64(data + 0x1000, 2)
        XCTAssertNil(access(load, va))
        XCTAssertEqual(m.x(2), 1)
        m.write64(slot, ((data + 0x1000) >> 12) << 10 | MMUTests.r | MMUTests.a | MMUTests.v)
        XCTAssertNil(access(Asm.sfenceVMA(), 0))
        XCTAssertNil(access(load, va))
        XCTAssertEqual(m.x(2), 2)
    }

    func testTranslatedDeviceAccess() {
        let va: UInt64 = 0x90_0000
        map(va, to: TestMachine.device, flags: MMUTests.r | MMUTests.w | MMUTests.a | MMUTests.d)
        m.put([Asm.lw(2, 1, 8)])
        m.set(1, va)
        m.hart.pc = TestMachine.ramBase
        m.hart.forcePrivilege(.supervisor)
        XCTAssertEqual(m.run(1), .mmio)
        XCTAssertEqual(m.hart.pendingAccess.address, TestMachine.device + 8, "the device sees the physical address")
        m.hart.failMMIO()
        XCTAssertEqual(m.hart.mcause, Cause.loadAccess)
        XCTAssertEqual(m.hart.mtval, va + 8, "tval is the virtual address")
    }

    func testPageTableOutsideRAMIsAnAccessFault() {
        m.hart.satp = 8 << 60 | (0x4000_0000 >> 12)
        m.hart.flushTranslations()
        XCTAssertEqual(access(load, 0x3000, mode: .machine), Cause.loadAccess, "M-mode is untranslated")
        m.hart.forcePrivilege(.supervisor)
        m.hart.mtvec = handler
        m.hart.pc = TestMachine.ramBase
        m.run(1)
        XCTAssertEqual(m.hart.mcause, Cause.fetchAccess, "the fetch's walk hits no memory")
    }
}
