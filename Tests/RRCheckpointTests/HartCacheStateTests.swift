import Foundation
import RRCheckpoint
import RRProto
import RVHart
import RVPlatform
import XCTest

/// A hart's caches in its checkpoint state (format 3): TLB entries and decoded code saved without host
/// addresses, put back exactly, and refused when they point outside the hart's memory.
final class HartCacheStateTests: XCTestCase {
    static let ramBase: UInt64 = 0x8000_0000
    static let ramSize = 1 << 16
    // lw x1, 0(x2); then a loop: addi x3, x3, 1; j -4
    static let program: [UInt32] = [0x0001_2083, 0x0011_8193, 0xffdf_f06f]
    static let addFive: UInt32 = 0x0051_8193  // addi x3, x3, 5

    func makeRAM() -> UnsafeMutableRawPointer {
        let ram = UnsafeMutableRawPointer.allocate(byteCount: Self.ramSize, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: Self.ramSize)
        addTeardownBlock { ram.deallocate() }
        for (index, word) in Self.program.enumerated() { (ram + 4 * index).storeBytes(of: word, as: UInt32.self) }
        return ram
    }

    func makeHart(_ ram: UnsafeMutableRawPointer) -> Hart {
        let hart = Hart(config: HartConfig(hartID: 0, ram: ram, ramSize: UInt64(Self.ramSize), maxSatpMode: .sv39))
        hart.pc = Self.ramBase
        return hart
    }

    func throughBytes(_ snapshot: HartSnapshot) throws -> HartSnapshot {
        try HartSnapshot(try Rrvm_HartState(serializedBytes: try Rrvm_HartState(snapshot).serializedData()))
    }

    /// Code another hart rewrote under this one's decoded copy (no FENCE.I here): the restored hart runs the
    /// code as it was decoded, as the hart the snapshot came from does, in a fresh hart too.
    func testStaleDecodedCodeSurvivesTheBytesAndRunsAsBefore() throws {
        let ram = makeRAM()
        let original = makeHart(ram)
        original.setRegister(2, Self.ramBase + 0x1000)
        XCTAssertEqual(original.run(budget: 101, globalCount: 0), .budgetExhausted)
        (ram + 4).storeBytes(of: Self.addFive, as: UInt32.self)  // another hart's store
        let saved = try original.snapshot()
        XCTAssertEqual(saved.tlb.map { [$0.set, $0.kind] }, [[0, 0], [0, 1]], "M-mode fetch and load entries")
        XCTAssertEqual(saved.tlb.map(\.physicalPage), [Self.ramBase, Self.ramBase + 0x1000])
        XCTAssertEqual(saved.decodedPages.count, 1)
        let page = try XCTUnwrap(saved.decodedPages.first)
        XCTAssertEqual(page.physicalPage, Self.ramBase)
        XCTAssertTrue(page.current)
        XCTAssertEqual((0..<8).filter(page.isDecoded), [0, 2, 4], "the three instructions' slots")
        XCTAssertEqual(page.decodedFrom, [HartSnapshot.CodeBytes(offset: 0, bytes: [0x83, 0x20, 0x01, 0x00, 0x93, 0x81, 0x11, 0x00])],
                       "the 8 bytes that differ from RAM now, as decoded")
        let decoded = try throughBytes(saved)
        XCTAssertEqual(decoded, saved)

        XCTAssertEqual(original.run(budget: 100, globalCount: 101), .budgetExhausted)
        let fresh = makeHart(ram)
        try fresh.restore(decoded)
        XCTAssertEqual(try fresh.snapshot(), saved, "restored, the caches are as saved")
        XCTAssertEqual(fresh.run(budget: 100, globalCount: 101), .budgetExhausted)
        XCTAssertEqual(fresh.register(3), original.register(3))
        XCTAssertEqual(fresh.register(3), 100, "x3 counts by 1 (100 addi of 200 instructions after the load): the old addi runs")
        XCTAssertEqual(fresh.stateHash(), original.stateHash())
        XCTAssertEqual(try fresh.snapshot(), try original.snapshot())
    }

