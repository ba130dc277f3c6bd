/// A hart's whole architectural state as a plain value: what a checkpoint keeps and a restore puts back.
///
/// What it holds: x1-x31, f0-f31, pc, the privilege mode, every CSR the hart implements (trap, status,
/// delegation, interrupt enables, the software-written mip bits, the interrupt lines driven from outside,
/// Sstc's stimecmp and comparator output, counters and their inhibit/enable registers, the environment
/// configuration, satp, the PMP registers, fflags/frm), the retired count, and the run state between two
/// instructions: waiting in WFI, the "same trap twice" detector (`stuck`, `lastTrap`), and the LR/SC
/// reservation (as a guest physical address). The reservation is dropped at every slice boundary anyway,
/// but a checkpoint may be taken at a pause point inside a slice, which keeps it: dropping it on restore
/// would make an SC fail that succeeded in the run the checkpoint came from.
///
/// Beside it, what the hart has cached that a guest breaking the fence rules can tell from memory (checkpoint
/// format 3; HartCacheSnapshot.swift): the software TLB's entries and the code pages recently entered (a guest
/// that changes a page-table entry without SFENCE.VMA goes on with the old translation, and Linux clears PTE
/// accessed bits without a flush when it ages pages), and the decoded-instruction cache (code another hart
/// rewrote without this one executing FENCE.I is still run as it was decoded). A restore puts them back, so
/// the run goes on exactly as the one the checkpoint came from.
///
/// What it leaves out, on purpose:
/// - A device access in flight: `Hart.snapshot()` refuses while one is pending (checkpoints are taken with
///   no device operation in flight), and a restore abandons one.
/// - Debugger state (breakpoints): it belongs to the debugger session, not to the guest.
///
/// The counters are kept as the guest reads them (minstret, mcycle) plus `retired`; how the hart derives
/// one from the other is its own business.
public struct HartSnapshot: Equatable {
    public var hartID: UInt64
    /// x0...x31 (x0 is always 0).
    public var x: [UInt64] = Array(repeating: 0, count: 32)
    /// f0...f31, NaN-boxed as the register file holds them.
    public var f: [UInt64] = Array(repeating: 0, count: 32)
    public var pc: UInt64 = 0
    public var privilege: PrivilegeMode = .machine
    /// Instructions this hart retired since it was created (`Hart.retired`).
    public var retired: UInt64 = 0

    /// mstatus without the SD summary bit (derived from FS).
    public var mstatus: UInt64 = 0
    public var medeleg: UInt64 = 0
    public var mideleg: UInt64 = 0
    public var mie: UInt64 = 0
    /// The mip bits software writes: SSIP, STIP (without Sstc), the software part of SEIP.
    public var mipSoftware: UInt64 = 0
    /// MSIP, MTIP, MEIP and the external SEIP as last set by `setInterruptLines`.
    public var interruptLines: UInt64 = 0
    /// STIP as the Sstc comparator last computed it.
    public var sstcPending = false
    public var mtvec: UInt64 = 0
    public var stvec: UInt64 = 0
    public var mepc: UInt64 = 0
    public var sepc: UInt64 = 0
    public var mcause: UInt64 = 0
    public var scause: UInt64 = 0
    public var mtval: UInt64 = 0
    public var stval: UInt64 = 0
    public var mscratch: UInt64 = 0
    public var sscratch: UInt64 = 0
    public var satp: UInt64 = 0
    public var mcounteren: UInt64 = 0
    public var scounteren: UInt64 = 0
    public var menvcfg: UInt64 = 0
    public var senvcfg: UInt64 = 0
    public var mcountinhibit: UInt64 = 0
    public var stimecmp: UInt64 = .max
    /// The guest-visible counters at the snapshot.
    public var minstret: UInt64 = 0
    public var mcycle: UInt64 = 0
    public var fflags: UInt64 = 0
    public var frm: UInt64 = 0
    /// pmpcfg0...15 (one byte each) and pmpaddr0...15.
    public var pmpConfig: [UInt8] = Array(repeating: 0, count: 16)
    public var pmpAddress: [UInt64] = Array(repeating: 0, count: 16)

    /// WFI retired and the hart waits for an interrupt.
    public var waitingForInterrupt = false
    /// The hart took the same exception twice with nothing retired between: it can only loop.
    public var stuck = false
    /// The last exception taken (to notice the next identical one), if any.
    public var lastTrap: Trap?
    /// The physical address an LR reserved, if a reservation is held.
    public var reservation: UInt64?

    /// The software TLB's valid entries, in slot order.
    public var tlb: [Translation] = []
    /// The code pages a jump finds without the TLB (`RecentPage`), in slot order.
    public var recentCodePages: [Translation] = []
    /// Every page of the decoded-instruction cache, by physical address.
    public var decodedPages: [DecodedPage] = []

    public struct Trap: Equatable {
        public var cause: UInt64
        public var pc: UInt64
        public var value: UInt64
        public var privilege: PrivilegeMode
        public var retired: UInt64

        public init(cause: UInt64, pc: UInt64, value: UInt64, privilege: PrivilegeMode, retired: UInt64) {
            self.cause = cause
            self.pc = pc
            self.value = value
            self.privilege = privilege
            self.retired = retired
        }
    }

    public init(hartID: UInt64) { self.hartID = hartID }
}

