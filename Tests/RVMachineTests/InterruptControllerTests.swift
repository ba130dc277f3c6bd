import RVMachine
import XCTest

final class PLICTests: XCTestCase {
    func enableOffset(context: UInt64, source: UInt64) -> UInt64 { 0x2000 + 0x80 * context + 4 * (source / 32) }
    func thresholdOffset(context: UInt64) -> UInt64 { 0x20_0000 + 0x1000 * context }
    func claimOffset(context: UInt64) -> UInt64 { thresholdOffset(context: context) + 4 }

    /// Two harts; source 10 enabled for hart 1's S-mode context (3) with priority 1, as Linux sets it up.
    func makePLIC() -> (PLIC, DeviceProbe) {
        let plic = PLIC(harts: 2)
        var probe = DeviceProbe(plic)
        probe.write(4 * 10, 1)
        probe.write(enableOffset(context: 3, source: 10), 1 << 10)
        probe.write(thresholdOffset(context: 3), 0)
        XCTAssertTrue(probe.take().hartLines.isEmpty)
        return (plic, probe)
    }

    func testLevelRaisesTheContextLineOnceAndClaimCompleteCycle() {
        var (plic, probe) = makePLIC()
        plic.setSource(10, level: true, effects: &probe.effects)
        plic.setSource(10, level: true, effects: &probe.effects)
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=1"], "one change, not one per call")
        XCTAssertEqual(probe.read(0x1000), 1 << 10, "pending bit")

        XCTAssertEqual(probe.read(claimOffset(context: 3)), 10)
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=0"])
        XCTAssertEqual(probe.read(0x1000), 0, "claimed: no longer pending while the line stays high")
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 0, "nothing else to claim")

        probe.write(claimOffset(context: 3), 10)  // complete with the line still high: pending again
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=1"])
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 10)
        plic.setSource(10, level: false, effects: &probe.effects)
        probe.write(claimOffset(context: 3), 10)
        XCTAssertEqual(probe.read(0x1000), 0)
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=0"])
    }

    func testThresholdMasksAndPriorityZeroNeverInterrupts() {
        var (plic, probe) = makePLIC()
        probe.write(thresholdOffset(context: 3), 1)
        plic.setSource(10, level: true, effects: &probe.effects)
        XCTAssertTrue(probe.take().hartLines.isEmpty, "priority 1 is not above threshold 1")
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 0)
        probe.write(thresholdOffset(context: 3), 0)
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=1"])
        probe.write(4 * 10, 0)
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=0"])
    }

    func testHighestPriorityFirstAndLowestIdOnTies() {
        var (plic, probe) = makePLIC()
        probe.write(enableOffset(context: 3, source: 0), (1 << 10) | (1 << 5) | (1 << 7))
        probe.write(4 * 5, 1)
        probe.write(4 * 7, 3)
        probe.write(4 * 10, 3)
        for source: UInt32 in [5, 7, 10] { plic.setSource(source, level: true, effects: &probe.effects) }
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 7)
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 10)
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 5)
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 0)
    }

    func testMachineContextAndSeparateHarts() {
        var (plic, probe) = makePLIC()
        probe.write(enableOffset(context: 0, source: 10), 1 << 10)  // hart 0, M mode
        plic.setSource(10, level: true, effects: &probe.effects)
        XCTAssertEqual(probe.take().hartChanges, ["0:machineExternal=1", "1:supervisorExternal=1"])
        XCTAssertEqual(probe.read(claimOffset(context: 0)), 10)
        XCTAssertEqual(probe.take().hartChanges, ["0:machineExternal=0", "1:supervisorExternal=0"],
                       "a claim by one context takes the source from all")
        XCTAssertTrue(plic.lineLevel(hart: 0, supervisor: false) == false)
    }

    func testLineDroppedBeforeClaimWithdrawsTheRequest() {
        var (plic, probe) = makePLIC()
        plic.setSource(10, level: true, effects: &probe.effects)
        plic.setSource(10, level: false, effects: &probe.effects)
        XCTAssertEqual(probe.take().hartChanges, ["1:supervisorExternal=1", "1:supervisorExternal=0"])
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 0)
    }

    func testCompletionOfASourceNotEnabledIsIgnored() {
        var (plic, probe) = makePLIC()
        plic.setSource(10, level: true, effects: &probe.effects)
        XCTAssertEqual(probe.read(claimOffset(context: 3)), 10)
        probe.write(enableOffset(context: 3, source: 10), 0)
        probe.write(claimOffset(context: 3), 10)
        probe.write(enableOffset(context: 3, source: 10), 1 << 10)
        XCTAssertFalse(plic.isPending(10), "the completion was ignored: still claimed")
        probe.write(claimOffset(context: 3), 10)
        XCTAssertTrue(plic.isPending(10))
    }

    func testRegisterWidthsAndHardwiredBits() {
        var (_, probe) = makePLIC()
        probe.write(4 * 10, 0xff)
        XCTAssertEqual(probe.read(4 * 10), 7, "3-bit priorities")
        probe.write(enableOffset(context: 3, source: 0), 0xffff_ffff)
        XCTAssertEqual(probe.read(enableOffset(context: 3, source: 0)), 0xffff_fffe, "source 0 does not exist")
        probe.write(enableOffset(context: 3, source: 96), 0xffff_ffff)
        XCTAssertEqual(probe.read(enableOffset(context: 3, source: 96)), 1, "sources end at 96")
        probe.write(0x1000, 0xffff_ffff)
        XCTAssertEqual(probe.read(0x1000), 0, "pending bits are read-only")
        XCTAssertNil(probe.read(4 * 10, size: 8))
        XCTAssertNil(probe.read(4 * 10 + 2, size: 4))
        XCTAssertFalse(probe.write(4 * 10, 1, size: 1))
        XCTAssertEqual(probe.read(claimOffset(context: 4)), 0, "context 4 does not exist with two harts")
    }
}