    /// A hart storing into its own code page: at `CodePage.storeLimit` stores the page is detached as data,
    /// and comes back as it was (a fresh hart restored from it goes on to the same caches).
    func testACodePageDetachedByItsStoresComesBack() throws {
        let ram = makeRAM()
        // sw x0, 0x400(x5); j -4: stores into its own page, 350 times.
        for (index, word) in ([0x4002_a023, 0xffdf_f06f] as [UInt32]).enumerated() {
            (ram + 4 * index).storeBytes(of: word, as: UInt32.self)
        }
        let original = makeHart(ram)
        original.setRegister(5, Self.ramBase)
        XCTAssertEqual(original.run(budget: 700, globalCount: 0), .budgetExhausted)
        let saved = try original.snapshot()
        XCTAssertEqual(saved.decodedPages.map(\.current), [false], "detached")
        let fresh = makeHart(ram)
        try fresh.restore(try throughBytes(saved))
        XCTAssertEqual(try fresh.snapshot(), saved)
        XCTAssertEqual(original.run(budget: 100, globalCount: 700), .budgetExhausted)
        XCTAssertEqual(fresh.run(budget: 100, globalCount: 700), .budgetExhausted)
        XCTAssertEqual(try fresh.snapshot(), try original.snapshot())
    }

    /// Translated entries (a 1 GiB leaf in the upper half, a 4 KiB one) put back into a hart whose page table
    /// maps nothing: it fetches and loads through them alone, as the hart did that cached them.
    func testTranslationsArePutBackAndUsedWithoutAWalk() throws {
        let ram = makeRAM()
        (ram + 0x10).storeBytes(of: 0x1234_5678_1abc_def0 as UInt64, as: UInt64.self)
        var snapshot = try makeHart(ram).snapshot()
        snapshot.privilege = .supervisor
        snapshot.satp = 8 << 60 | (Self.ramBase + 0x8000) >> 12  // an empty root table
        snapshot.tlb = [
            HartSnapshot.Translation(set: 1, kind: 0, virtualPage: Self.ramBase, physicalPage: Self.ramBase, pageShift: 12),
            HartSnapshot.Translation(set: 1, kind: 1, virtualPage: 0xffff_ffc0_0000_0000, physicalPage: Self.ramBase, pageShift: 30),
        ]
        let hart = makeHart(ram)
        try hart.restore(try throughBytes(snapshot))
        XCTAssertEqual(try hart.snapshot().tlb, snapshot.tlb)
        hart.setRegister(2, 0xffff_ffc0_0000_0010)
        XCTAssertEqual(hart.run(budget: 3, globalCount: 0), .budgetExhausted)
        XCTAssertEqual(hart.register(1), 0x1abc_def0, "lw through the restored 1 GiB entry")
        XCTAssertEqual(hart.register(3), 1, "fetched through the restored 4 KiB entry")
        XCTAssertEqual(hart.readCSR(0x142), 0, "no page fault (scause)")
    }

    /// A device's translation is put back too: the restored hart reaches the device through it without a walk, and
    /// an access off the device's window in that page is still an access fault.
    func testDeviceTranslationIsPutBackAndUsedWithoutAWalk() throws {
        let ram = makeRAM()
        let device: UInt64 = 0x1000_0000, virtualPage: UInt64 = 0xffff_ffc0_0010_0000
        func makeDeviceHart() -> Hart {
            let hart = Hart(config: HartConfig(hartID: 0, ram: ram, ramSize: UInt64(Self.ramSize),
                                               mmioRegions: [MemoryRegion(base: device, size: 0x100)], maxSatpMode: .sv39))
            hart.pc = Self.ramBase
            return hart
        }
        var snapshot = try makeDeviceHart().snapshot()
        snapshot.privilege = .supervisor
        snapshot.satp = 8 << 60 | (Self.ramBase + 0x8000) >> 12  // an empty root table
        snapshot.mtvec = Self.ramBase + 4  // the loop
        snapshot.tlb = [
            HartSnapshot.Translation(set: 1, kind: 0, virtualPage: Self.ramBase, physicalPage: Self.ramBase, pageShift: 12),
            HartSnapshot.Translation(set: 1, kind: 1, virtualPage: virtualPage, physicalPage: device, pageShift: 12),
        ]
        let hart = makeDeviceHart()
        try hart.restore(try throughBytes(snapshot))
        XCTAssertEqual(try hart.snapshot().tlb, snapshot.tlb)
        hart.setRegister(2, virtualPage + 8)
        XCTAssertEqual(hart.run(budget: 1, globalCount: 0), .mmio)
        XCTAssertEqual(hart.pendingAccess.address, device + 8)
        hart.completeMMIO(value: 7)
        XCTAssertEqual(hart.register(1), 7)
        let offWindow = makeDeviceHart()
        try offWindow.restore(try throughBytes(snapshot))
        offWindow.setRegister(2, virtualPage + 0x800)
        _ = offWindow.run(budget: 1, globalCount: 0)
        XCTAssertEqual(offWindow.readCSR(0x342), 5, "a load access fault (mcause)")
    }

