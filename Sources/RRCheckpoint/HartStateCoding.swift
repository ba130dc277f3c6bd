#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
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
        for (inSnapshot, inMessage) in plainRegisters { self[keyPath: inMessage] = s[keyPath: inSnapshot] }
        sstcPending = s.sstcPending
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
        tlb = s.tlb.map(Rrvm_CachedTranslation.init)
        recentCodePages = s.recentCodePages.map(Rrvm_CachedTranslation.init)
        decodedPages = s.decodedPages.map { page in
            .with {
                $0.physicalPage = page.physicalPage >> 12
                $0.current = page.current
                $0.stores = page.stores
                $0.decodedSlots = Data(page.decodedSlots)
                $0.decodedFrom = page.decodedFrom.map { run in
                    .with {
                        $0.offset = UInt32(run.offset)
                        $0.bytes = Data(run.bytes)
                    }
                }
            }
        }
    }
}

extension Rrvm_CachedTranslation {
    init(_ t: HartSnapshot.Translation) {
        self.init()
        table = UInt32(t.set * 3 + t.kind)
        virtualPage = Int64(bitPattern: t.virtualPage) >> 12
        physicalPage = t.physicalPage >> 12
        pageShift = UInt32(t.pageShift)
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
            throw CheckpointError(
                "\(what): \(m.pmpcfg.count) pmpcfg and \(m.pmpaddr.count) pmpaddr, expected 16 of each")
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
        for (inSnapshot, inMessage) in plainRegisters { self[keyPath: inSnapshot] = m[keyPath: inMessage] }
        sstcPending = m.sstcPending
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
        tlb = try m.tlb.map { try translation($0, "\(what): TLB entry") }
        recentCodePages = try m.recentCodePages.map { try translation($0, "\(what): recent code page") }
        decodedPages = try m.decodedPages.map { page in
            let field = "\(what): decoded page \(page.physicalPage)"
            guard page.physicalPage < 1 << 52, page.decodedSlots.count <= 256 else {
                throw CheckpointError("\(field): page number or slot map out of range")
            }
            return HartSnapshot.DecodedPage(
                physicalPage: page.physicalPage << 12, current: page.current, stores: page.stores,
                decodedSlots: [UInt8](page.decodedSlots),
                decodedFrom: try page.decodedFrom.map { run in
                    guard run.offset <= 4096, run.bytes.count <= 4096 - Int(run.offset) else {
                        throw CheckpointError("\(field): \(run.bytes.count) bytes at offset \(run.offset) go beyond the page")
                    }
                    return HartSnapshot.CodeBytes(offset: Int(run.offset), bytes: [UInt8](run.bytes))
                })
        }
    }
}

/// A cached translation from its message: page numbers that fit an address, a known table and page size.
private func translation(_ m: Rrvm_CachedTranslation, _ field: String) throws -> HartSnapshot.Translation {
    guard m.table < 12, HartSnapshot.Translation.pageShifts.contains(Int(m.pageShift)),
          m.virtualPage >= -(1 << 51), m.virtualPage < 1 << 51, m.physicalPage < 1 << 52 else {
        throw CheckpointError("\(field): table \(m.table), page shift \(m.pageShift) or page number out of range")
    }
    return HartSnapshot.Translation(set: Int(m.table / 3), kind: Int(m.table % 3),
                                    virtualPage: UInt64(bitPattern: m.virtualPage << 12),
                                    physicalPage: m.physicalPage << 12, pageShift: Int(m.pageShift))
}

/// The registers kept as plain 64-bit values under the same name in the snapshot and in the message: one
/// list serves both directions.
private var plainRegisters: [(WritableKeyPath<HartSnapshot, UInt64>, WritableKeyPath<Rrvm_HartState, UInt64>)] {
    [(\.mstatus, \.mstatus), (\.medeleg, \.medeleg), (\.mideleg, \.mideleg), (\.mie, \.mie),
     (\.mipSoftware, \.mipSoftware), (\.interruptLines, \.interruptLines), (\.mtvec, \.mtvec), (\.stvec, \.stvec),
     (\.mepc, \.mepc), (\.sepc, \.sepc), (\.mcause, \.mcause), (\.scause, \.scause), (\.mtval, \.mtval),
     (\.stval, \.stval), (\.mscratch, \.mscratch), (\.sscratch, \.sscratch), (\.satp, \.satp),
     (\.mcounteren, \.mcounteren), (\.scounteren, \.scounteren), (\.menvcfg, \.menvcfg), (\.senvcfg, \.senvcfg),
     (\.mcountinhibit, \.mcountinhibit), (\.stimecmp, \.stimecmp), (\.minstret, \.minstret), (\.mcycle, \.mcycle)]
}

private func privilegeMode(_ value: UInt32, _ field: String) throws -> PrivilegeMode {
    guard let mode = PrivilegeMode(rawValue: try narrow(value, field)) else {
        throw CheckpointError("\(field) \(value) is not U, S or M")
    }
    return mode
}