extension PLICTests {
    /// Each declared register with its value and mask, in offset order (the PLIC declares arrays of them).
    func declared(_ plic: PLIC, in range: Range<UInt64>) -> [(offset: UInt64, value: UInt64, mask: UInt64)] {
        plic.stableReads().flatMap(\.eachRegister).map { ($0.offset, $0.value, $0.setByWriteMask) }
            .filter { range.contains($0.offset) }.sorted { $0.offset < $1.offset }
    }

    /// Every enable word is declared with the value a read returns and set by writes to the sources that exist, so
    /// that harts answer Linux's read-modify-write of them and post the write.
    func testEnableWordsAreDeclaredSetByWrites() {
        let plic = PLIC(harts: 2)
        var probe = DeviceProbe(plic)
        let enables = { self.declared(plic, in: PLIC.enableBase..<PLIC.contextBase) }
        let offsets = (0..<4).flatMap { context in (0..<4).map { PLIC.enableBase + UInt64(context) * PLIC.enableStride + UInt64($0 * 4) } }
        XCTAssertEqual(enables().map(\.offset), offsets)
        XCTAssertEqual(enables().map(\.mask), Array(repeating: [0xffff_fffe, 0xffff_ffff, 0xffff_ffff, 1], count: 4).flatMap { $0 })
        probe.write(offsets[5], 0xffff_ffff)
        probe.write(offsets[3], 0xffff_ffff)
        XCTAssertEqual(enables().map { Optional($0.value) }, offsets.map { probe.read($0) }, "declared = read")
        XCTAssertEqual(enables()[3].value, 1, "source 96 is the last")
        XCTAssertEqual(enables().map { $0.value == $0.value & $0.mask }, Array(repeating: true, count: 16))
    }

    /// Every source's priority and every context's threshold are declared set by writes (3 bits), with the value a
    /// read returns, so that harts post Linux's priority writes (once per source and context at start-up, and each
    /// mask and unmask) and threshold writes. Claim/complete and the pending words are not declared: a claim has a
    /// side effect, the pending bits follow the sources. Each kind is one array (a short declaration).
    func testPrioritiesAndThresholdsAreDeclaredSetByWrites() {
        let plic = PLIC(harts: 2)
        var probe = DeviceProbe(plic)
        let priorities = { self.declared(plic, in: 0..<PLIC.pendingBase) }
        let thresholds = { self.declared(plic, in: PLIC.contextBase..<PLIC.windowSize) }
        XCTAssertEqual(priorities().map(\.offset), (1...96).map { UInt64($0) * 4 }, "sources 1...96")
        XCTAssertEqual(thresholds().map(\.offset), (0..<4).map { thresholdOffset(context: $0) })
        XCTAssertEqual(Set((priorities() + thresholds()).map(\.mask)), [7])
        probe.write(4 * 10, 0xff)
        probe.write(4 * 96, 5)
        probe.write(thresholdOffset(context: 3), 0x12)
        XCTAssertEqual(priorities().map { Optional($0.value) }, (1...96).map { probe.read(UInt64($0) * 4) }, "declared = read")
        XCTAssertEqual(thresholds().map { Optional($0.value) }, (0..<4).map { probe.read(thresholdOffset(context: $0)) })
        XCTAssertEqual(priorities()[9].value, 7, "a write sets the value written and the mask")
        XCTAssertEqual(thresholds()[3].value, 2)
        XCTAssertFalse(declared(plic, in: 0..<PLIC.windowSize).contains { $0.offset == PLIC.pendingBase || $0.offset == claimOffset(context: 0) })
        XCTAssertEqual(plic.stableReads().count, 6, "priorities, enable words 0-3 of every context, thresholds")
    }