public struct HartSnapshotError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Hart {
    /// The architectural state now, between runs. Fails while a device access is pending (its instruction
    /// has not retired: a checkpoint waits until the access is answered).
    public func snapshot() throws -> HartSnapshot {
        guard stop != .mmio else {
            throw HartSnapshotError(
                "hart \(hartID) has a device access in flight at pc 0x\(String(pcValue, radix: 16))")
        }
        var s = HartSnapshot(hartID: hartID)
        for index in 1..<32 { s.x[index] = regs[index] }
        for index in 0..<32 { s.f[index] = regs[RegisterFile.fpBase + index] }
        s.pc = pcValue
        s.privilege = privilege
        s.retired = retired
        s.mstatus = mstatus
        s.medeleg = medeleg
        s.mideleg = mideleg
        s.mie = mie
        s.mipSoftware = mipSoftware
        s.interruptLines = interruptLines
        s.sstcPending = sstcPending
        s.mtvec = mtvec
        s.stvec = stvec
        s.mepc = mepc
        s.sepc = sepc
        s.mcause = mcause
        s.scause = scause
        s.mtval = mtval
        s.stval = stval
        s.mscratch = mscratch
        s.sscratch = sscratch
        s.satp = satp
        s.mcounteren = mcounteren
        s.scounteren = scounteren
        s.menvcfg = menvcfg
        s.senvcfg = senvcfg
        s.mcountinhibit = mcountinhibit
        s.stimecmp = stimecmp
        s.minstret = instret(executed: 0)
        s.mcycle = cycle(executed: 0)
        collectFloatingPointFlags()
        s.fflags = fflags
        s.frm = frm
        s.pmpConfig = pmpConfig
        s.pmpAddress = pmpAddress
        s.waitingForInterrupt = waiting
        s.stuck = stuck
        if reservation != .max, let host = UnsafeMutableRawPointer(bitPattern: UInt(reservation)) {
            s.reservation = physicalAddress(ofHost: host)
        }
        s.lastTrap = lastTrap.map {
            HartSnapshot.Trap(cause: $0.cause, pc: $0.pc, value: $0.value, privilege: $0.priv, retired: $0.retired)
        }
        s.tlb = savedTranslations()
        (s.recentCodePages, s.decodedPages) = savedCode()
        return s
    }

    /// Puts the hart back into `snapshot`'s state, its TLB and decoded-instruction cache too (their bytes are
    /// read from RAM, which must already be as it was at the snapshot); any pending device access is
    /// abandoned. A snapshot of another hart or with values this hart cannot hold (a page outside its RAM and
    /// ROM included) is refused, leaving the hart as it was.
    public func restore(_ s: HartSnapshot) throws {
        guard s.hartID == hartID else {
            throw HartSnapshotError("a snapshot of hart \(s.hartID) cannot be restored into hart \(hartID)")
        }
        guard s.x.count == 32, s.f.count == 32, s.pmpConfig.count == 16, s.pmpAddress.count == 16 else {
            throw HartSnapshotError("hart \(s.hartID) snapshot: register file of the wrong size")
        }
        let satpMode = s.satp >> 60
        guard satpMode == 0 || satpMode == 8 || (satpMode == 9 && maxSatpMode == .sv48) else {
            throw HartSnapshotError("hart \(s.hartID) snapshot: satp mode \(satpMode) is not supported here")
        }
        guard s.frm < 8, s.fflags < 32 else {
            throw HartSnapshotError("hart \(s.hartID) snapshot: fcsr out of range")
        }
        let reservedHost = s.reservation.flatMap { hostAddress(physical: $0, size: 4) }
        guard s.reservation == nil || reservedHost != nil, !(s.reservation.map(isROM) ?? false) else {
            throw HartSnapshotError("hart \(s.hartID) snapshot: the reservation is not in RAM")
        }
        let caches = try preparedCaches(s)
        for index in 1..<32 { regs[index] = s.x[index] }
        for index in 0..<32 { regs[RegisterFile.fpBase + index] = s.f[index] }
        pcValue = s.pc
        priv = s.privilege
        retired = s.retired
        mstatus = s.mstatus & ~MStatus.sd
        medeleg = s.medeleg
        mideleg = s.mideleg
        mie = s.mie
        mipSoftware = s.mipSoftware
        interruptLines = s.interruptLines & Interrupt.external
        sstcPending = s.sstcPending
        mtvec = s.mtvec
        stvec = s.stvec
        mepc = s.mepc
        sepc = s.sepc
        mcause = s.mcause
        scause = s.scause
        mtval = s.mtval
        stval = s.stval
        mscratch = s.mscratch
        sscratch = s.sscratch
        satp = s.satp
        mcounteren = s.mcounteren
        scounteren = s.scounteren
        menvcfg = s.menvcfg
        senvcfg = s.senvcfg
        mcountinhibit = s.mcountinhibit
        stimecmp = s.stimecmp
        // Counting: value = retired + offset; inhibited: the frozen value.
        if mcountinhibit & 4 != 0 { instretFrozen = s.minstret } else { instretOffset = s.minstret &- retired }
        if mcountinhibit & 1 != 0 { cycleFrozen = s.mcycle } else { cycleOffset = s.mcycle &- retired }
        fflags = s.fflags
        frm = s.frm
        pmpConfig = s.pmpConfig
        pmpAddress = s.pmpAddress
        waiting = s.waitingForInterrupt
        stuck = s.stuck
        lastTrap = s.lastTrap.map {
            (cause: $0.cause, pc: $0.pc, value: $0.value, priv: $0.privilege, retired: $0.retired)
        }
        stop = .none
        resumeFromBreakpoint = nil
        watchesSuspended = false
        reservation = reservedHost.map { UInt64(UInt(bitPattern: $0)) } ?? .max
        pmpChanged()  // rebuilds the PMP rules
        installCaches(caches)
        selectTLBs()
    }
}
