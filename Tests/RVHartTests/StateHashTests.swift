import Glibc
@testable import RVHart
import XCTest

/// `Hart.stateHash` reads the CSRs from their fields; the logged checks compare its value across runs and
/// versions, so it must stay the hash of each listed CSR as `csrValue` reads it.
final class StateHashTests: XCTestCase {
    /// The hash as first defined: registers, pc, privilege, then every CSR of `hashedCSRs` through `csrValue`.
    private func referenceHash(_ hart: Hart) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            hash = (hash ^ value) &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
        }
        for index in 1..<32 { mix(hart.regs[index]) }
        for index in 0..<32 { mix(hart.regs[RegisterFile.fpBase + index]) }
        mix(hart.pcValue)
        mix(UInt64(hart.priv.rawValue))
        for csr in Hart.hashedCSRs { mix(hart.csrValue(csr, executed: 0, forDebugger: true) ?? 0) }
        return hash
    }

    /// Sets every field a hashed CSR is read from (and the registers) to arbitrary values.
    private func randomize(_ hart: Hart, _ numbers: inout SplitMix) {
        for index in 1..<32 { hart.regs[index] = numbers.next() }
        for index in 0..<32 { hart.regs[RegisterFile.fpBase + index] = numbers.next() }
        hart.pcValue = numbers.next()
        hart.priv = [PrivilegeMode.user, .supervisor, .machine][Int(numbers.next() % 3)]
        hart.fflags = numbers.next() & 0x1f
        hart.frm = numbers.next() & 7
        hart.mstatus = numbers.next()
        hart.mie = numbers.next()
        hart.mideleg = numbers.next()
        hart.medeleg = numbers.next()
        hart.stvec = numbers.next()
        hart.mtvec = numbers.next()
        hart.scounteren = numbers.next()
        hart.mcounteren = numbers.next()
        hart.senvcfg = numbers.next()
        hart.menvcfg = numbers.next()
        hart.sscratch = numbers.next()
        hart.sepc = numbers.next()
        hart.scause = numbers.next()
        hart.stval = numbers.next()
        hart.mscratch = numbers.next()
        hart.mepc = numbers.next()
        hart.mcause = numbers.next()
        hart.mtval = numbers.next()
        hart.stimecmp = numbers.next()
        hart.satp = numbers.next()
        hart.mcountinhibit = numbers.next()
        hart.mipSoftware = numbers.next()
        hart.interruptLines = numbers.next()
        hart.sstcPending = numbers.bit()
        hart.retired = numbers.next()
        hart.cycleOffset = numbers.next()
        hart.instretOffset = numbers.next()
        hart.cycleFrozen = numbers.next()
        hart.instretFrozen = numbers.next()
        for index in 0..<16 {
            hart.pmpConfig[index] = UInt8(truncatingIfNeeded: numbers.next())
            hart.pmpAddress[index] = numbers.next()
        }
    }

    func testHashEqualsTheCSRReadsOverVariedStates() {
        let hart = TestMachine().hart
        XCTAssertEqual(hart.stateHash(), referenceHash(hart), "reset state")
        var numbers = SplitMix(state: 16)
        for round in 0..<500 {
            randomize(hart, &numbers)
            XCTAssertEqual(hart.stateHash(), referenceHash(hart), "state \(round)")
        }
    }

    /// Each hashed CSR on its own changes both hashes alike (so none is left out or read from the wrong field).
    func testEveryHashedCSRFeedsTheHash() {
        let hart = TestMachine().hart
        var numbers = SplitMix(state: 61)
        randomize(hart, &numbers)
        hart.menvcfg |= EnvConfig.stce
        hart.mcountinhibit = 0
        hart.interruptLines = 0
        hart.mideleg = Interrupt.supervisorBits
        for index in 0..<16 { hart.pmpConfig[index] = 0 }
        for csr in Hart.hashedCSRs {
            let name = String(format: "CSR %03x", csr)
            let before = hart.stateHash()
            let old = hart.csrValue(csr, executed: 0, forDebugger: true) ?? 0
            hart.writeCSR(csr, Self.acceptedDifferentValue(csr, old), executed: 0)
            if csr == CSR.sip || csr == CSR.mip { hart.sstcPending.toggle() }  // the Sstc line, read-only
            XCTAssertNotEqual(hart.csrValue(csr, executed: 0, forDebugger: true), old, name)
            XCTAssertNotEqual(hart.stateHash(), before, name)
            XCTAssertEqual(hart.stateHash(), referenceHash(hart), name)
        }
    }

    /// A value unlike `old` that a write of `csr` keeps (a legal mode and vector, unlocked PMP entries).
    private static func acceptedDifferentValue(_ csr: Int, _ old: UInt64) -> UInt64 {
        switch csr {
        case CSR.satp: return 8 << 60 | ~old & ((1 << 44) - 1)
        case CSR.stvec, CSR.mtvec: return ~old & ~3
        case CSR.pmpcfg0, CSR.pmpcfg2: return ~old & 0x1f1f_1f1f_1f1f_1f1f
        default: return ~old
        }
    }

    /// Reading fflags folds in the host's accrued exception flags: the hash must do so too.
    func testHashFoldsInTheHostFloatingPointFlags() {
        let hart = TestMachine().hart
        hart.floatingPointLive = true
        let hostFlags: Int32 = FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INEXACT
        defer { feclearexcept(hostFlags) }
        hart.fflags = 0
        feclearexcept(hostFlags)
        let clean = referenceHash(hart)
        let raisedFlags: Int32 = FE_INEXACT | FE_OVERFLOW
        feraiseexcept(raisedFlags)
        let raised = hart.stateHash()
        XCTAssertNotEqual(raised, clean)
        XCTAssertEqual(hart.fflags, SoftFloat.inexact | SoftFloat.overflow)
        XCTAssertEqual(raised, referenceHash(hart))
    }
}
