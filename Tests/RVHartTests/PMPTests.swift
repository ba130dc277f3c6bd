@testable import RVHart
import XCTest

/// PMP as OpenSBI uses it: TOR, NA4, NAPOT, the lock bit, S/U denied when entries exist but none matches.
final class PMPTests: XCTestCase {
    let m = TestMachine()
    let handler = TestMachine.ramBase + 0x400
    let data = TestMachine.ramBase + 0x40000
    static let r: UInt8 = 1, w: UInt8 = 2, x: UInt8 = 4, tor: UInt8 = 1 << 3, na4: UInt8 = 2 << 3, napot: UInt8 = 3 << 3
    static let lock: UInt8 = 0x80

    override func setUp() {
        m.installHandler(at: handler)
    }

    /// Programs entry `index` through the CSR instructions, in M-mode.
    func setEntry(_ index: Int, address: UInt64, config: UInt8) {
        m.set(1, address)
        let configRegister = index < 8 ? 0x3a0 : 0x3a2
        let shift = UInt64(8 * (index % 8))
        let current = m.csr(configRegister) & ~(0xff << shift)
        m.set(2, current | UInt64(config) << shift)
        m.hart.forcePrivilege(.machine)
        m.execute([Asm.csrw(0x3b0 + index, 1), Asm.csrw(configRegister, 2)])
    }

    static func napotAddress(base: UInt64, size: UInt64) -> UInt64 { (base >> 2) | ((size / 2 - 1) >> 2) }

    /// Where `cause` runs its instruction: outside the firmware-like region the tests protect.
    let code = TestMachine.ramBase + 0x20000

    func cause(_ word: UInt32, _ address: UInt64, mode: PrivilegeMode) -> UInt64? {
        m.hart.mcause = 0
        m.put([word], at: code)
        m.set(1, address)
        m.hart.pc = code
        m.hart.forcePrivilege(mode)
        m.run(1)
        return m.hart.mcause == 0 ? nil : m.hart.mcause
    }

    let load = Asm.ld(2, 1), store = Asm.sd(2, 1)

    func testNoEntriesAllowEverything() {
        XCTAssertNil(cause(load, data, mode: .supervisor))
        XCTAssertNil(cause(load, data, mode: .user))
    }

    func testOpenSBIStyleLayout() {
        // Entry 0: firmware region (first 64 KiB), no permissions for S/U; entry 1: everything, RWX.
        setEntry(0, address: PMPTests.napotAddress(base: TestMachine.ramBase, size: 0x10000), config: PMPTests.napot)
        setEntry(1, address: .max >> 10, config: PMPTests.napot | PMPTests.r | PMPTests.w | PMPTests.x)
        XCTAssertEqual(cause(load, TestMachine.ramBase + 0x8000, mode: .supervisor), Cause.loadAccess)
        XCTAssertNil(cause(load, TestMachine.ramBase + 0x8000, mode: .machine), "M-mode ignores unlocked entries")
        XCTAssertNil(cause(load, data, mode: .supervisor))
        XCTAssertNil(cause(store, data, mode: .user))
        // The code page itself is inside entry 0: fetching it from S is an access fault.
        m.hart.mcause = 0
        m.put([Asm.nop])
        m.hart.pc = TestMachine.ramBase
        m.hart.forcePrivilege(.supervisor)
        m.run(1)
        XCTAssertEqual(m.hart.mcause, Cause.fetchAccess)
    }

    func testTorAndNa4AndPartialMatches() {
        setEntry(0, address: data >> 2, config: 0)  // lower bound for TOR
        setEntry(1, address: (data + 0x100) >> 2, config: PMPTests.tor | PMPTests.r)
        setEntry(2, address: (data + 0x200) >> 2, config: PMPTests.na4 | PMPTests.r | PMPTests.w)
        // Give S execute and read where the probing instruction runs.
        setEntry(3, address: PMPTests.napotAddress(base: code, size: 0x1000),
                 config: PMPTests.napot | PMPTests.x | PMPTests.r)
        XCTAssertNil(cause(load, data + 0x80, mode: .supervisor))
        XCTAssertEqual(cause(store, data + 0x80, mode: .supervisor), Cause.storeAccess, "TOR is read-only")
        XCTAssertEqual(cause(load, data + 0xfc, mode: .supervisor), Cause.loadAccess, "straddles the TOR end")
        XCTAssertNil(cause(Asm.sw(2, 1), data + 0x200, mode: .supervisor), "NA4 covers 4 bytes")
        XCTAssertEqual(cause(store, data + 0x200, mode: .supervisor), Cause.storeAccess, "8 bytes exceed NA4")
        XCTAssertEqual(cause(load, data + 0x1000, mode: .supervisor), Cause.loadAccess, "no entry matches S")
        XCTAssertNil(cause(load, data + 0x1000, mode: .machine), "no entry matches M: allowed")
    }

    func testLockedEntriesBindMachineModeAndResistWrites() {
        setEntry(0, address: PMPTests.napotAddress(base: data, size: 0x1000), config: PMPTests.napot | PMPTests.r
                 | PMPTests.lock)
        XCTAssertNil(cause(load, data, mode: .machine))
        XCTAssertEqual(cause(store, data, mode: .machine), Cause.storeAccess, "locked: M-mode checked")
        setEntry(0, address: 0, config: PMPTests.napot | PMPTests.r | PMPTests.w)
        XCTAssertEqual(m.csr(0x3b0), PMPTests.napotAddress(base: data, size: 0x1000), "locked address kept")
        XCTAssertEqual(m.csr(0x3a0) & 0xff, UInt64(PMPTests.napot | PMPTests.r | PMPTests.lock), "locked config kept")
    }

    func testConfigurationWarl() {
        setEntry(5, address: 0x1234, config: PMPTests.napot | PMPTests.w | 0x60)
        XCTAssertEqual((m.csr(0x3a0) >> 40) & 0xff, UInt64(PMPTests.napot), "W without R and reserved bits dropped")
        m.set(1, .max)
        m.execute([Asm.csrw(0x3b6, 1)])
        XCTAssertEqual(m.csr(0x3b6), (1 << 54) - 1, "54 address bits")
    }
}