    func testRefusesCachesOutsideTheHartsMemory() throws {
        let ram = makeRAM()
        let hart = makeHart(ram)
        hart.setRegister(2, Self.ramBase + 0x1000)
        XCTAssertEqual(hart.run(budget: 11, globalCount: 0), .budgetExhausted)
        let good = try hart.snapshot()
        let before = hart.stateHash()
        func refused(_ change: (inout HartSnapshot) -> Void, _ expected: String, line: UInt = #line) {
            var bad = good
            change(&bad)
            XCTAssertThrowsError(try hart.restore(bad), line: line) {
                XCTAssertTrue("\($0)".contains(expected), "\($0)", line: line)
            }
            XCTAssertEqual(hart.stateHash(), before, line: line)
            XCTAssertEqual(try hart.snapshot(), good, "a refused restore leaves the caches as they were", line: line)
        }
        let load = { (physical: UInt64) in
            HartSnapshot.Translation(set: 0, kind: 1, virtualPage: physical, physicalPage: physical, pageShift: 64)
        }
        refused({ $0.tlb.append(load(0x1000_0000)) },
                "TLB entry for 0x10000000: the physical page 0x10000000 is not RAM, ROM or a device's")
        refused({ $0.tlb.append(load(Self.ramBase + UInt64(Self.ramSize))) }, "is not RAM, ROM or a device's")
        refused({ $0.tlb.append(load(0xffff_ffff_ffff_f000)) }, "is not RAM, ROM or a device's")
        refused({ $0.tlb.append(HartSnapshot.Translation(set: 0, kind: 2, virtualPage: MemoryMap.bootROMBase,
                                                         physicalPage: MemoryMap.bootROMBase, pageShift: 64)) }, "is not RAM")
        refused({ $0.tlb.append(HartSnapshot.Translation(set: 1, kind: 1, virtualPage: 0x4000_0000,
                                                         physicalPage: Self.ramBase + 0x1000, pageShift: 21)) }, "does not fit the leaf")
        refused({ $0.tlb.append(HartSnapshot.Translation(set: 0, kind: 1, virtualPage: 0x4000_0000,
                                                         physicalPage: Self.ramBase, pageShift: 64)) }, "does not fit the leaf")
        refused({ $0.tlb.append($0.tlb[0]) }, "two TLB entries in one slot")
        refused({ $0.decodedPages[0].physicalPage = Self.ramBase + UInt64(Self.ramSize) }, "is not a page of RAM or ROM")
        refused({ $0.decodedPages.append($0.decodedPages[0]) }, "is there twice")
        refused({ $0.decodedPages[0].decodedFrom = [HartSnapshot.CodeBytes(offset: 4090, bytes: [1, 2, 3, 4, 5, 6, 7, 8])] },
                "bytes beyond the page")
        refused({ $0.decodedPages[0].stores = 1 << 20 }, "out of range")
        refused({ $0.recentCodePages = [HartSnapshot.Translation(set: 0, kind: 0, virtualPage: Self.ramBase + 0x2000,
                                                                 physicalPage: Self.ramBase + 0x2000, pageShift: 64)] },
                "is not a current decoded page")

        // What no hart can hold is refused when the message is read.
        func unreadable(_ change: (inout Rrvm_HartState) -> Void, line: UInt = #line) {
            var message = Rrvm_HartState(good)
            change(&message)
            XCTAssertThrowsError(try HartSnapshot(message), line: line) {
                XCTAssertTrue($0 is CheckpointError && "\($0)".contains("out of range") || "\($0)".contains("beyond"), "\($0)", line: line)
            }
        }
        unreadable { $0.tlb[0].pageShift = 13 }
        unreadable { $0.tlb[0].table = 12 }
        unreadable { $0.tlb[0].virtualPage = 1 << 52 }
        unreadable { $0.tlb[0].physicalPage = 1 << 52 }
        unreadable { $0.decodedPages[0].decodedSlots = Data(count: 257) }
        unreadable { $0.decodedPages[0].decodedFrom = [.with { $0.offset = 4095; $0.bytes = Data([1, 2]) }] }
    }
}
