import Foundation
import RRProto
import RVHart

extension Rrvm_HartState {
    /// The message for a hart's snapshot.
    public init(_ s: HartSnapshot) {
        self.init()
        hart = UInt32(truncatingIfNeeded: s.hartID)
        x = s.x
        f = s.f
        pc = s.pc
        privilege = UInt32(s.privilege.rawValue)
        retired = s.retired
        mstatus = s.mstatus
        medeleg = s.medeleg
        mideleg = s.mideleg
        mie = s.mie
        mipSoftware = s.mipSoftware
        interruptLines = s.interruptLines
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
        minstret = s.minstret
        mcycle = s.mcycle
        fflags = UInt32(truncatingIfNeeded: s.fflags)
        frm = UInt32(truncatingIfNeeded: s.frm)
        pmpcfg = Data(s.pmpConfig)
        pmpaddr = s.pmpAddress
        waitingForInterrupt = s.waitingForInterrupt
        stuck = s.stuck
        if let address = s.reservation { reservation = address }
        if let trap = s.lastTrap {
            lastTrap = .with {
                $0.cause = trap.cause
                $0.pc = trap.pc
                $0.value = trap.value
                $0.privilege = UInt32(trap.privilege.rawValue)
                $0.retired = trap.retired
            }
        }
    }
}

extension HartSnapshot {
    /// The snapshot a message holds; refuses one whose shape or values no hart can hold. (Whether it fits a
    /// given hart, e.g. its satp mode, `Hart.restore` checks.)
    public init(_ m: Rrvm_HartState) throws {
        let what = "hart \(m.hart) state"
        guard m.x.count == 32, m.f.count == 32 else {
            throw CheckpointError("\(what): \(m.x.count) x and \(m.f.count) f registers, expected 32 of each")
        }
        guard m.pmpcfg.count == 16, m.pmpaddr.count == 16 else {
            throw CheckpointError("\(what): \(m.pmpcfg.count) pmpcfg and \(m.pmpaddr.count) pmpaddr, expected 16 of each")
        }
        let privilege = try privilegeMode(m.privilege, "\(what): privilege")
        guard m.fflags < 32, m.frm < 8 else { throw CheckpointError("\(what): fflags or frm out of range") }
        self.init(hartID: UInt64(m.hart))
        x = m.x
        x[0] = 0
        f = m.f
        pc = m.pc
        self.privilege = privilege
        retired = m.retired
        mstatus = m.mstatus
        medeleg = m.medeleg
        mideleg = m.mideleg
        mie = m.mie
        mipSoftware = m.mipSoftware
        interruptLines = m.interruptLines
        sstcPending = m.sstcPending
        mtvec = m.mtvec
        stvec = m.stvec
        mepc = m.mepc
        sepc = m.sepc
        mcause = m.mcause
        scause = m.scause
        mtval = m.mtval
        stval = m.stval
        mscratch = m.mscratch
        sscratch = m.sscratch
        satp = m.satp
        mcounteren = m.mcounteren
        scounteren = m.scounteren
        menvcfg = m.menvcfg
        senvcfg = m.senvcfg
        mcountinhibit = m.mcountinhibit
        stimecmp = m.stimecmp
        minstret = m.minstret
        mcycle = m.mcycle
        fflags = UInt64(m.fflags)
        frm = UInt64(m.frm)
        pmpConfig = [UInt8](m.pmpcfg)
        pmpAddress = m.pmpaddr
        waitingForInterrupt = m.waitingForInterrupt
        stuck = m.stuck
        reservation = m.hasReservation ? m.reservation : nil
        if m.hasLastTrap {
            let trap = m.lastTrap
            lastTrap = Trap(cause: trap.cause, pc: trap.pc, value: trap.value,
                            privilege: try privilegeMode(trap.privilege, "\(what): last trap's privilege"),
                            retired: trap.retired)
        }
    }
}

private func privilegeMode(_ value: UInt32, _ field: String) throws -> PrivilegeMode {
    guard let mode = PrivilegeMode(rawValue: try narrow(value, field)) else {
        throw CheckpointError("\(field) \(value) is not U, S or M")
    }
    return mode
}