    /// A completion changes none of the declared registers, and every entry says so (harts post it).
    func testCompletionsKeepTheDeclaration() {
        let (plic, probe) = makePLIC()
        var device = probe
        XCTAssertEqual(Set(plic.stableReads().map(\.keptByWritesTo)), [(0..<4).map { claimOffset(context: $0) }])
        plic.setSource(10, level: true, effects: &device.effects)
        XCTAssertEqual(device.read(claimOffset(context: 3)), 10)
        let before = plic.stableReads()
        device.write(claimOffset(context: 3), 10)
        XCTAssertEqual(plic.stableReads(), before)
        XCTAssertEqual(device.take().hartChanges, ["1:supervisorExternal=1", "1:supervisorExternal=0", "1:supervisorExternal=1"],
                       "the line still high pends the source again")
        XCTAssertEqual(Set(plic.stableReads().map(\.size)), [4])
    }

    /// The declaration's version changes with every write to a declared register (priority, enable word, threshold)
    /// and with a restored state, so that a runner holding the declaration of one version never serves a stale one;
    /// it stays as it was through claims, completions and source levels, the PLIC's everyday work.
    func testTheDeclarationVersionChangesWithTheDeclarationOnly() throws {
        let (plic, probe) = makePLIC()
        var device = probe
        var version = plic.declarationVersion
        var declaration = plic.stableReads()
        func expect(changed: Bool, _ what: String) {
            XCTAssertEqual(plic.declarationVersion != version, changed, what)
            if !changed { XCTAssertEqual(plic.stableReads(), declaration, what) }
            version = plic.declarationVersion
            declaration = plic.stableReads()
        }
        XCTAssertNotNil(version)
        plic.setSource(10, level: true, effects: &device.effects)
        XCTAssertEqual(device.read(claimOffset(context: 3)), 10)
        device.write(claimOffset(context: 3), 10)
        plic.setSource(10, level: false, effects: &device.effects)
        expect(changed: false, "a source level, a claim and a completion")
        device.write(4 * 10, 3)
        expect(changed: true, "a priority")
        device.write(enableOffset(context: 1, source: 40), 1 << 8)
        expect(changed: true, "an enable word")
        device.write(thresholdOffset(context: 2), 1)
        expect(changed: true, "a threshold")
        let saved = try plic.saveState()
        device.write(4 * 10, 0)
        expect(changed: true, "a priority")
        try plic.restoreState(saved)
        expect(changed: true, "a restored state")
        XCTAssertEqual(declared(plic, in: 0..<PLIC.pendingBase)[9].value, 3, "the restored priority is declared")
    }
}

final class CLINTTests: XCTestCase {
    func testSoftwareInterruptLines() {
        let clint = CLINT(harts: 4)
        var probe = DeviceProbe(clint)
        probe.write(4 * 2, 1)
        probe.write(4 * 2, 1)
        probe.write(4 * 3, 0)
        XCTAssertEqual(probe.take().hartChanges, ["2:machineSoftware=1"])
        XCTAssertEqual(probe.read(4 * 2), 1)
        probe.write(4 * 2, 0)
        XCTAssertEqual(probe.take().hartChanges, ["2:machineSoftware=0"])
        XCTAssertEqual(probe.read(4 * 7), 0, "no hart 7")
        XCTAssertTrue(probe.write(4 * 7, 1))
        XCTAssertTrue(probe.take().hartLines.isEmpty)
    }

