import Foundation
import RRCheckpoint
import RRProto
import RVHart
import XCTest

final class HartStateTests: XCTestCase {
    static let device: UInt64 = 0x1000_0000

    func makeHart(id: UInt64 = 0, satp: SatpMode = .sv48) -> Hart {
        let ram = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 16)
        addTeardownBlock { ram.deallocate() }
        // lw x1, 0(x2); then a loop: addi x3, x3, 1; j -4
        for (index, word) in ([0x0001_2083, 0x0011_8193, 0xffdf_f06f] as [UInt32]).enumerated() {
            (ram + 4 * index).storeBytes(of: word, as: UInt32.self)
        }
        let hart = Hart(config: HartConfig(hartID: id, ram: ram, ramSize: 1 << 16,
                                           mmioRegions: [MemoryRegion(base: Self.device, size: 0x1000)],
                                           maxSatpMode: satp))
        hart.pc = 0x8000_0000
        return hart
    }

    /// A snapshot with every field away from its default.
    func busySnapshot() -> HartSnapshot {
        var s = HartSnapshot(hartID: 2)
        for index in 1..<32 { s.x[index] = UInt64(index) &* 0x9E37_79B9_7F4A_7C15 }
        for index in 0..<32 { s.f[index] = 0xffff_ffff_0000_0000 | UInt64(index) }
        s.pc = 0x8000_0004
        s.privilege = .supervisor
        s.retired = 123_456
        s.mstatus = 0x0000_000a_0000_6122
        s.medeleg = 0xb1ff
        s.mideleg = 0x222
        s.mie = 0xaaa
        s.mipSoftware = 0x2
        s.interruptLines = 0x808
        s.sstcPending = true
        (s.mtvec, s.stvec, s.mepc, s.sepc) = (0x8000_0100, 0x8020_0001, 0x8000_0200, 0xffff_ffff_8000_0010)
        (s.mcause, s.scause, s.mtval, s.stval) = (9, 0x8000_0000_0000_0005, 0x1234, 0x5678)
        (s.mscratch, s.sscratch, s.satp) = (0x8000_f000, 0x8001_0000, 8 << 60 | 0x80123)
        (s.mcounteren, s.scounteren, s.menvcfg, s.senvcfg) = (7, 2, 1 << 63, 1)
        (s.mcountinhibit, s.stimecmp, s.minstret, s.mcycle) = (4, 99_999, 777, 888)
        (s.fflags, s.frm) = (0x11, 3)
        s.pmpConfig = (0..<16).map { UInt8($0 == 0 ? 0x1f : $0 == 1 ? 0x0f : 0) }
        s.pmpAddress = (0..<16).map { UInt64($0) << 20 }
        s.waitingForInterrupt = true
        s.reservation = 0x8000_0800
        s.lastTrap = HartSnapshot.Trap(cause: 13, pc: 0x8000_0040, value: 0xdead, privilege: .supervisor, retired: 100)
        return s
    }

    func testSnapshotSurvivesTheBytesAndRestoresExactly() throws {
        let original = busySnapshot()
        let bytes = try Rrvm_HartState(original).serializedData()
        let decoded = try HartSnapshot(try Rrvm_HartState(serializedBytes: bytes))
        XCTAssertEqual(decoded, original)

        let hart = makeHart(id: 2)
        try hart.restore(decoded)
        XCTAssertEqual(try hart.snapshot(), original)
        XCTAssertEqual(hart.pc, 0x8000_0004)
        XCTAssertEqual(hart.privilege, .supervisor)
        XCTAssertEqual(hart.readCSR(0xb02), 777, "minstret, inhibited, reads its frozen value")
        XCTAssertEqual(hart.readCSR(0x003), 0x71, "fcsr = frm << 5 | fflags")
        XCTAssertEqual(hart.readCSR(0x300)! >> 63, 1, "SD is derived from FS")

        let twin = makeHart(id: 2)
        try twin.restore(try HartSnapshot(try Rrvm_HartState(serializedBytes: bytes)))
        XCTAssertEqual(twin.stateHash(), hart.stateHash())
    }

    func testCountersKeepCountingFromTheRestoredValues() throws {
        let hart = makeHart()
        hart.setRegister(2, 0x8000_1000)  // the first load reads RAM
        XCTAssertEqual(hart.run(budget: 1_001, globalCount: 0), .budgetExhausted)
        let snapshot = try hart.snapshot()
        XCTAssertEqual(snapshot.minstret, 1_001)
        XCTAssertEqual(hart.run(budget: 500, globalCount: 1_001), .budgetExhausted)
        let later = (hash: hart.stateHash(), x3: hart.register(3), cycle: hart.readCSR(0xb00))
        try hart.restore(snapshot)
        XCTAssertEqual(hart.run(budget: 500, globalCount: 1_001), .budgetExhausted)
        XCTAssertEqual(hart.stateHash(), later.hash)
        XCTAssertEqual(hart.register(3), later.x3)
        XCTAssertEqual(hart.readCSR(0xb00), later.cycle)
    }

    func testAReservationHeldAtAPausePointSurvivesTheRestore() throws {
        let ram = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 16)
        addTeardownBlock { ram.deallocate() }
        // lr.d x5, (x2); sc.d x6, x7, (x2): the run pauses between the two.
        for (index, word) in ([0x1001_32af, 0x1871_332f] as [UInt32]).enumerated() {
            (ram + 0x100 + 4 * index).storeBytes(of: word, as: UInt32.self)
        }
        let program = Hart(config: HartConfig(hartID: 0, ram: ram, ramSize: 1 << 16))
        program.pc = 0x8000_0100
        program.setRegister(2, 0x8000_0800)
        program.setRegister(7, 42)
        XCTAssertEqual(program.run(budget: 1, globalCount: 0), .budgetExhausted)
        let paused = try program.snapshot()
        XCTAssertEqual(paused.reservation, 0x8000_0800)
        let restored = Hart(config: HartConfig(hartID: 0, ram: ram, ramSize: 1 << 16))
        try restored.restore(try HartSnapshot(try Rrvm_HartState(serializedBytes: Rrvm_HartState(paused).serializedData())))
        XCTAssertEqual(restored.run(budget: 1, globalCount: 1), .budgetExhausted)
        XCTAssertEqual(restored.register(6), 0, "the SC succeeds, as it does without the checkpoint")
        XCTAssertEqual((ram + 0x800).load(as: UInt64.self), 42)
        XCTAssertNil(try restored.snapshot().reservation)
    }

    func testRefusesWhatDoesNotFit() throws {
        let hart = makeHart(id: 0)
        hart.setRegister(2, Self.device)
        XCTAssertEqual(hart.run(budget: 10, globalCount: 0), .mmio)
        XCTAssertThrowsError(try hart.snapshot()) { XCTAssertTrue("\($0)".contains("device access in flight"), "\($0)") }
        hart.completeMMIO(value: 5)
        XCTAssertNoThrow(try hart.snapshot())

        let before = hart.stateHash()
        XCTAssertThrowsError(try hart.restore(busySnapshot())) {
            XCTAssertEqual("\($0)", "a snapshot of hart 2 cannot be restored into hart 0")
        }
        var sv48 = busySnapshot()
        sv48.satp = 9 << 60
        XCTAssertThrowsError(try makeHart(id: 2, satp: .sv39).restore(sv48)) {
            XCTAssertTrue("\($0)".contains("satp mode 9"), "\($0)")
        }
        XCTAssertEqual(hart.stateHash(), before, "a refused restore changes nothing")

        var message = Rrvm_HartState(busySnapshot())
        message.x.removeLast()
        XCTAssertThrowsError(try HartSnapshot(message)) { XCTAssertTrue("\($0)".contains("31 x"), "\($0)") }
        message = Rrvm_HartState(busySnapshot())
        message.privilege = 2
        XCTAssertThrowsError(try HartSnapshot(message)) { XCTAssertTrue("\($0)".contains("not U, S or M"), "\($0)") }
        message.privilege = 1 << 20
        XCTAssertThrowsError(try HartSnapshot(message)) { XCTAssertTrue("\($0)".contains("out of range"), "\($0)") }
    }
}
