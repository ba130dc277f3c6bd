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

    /// A fresh root whose identity mappings are 4 KiB pages: the code page at RAM base and the page tables.
    func makeRootWithSmallCodePage() {
        root = allocateTable()
        let readWrite = MMUTests.r | MMUTests.w | MMUTests.a | MMUTests.d
        map(TestMachine.ramBase, to: TestMachine.ramBase, flags: readWrite | MMUTests.x)
        for table in stride(from: TestMachine.ramBase + 0x10000, to: TestMachine.ramBase + 0x30000, by: 0x1000) {
            map(table, to: table, flags: readWrite)
        }
        m.hart.satp = 8 << 60 | root >> 12
        m.hart.flushTranslations()
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

    func testSfenceVMAWithAnAddressDropsThatPageAndKeepsOthers() { checkSfenceVMAWithAnAddressDropsThatPageAndKeepsOthers() }

    /// The same where every other leaf is a 4 KiB page (the fence then looks at fewer TLB slots).
    func testSfenceVMAWithAnAddressDropsThatPageAndKeepsOthersAmongSmallPages() {
        makeRootWithSmallCodePage()
        checkSfenceVMAWithAnAddressDropsThatPageAndKeepsOthers()
    }

    func checkSfenceVMAWithAnAddressDropsThatPageAndKeepsOthers() {
        let first: UInt64 = 0x60_0000, second: UInt64 = 0x60_2000
        let firstSlot = map(first, to: data, flags: MMUTests.r | MMUTests.a)
        let secondSlot = map(second, to: data + 0x2000, flags: MMUTests.r | MMUTests.a)
        for (offset, value) in [(0, 10), (0x1000, 11), (0x2000, 20), (0x3000, 21)] as [(UInt64, UInt64)] {
            m.write64(data + offset, value)
        }
        XCTAssertNil(access(load, first))
        XCTAssertNil(access(load, second))
        // Both leaves now point one page further on; only the first address is fenced.
        m.write64(firstSlot, ((data + 0x1000) >> 12) << 10 | MMUTests.r | MMUTests.a | MMUTests.v)
        m.write64(secondSlot, ((data + 0x3000) >> 12) << 10 | MMUTests.r | MMUTests.a | MMUTests.v)
        let walks = m.hart.counters.pageWalks
        XCTAssertNil(access(Asm.sfenceVMA(1), first))
        XCTAssertNil(access(load, first))
        XCTAssertEqual(m.x(2), 11, "the fenced page is translated again")
        XCTAssertNil(access(load, second))
        XCTAssertEqual(m.x(2), 20, "the other page keeps its translation")
        XCTAssertEqual(m.hart.counters.pageWalks, walks + 1, "one walk: the fenced page's")
        XCTAssertNil(access(Asm.sfenceVMA(), 0))
        XCTAssertNil(access(load, second))
        XCTAssertEqual(m.x(2), 21, "a fence of every address drops it too")
    }

    func testSfenceVMAOfOneAddressDropsTheWholeSuperpage() { checkSfenceVMAOfOneAddressDropsTheWholeSuperpage() }

    /// The same where every other leaf is a 4 KiB page (the fence then looks at fewer TLB slots).
    func testSfenceVMAOfOneAddressDropsTheWholeSuperpageAmongSmallPages() {
        makeRootWithSmallCodePage()
        checkSfenceVMAOfOneAddressDropsTheWholeSuperpage()
    }

    func checkSfenceVMAOfOneAddressDropsTheWholeSuperpage() {
        let va: UInt64 = 0x4000_0000  // a megapage onto the start of RAM
        let slot = map(va, to: TestMachine.ramBase, flags: MMUTests.r | MMUTests.a, level: 1)
        m.write64(data, 77)
        XCTAssertNil(access(load, va + (data - TestMachine.ramBase)))
        XCTAssertEqual(m.x(2), 77)
        m.write64(slot, 0)
        // Fencing another 4 KiB of the same megapage drops every page of it.
        XCTAssertNil(access(Asm.sfenceVMA(1), va + 0x1000))
        XCTAssertEqual(access(load, va + (data - TestMachine.ramBase)), Cause.loadPageFault)
    }

    /// A gigapage spans 512 of the 2 MiB regions a fence of one address looks in (`LeafRegions`): fencing it far
    /// from the page that was used still drops it.
    func testSfenceVMAOfOneAddressDropsAGigapageFencedFarFromTheUsedPage() {
        makeRootWithSmallCodePage()
        checkFenceDropsGigapage { }
    }

    /// The same when the TLB's leaf sizes were set without their regions (as a restore does): the fence looks
    /// as far as the largest leaf for every address.
    func testSfenceVMAOfOneAddressDropsAGigapageWhenOnlyTheLargestLeafIsKnown() {
        makeRootWithSmallCodePage()
        checkFenceDropsGigapage {
            m.hart.regionLeafMasks.update(repeating: 0xfff, count: LeafRegions.count)
            m.hart.largestLeafMask = (1 << 30) - 1
        }
    }

    func checkFenceDropsGigapage(_ forgetRegions: () -> Void) {
        let va: UInt64 = 0xC000_0000  // a gigapage onto RAM
        let slot = map(va, to: TestMachine.ramBase, flags: MMUTests.r | MMUTests.a, level: 2)
        m.write64(data, 77)
        XCTAssertNil(access(load, va + (data - TestMachine.ramBase)))
        XCTAssertEqual(m.x(2), 77)
        m.write64(slot, 0)
        forgetRegions()
        XCTAssertNil(access(Asm.sfenceVMA(1), va + 0x2000_0000))
        XCTAssertEqual(access(load, va + (data - TestMachine.ramBase)), Cause.loadPageFault)
    }

    func testSfenceVMAOfAnotherASIDKeepsTranslations() {
        let va: UInt64 = 0x62_0000
        let slot = map(va, to: data, flags: MMUTests.r | MMUTests.a)
        m.write64(data, 1)
        m.write64(data + 0x1000, 2)
        m.hart.satp |= 5 << 44  // ASID 5
        XCTAssertNil(access(load, va))
        m.write64(slot, ((data + 0x1000) >> 12) << 10 | MMUTests.r | MMUTests.a | MMUTests.v)
        m.set(3, 6)
        XCTAssertNil(access(Asm.sfenceVMA(0, 3), 0))
        XCTAssertNil(access(load, va))
        XCTAssertEqual(m.x(2), 1, "ASID 6 has nothing cached: ASID 5's translation stays")
        m.set(3, 5)
        XCTAssertNil(access(Asm.sfenceVMA(1, 3), va))
        XCTAssertNil(access(load, va))
        XCTAssertEqual(m.x(2), 2, "the current ASID's page is translated again")
    }

    /// satp written by the guest (csrw, as Linux's ASID allocator does) keeps every ASID bit, and a fence for
    /// that ASID drops its translations: with ASID bit 0 lost, Linux's fences for odd ASIDs matched nothing and
    /// its threads read stale pages (a segfault in glibc's thread start-up on 5 or more harts).
    func testSatpKeepsEveryASIDBitAndAFenceForItsASIDDropsItsTranslations() {
        let va: UInt64 = 0x64_0000
        let slot = map(va, to: data, flags: MMUTests.r | MMUTests.a)
        m.write64(data, 1)
        m.write64(data + 0x1000, 2)
        let table = m.hart.satp & ((1 << 44) - 1)
        for asid: UInt64 in [1, 0x8001, 0xffff] {
            m.set(4, 8 << 60 | asid << 44 | table)
            XCTAssertNil(access(Asm.csrw(CSR.satp, 4), 0))
            XCTAssertNil(access(Asm.csrr(5, CSR.satp), 0))
            XCTAssertEqual(m.x(5), 8 << 60 | asid << 44 | table, "satp read back after writing ASID \(asid)")
        }
        m.set(4, 8 << 60 | 1 << 44 | table)
        XCTAssertNil(access(Asm.csrw(CSR.satp, 4), 0))
        XCTAssertNil(access(load, va))
        XCTAssertEqual(m.x(2), 1)
        m.write64(slot, ((data + 0x1000) >> 12) << 10 | MMUTests.r | MMUTests.a | MMUTests.v)
        m.set(3, 1)
        XCTAssertNil(access(Asm.sfenceVMA(0, 3), 0))
        XCTAssertNil(access(load, va))
        XCTAssertEqual(m.x(2), 2, "ASID 1's fence dropped ASID 1's translation")
    }

    func testSfenceVMAOfOneAddressRemapsCodeThere() { checkSfenceVMAOfOneAddressRemapsCodeThere() }

    /// The same where every other leaf is a 4 KiB page (the fence then looks at fewer TLB slots).
    func testSfenceVMAOfOneAddressRemapsCodeThereAmongSmallPages() {
        makeRootWithSmallCodePage()
        checkSfenceVMAOfOneAddressRemapsCodeThere()
    }

    func checkSfenceVMAOfOneAddressRemapsCodeThere() {
        let code: UInt64 = 0x64_0000
        let slot = map(code, to: data, flags: MMUTests.x | MMUTests.a)
        m.put([Asm.addi(5, 0, 1), Asm.jalr(rd: 0, rs1: 6)], at: data)
        m.put([Asm.addi(5, 0, 2), Asm.jalr(rd: 0, rs1: 6)], at: data + 0x1000)
        // Calls the mapped code, then (the hart itself) points its leaf at the next page, fences that one
        // address and calls it again.
        m.put([Asm.jalr(rd: 6, rs1: 7), Asm.add(8, 5, 0), Asm.sd(9, 10), Asm.sfenceVMA(1), Asm.jalr(rd: 6, rs1: 7), Asm.nop])
        m.set(7, code)
        m.set(1, code + 4)
        m.set(9, ((data + 0x1000) >> 12) << 10 | MMUTests.x | MMUTests.a | MMUTests.v)
        m.set(10, slot)
        m.hart.pc = TestMachine.ramBase
        m.hart.forcePrivilege(.supervisor)
        m.run(9)
        XCTAssertEqual(m.hart.pc, TestMachine.ramBase + 20, "back from the mapped code twice")
        XCTAssertEqual(m.x(8), 1)
        XCTAssertEqual(m.x(5), 2, "the fenced code page is fetched through its new mapping")
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

    /// A device's page stays translated like any other: the second access walks no page table, and sees the
    /// old mapping until SFENCE.VMA (the page table changed without one), after which the walk faults.
    func testDeviceTranslationIsCachedUntilTheFence() {
        let va: UInt64 = 0x90_0000
        let slot = map(va, to: TestMachine.device, flags: MMUTests.r | MMUTests.w | MMUTests.a | MMUTests.d)
        func loadFromDevice(offset: UInt64) {
            m.put([Asm.lw(2, 1, 0)])
            m.set(1, va + offset)
            m.hart.pc = TestMachine.ramBase
            m.hart.forcePrivilege(.supervisor)
            XCTAssertEqual(m.run(1), .mmio)
            XCTAssertEqual(m.hart.pendingAccess.address, TestMachine.device + offset)
            m.hart.completeMMIO(value: 0x5a)
            XCTAssertEqual(m.x(2), 0x5a)
        }
        loadFromDevice(offset: 8)
        let walks = m.hart.counters.pageWalks
        m.write64(slot, 0)  // unmapped, without a fence
        loadFromDevice(offset: 0x10)
        XCTAssertEqual(m.hart.counters.pageWalks, walks, "the device's page was still translated")
        XCTAssertNil(access(Asm.sfenceVMA(), 0))
        XCTAssertEqual(access(Asm.lw(2, 1, 0), va), Cause.loadPageFault, "walked again after the fence")
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