    /// Every hart's msip is declared with the value a read returns, so that harts answer those reads.
    func testMsipWordsAreDeclaredStable() {
        let clint = CLINT(harts: 3)
        var probe = DeviceProbe(clint)
        let msip = { clint.stableReads().flatMap(\.eachRegister).filter { $0.offset < CLINT.mtimecmpOffset } }
        XCTAssertEqual(msip(), [0, 4, 8].map {
            StableRead(offset: $0, size: 4, value: 0, setByWriteMask: 1, line: .init(hart: Int($0 / 4), mipBit: InterruptLine.machineSoftware.mipBit))
        })
        probe.write(4 * 1, 1)
        XCTAssertEqual(msip().map(\.value), [0, 1, 0])
        XCTAssertEqual(msip().map { Optional($0.value) }, [0, 4, 8].map { probe.read($0) }, "declared = read")
        XCTAssertEqual(CLINT(harts: 100).stableReads().flatMap(\.eachRegister).count, 2 * CLINT.declaredHarts, "msip and mtimecmp")
        XCTAssertEqual(clint.stableReads().count, 2, "one array each")
    }

    /// Every hart's 64-bit mtimecmp is declared set by writes (all 64 bits), its line MTIP as a timer compare, with
    /// the value a read returns; a write to a 32-bit half changes the declared value too (the hart waits for it).
    func testTimerComparesAreDeclaredSetByWrites() {
        let clint = CLINT(harts: 2)
        var probe = DeviceProbe(clint)
        let compares = { clint.stableReads().flatMap(\.eachRegister).filter { $0.offset >= CLINT.mtimecmpOffset } }
        XCTAssertEqual(compares(), [0, 1].map {
            StableRead(offset: CLINT.mtimecmpOffset + UInt64($0) * 8, size: 8, value: .max, setByWriteMask: .max,
                       line: .init(hart: $0, mipBit: InterruptLine.machineTimer.mipBit), lineIsTimerCompare: true)
        })
        XCTAssertNotEqual(compares()[0], StableRead(offset: CLINT.mtimecmpOffset, size: 8, value: .max, setByWriteMask: .max,
                                                   line: .init(hart: 0, mipBit: InterruptLine.machineTimer.mipBit)), "a timer compare, not a level")
        probe.write(0x4008, 12345, size: 8)
        probe.write(0x4004, 7, size: 4)
        XCTAssertEqual(compares().map(\.value), [0xffff_ffff | 7 << 32, 12345])
        XCTAssertEqual(compares().map { Optional($0.value) }, [0x4000, 0x4008].map { probe.read($0, size: 8) }, "declared = read")
    }

    func testTimerCompareWritesAndMtime() {
        let clint = CLINT(harts: 2)
        var probe = DeviceProbe(clint)
        XCTAssertEqual(probe.read(0x4008, size: 8), UInt64.max, "no timer before software programs one")
        probe.write(0x4008, 0x1_0000_2000, size: 8)
        XCTAssertEqual(probe.take().timerCompares.map { "\($0.hart):\($0.mtimecmp)" }, ["1:\(0x1_0000_2000)"])
        // 32-bit halves, as an RV32 kernel writes them.
        probe.write(0x4000, 0xffff_ffff, size: 4)
        probe.write(0x4004, 0x5, size: 4)
        probe.write(0x4000, 0x10, size: 4)
        XCTAssertEqual(probe.take().timerCompares.map(\.mtimecmp).last, 0x5_0000_0010)
        XCTAssertEqual(clint.timerCompare(hart: 0), 0x5_0000_0010)
        XCTAssertEqual(probe.read(0x4004, size: 4), 5)

        probe.clock = DeviceClock(globalCount: 123, mtime: 0x1_2345_6789)
        XCTAssertEqual(probe.read(0xbff8, size: 8), 0x1_2345_6789)
        XCTAssertEqual(probe.read(0xbffc, size: 4), 1)
        XCTAssertTrue(probe.write(0xbff8, 0, size: 8), "mtime writes are accepted and ignored")
        XCTAssertEqual(probe.read(0xbff8, size: 8), 0x1_2345_6789)
        XCTAssertNil(probe.read(0x4001, size: 4))
        XCTAssertNil(probe.read(0x0, size: 8), "msip is 32 bits wide")
        XCTAssertNil(probe.read(0x4000, size: 2))
    }
}

final class TestFinisherTests: XCTestCase {
    func testExitCodes() {
        func exit(_ value: UInt64) -> MachineExit? {
            var probe = DeviceProbe(TestFinisher())
            XCTAssertTrue(probe.write(0, value))
            return probe.take().exit
        }
        XCTAssertEqual(exit(0x5555), .powerOff(code: 0))
        XCTAssertEqual(exit((3 << 16) | 0x3333), .powerOff(code: 3))
        XCTAssertEqual(exit((255 << 16) | 0x3333), .powerOff(code: 255))
        XCTAssertEqual(exit(0x7777), .reset)
        XCTAssertNil(exit(0x1234))
        XCTAssertNil(exit(0))
        var probe = DeviceProbe(TestFinisher())
        XCTAssertEqual(probe.read(0), 0)
        XCTAssertNil(probe.read(0, size: 1))
    }
}

final class GoldfishRTCTests: XCTestCase {
    let start: UInt64 = 1_700_000_000 * 1_000_000_000 + 123

    func testTimeIsStartPlusVirtualTimeAndHighHalfIsLatched() {
        var probe = DeviceProbe(GoldfishRTC(startWallTimeNs: start))
        probe.clock.mtime = 25_000_000  // 2.5 s at 10 MHz
        let low = probe.read(0x00)!
        probe.clock.mtime = 0xffff_ffff_ffff  // much later: the high half still comes from the latch
        let high = probe.read(0x04)!
        XCTAssertEqual(high << 32 | low, start + 2_500_000_000)
    }

    func testSettingTheTime() {
        let rtc = GoldfishRTC(startWallTimeNs: start)
        var probe = DeviceProbe(rtc)
        probe.clock.mtime = 10_000_000
        let wanted: UInt64 = 1_000_000_000_000_000_000
        probe.write(0x04, wanted >> 32)
        probe.write(0x00, wanted & 0xffff_ffff)
        XCTAssertEqual(rtc.timeNs(mtime: 10_000_000), wanted)
        XCTAssertEqual(rtc.timeNs(mtime: 20_000_000), wanted + 1_000_000_000)
    }

    /// goldfish_rtc_set_alarm: ALARM_HIGH, ALARM_LOW, IRQ_ENABLED; the interrupt handler clears it.
    func testAlarmWakesAndInterrupts() {
        let rtc = GoldfishRTC(startWallTimeNs: start)
        var probe = DeviceProbe(rtc)
        let alarm = start + 3_000_000_000
        probe.write(0x0c, alarm >> 32)
        probe.write(0x08, alarm & 0xffff_ffff)
        probe.write(0x10, 1)
        let effects = probe.take()
        XCTAssertEqual(effects.wakeAt, 30_000_000)
        XCTAssertTrue(effects.sourceLevels.isEmpty)
        XCTAssertEqual(probe.read(0x18), 1, "alarm armed")

        probe.clock.mtime = 29_999_999
        rtc.tick(clock: probe.clock, effects: &probe.effects)
        XCTAssertEqual(probe.take().sourceChanges, [], "an early tick does nothing")
        probe.clock.mtime = 30_000_000
        rtc.tick(clock: probe.clock, effects: &probe.effects)
        let fired = probe.take()
        XCTAssertEqual(fired.sourceChanges, ["11=1"])
        XCTAssertNil(fired.wakeAt)
        XCTAssertEqual(probe.read(0x18), 0)
        probe.write(0x1c, 1)
        XCTAssertEqual(probe.take().sourceChanges, ["11=0"])
    }

    func testAlarmInThePastFiresAtOnceAndDisabledIrqHoldsTheLine() {
        let rtc = GoldfishRTC(startWallTimeNs: start)
        var probe = DeviceProbe(rtc)
        probe.clock.mtime = 50_000_000
        probe.write(0x0c, start >> 32)
        probe.write(0x08, start & 0xffff_ffff)
        XCTAssertEqual(probe.take().sourceChanges, [], "pending, but IRQ_ENABLED is 0")
        probe.write(0x10, 1)
        XCTAssertEqual(probe.take().sourceChanges, ["11=1"])
        probe.write(0x10, 0)
        XCTAssertEqual(probe.take().sourceChanges, ["11=0"])
    }

    func testClearAlarmCancelsTheWake() {
        var probe = DeviceProbe(GoldfishRTC(startWallTimeNs: start))
        probe.write(0x0c, (start + 5_000_000_000) >> 32)
        probe.write(0x08, (start + 5_000_000_000) & 0xffff_ffff)
        XCTAssertNotNil(probe.take().wakeAt)
        probe.write(0x14, 1)
        XCTAssertNil(probe.take().wakeAt)
        XCTAssertEqual(probe.read(0x18), 0)
    }
}
