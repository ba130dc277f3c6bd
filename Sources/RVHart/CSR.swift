/// CSR numbers used by name.
enum CSR {
    static let fflags = 0x001, frm = 0x002, fcsr = 0x003
    static let cycle = 0xc00, time = 0xc01, instret = 0xc02
    static let sstatus = 0x100, sie = 0x104, stvec = 0x105, scounteren = 0x106, senvcfg = 0x10a
    static let sscratch = 0x140, sepc = 0x141, scause = 0x142, stval = 0x143, sip = 0x144, stimecmp = 0x14d
    static let satp = 0x180
    static let mstatus = 0x300, misa = 0x301, medeleg = 0x302, mideleg = 0x303, mie = 0x304, mtvec = 0x305
    static let mcounteren = 0x306, menvcfg = 0x30a, mcountinhibit = 0x320
    static let mscratch = 0x340, mepc = 0x341, mcause = 0x342, mtval = 0x343, mip = 0x344
    static let pmpcfg0 = 0x3a0, pmpcfg2 = 0x3a2, pmpaddr0 = 0x3b0
    static let mcycle = 0xb00, minstret = 0xb02
    /// Registers that trap handlers save and restore: writing them changes nothing the loop caches and no
    /// interrupt or timer, so the instruction completes without a new look at events.
    static func isTrapContext(_ csr: Int) -> Bool {
        switch csr {
        case sscratch, sepc, scause, stval, stvec, mscratch, mepc, mcause, mtval, mtvec: return true
        default: return false
        }
    }
    static let mvendorid = 0xf11, marchid = 0xf12, mimpid = 0xf13, mhartid = 0xf14, mconfigptr = 0xf15
}

/// RV64 with A, C, D, F, I, M, S, U.
let misaValue: UInt64 = 2 << 62 | 1 << 0 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 8 | 1 << 12 | 1 << 18 | 1 << 20

extension Hart {
    func raiseIllegal(_ raw: UInt32) {
        raise(Cause.illegalInstruction, UInt64(raw))
    }

    /// Executes a SYSTEM instruction or FENCE.I. Returns the next pc; `stop` says whether the loop must
    /// refresh its cached state, trap, or wait.
    @inline(never)
    func executeSystem(_ raw: UInt32, pc: UInt64, executed: UInt64) -> UInt64 {
        if raw == 0x0100_000F {  // PAUSE
            if spinHintsEndRun { stop = .spinHint }
            return pc &+ 4
        }
        if raw & 0x7f == 0x0f {  // FENCE.I
            invalidateCode()
            stop = .refresh
            return pc &+ 4
        }
        let funct3 = (raw >> 12) & 7
        if funct3 == 0 { return executePrivileged(raw, pc: pc) }
        if funct3 == 4 {
            raiseIllegal(raw)
            return pc
        }
        let csr = Int(raw >> 20)
        let rd = Int((raw >> 7) & 31)
        let rs1 = Int((raw >> 15) & 31)
        let operand = funct3 >= 5 ? UInt64(rs1) : regs[rs1]
        let isWrite = funct3 & 3 == 1 || rs1 != 0
        guard csrAccessible(csr, write: isWrite), let old = csrValue(csr, executed: executed, forDebugger: false) else {
            raiseIllegal(raw)
            return pc
        }
        counters.csrAccesses[csr] &+= 1
        if isWrite {
            counters.csrWrites &+= 1
            // Read-modify-write of mip works on the software-writable SEIP bit, not the external line.
            let base = csr == CSR.mip ? (old & ~Interrupt.seip) | (mipSoftware & Interrupt.seip) : old
            let value: UInt64
            switch funct3 & 3 {
            case 1: value = operand
            case 2: value = base | operand
            default: value = base & ~operand
            }
            let statusBefore = mstatus
            writeCSR(csr, value, executed: executed)
            if csr == CSR.sstatus || csr == CSR.mstatus {
                // The loop reloads its data TLB after every out-of-line instruction and reads the other status
                // fields where it uses them: only an interrupt enable turned on can make something due now, and
                // only when an interrupt is then takeable (pending bits and the Sstc comparator change only at
                // events, which re-examine them anyway). The kernel's irq restore sets SIE with nothing pending
                // tens of thousands of times a boot; each refresh would cost an event and two mode switches.
                if mstatus & ~statusBefore & (MStatus.sie | MStatus.mie) != 0 && interruptToTake() != nil {
                    stop = .refresh
                }
            } else if !CSR.isTrapContext(csr) {
                stop = .refresh
            }
        }
        if rd != 0 { regs[rd] = old }
        return pc &+ 4
    }

    private func executePrivileged(_ raw: UInt32, pc: UInt64) -> UInt64 {
        switch raw {
        case 0x0000_0073:  // ECALL
            raise(Cause.userEcall + UInt64(priv.rawValue), 0)
            return pc
        case 0x0010_0073:  // EBREAK
            raise(Cause.breakpoint, pc)
            return pc
        case 0x3020_0073:  // MRET
            guard priv == .machine else { break }
            let previous = previousMachineMode
            var s = mstatus & ~(MStatus.mie | MStatus.mpp)
            if mstatus & MStatus.mpie != 0 { s |= MStatus.mie }
            s |= MStatus.mpie
            if previous != .machine { s &= ~MStatus.mprv }
            mstatus = s
            priv = previous
            selectTLBs()
            stop = .refresh
            return mepc
        case 0x1020_0073:  // SRET
            guard priv == .machine || (priv == .supervisor && mstatus & MStatus.tsr == 0) else { break }
            let previous: PrivilegeMode = mstatus & MStatus.spp != 0 ? .supervisor : .user
            var s = mstatus & ~(MStatus.sie | MStatus.spp | MStatus.mprv)
            if mstatus & MStatus.spie != 0 { s |= MStatus.sie }
            s |= MStatus.spie
            mstatus = s
            priv = previous
            selectTLBs()
            stop = .refresh
            return sepc
        case 0x1050_0073:  // WFI: illegal in U-mode, and in S-mode when TW is set (as QEMU does)
            guard priv == .machine || (priv == .supervisor && mstatus & MStatus.tw == 0) else { break }
            stop = effectiveMip() & mie == 0 ? .waitForInterrupt : spinHintsEndRun ? .spinHint : .refresh
            return pc &+ 4
        default:
            if raw & 0xfe00_7fff == 0x1200_0073 {  // SFENCE.VMA
                guard priv == .machine || (priv == .supervisor && mstatus & MStatus.tvm == 0) else { break }
                let rs1 = Int((raw >> 15) & 31), rs2 = Int((raw >> 20) & 31)
                counters.sfences[(rs1 != 0 ? 1 : 0) + (rs2 != 0 ? 2 : 0)] &+= 1
                fenceTranslations(address: rs1 != 0 ? regs[rs1] : nil, asid: rs2 != 0 ? regs[rs2] : nil)
                stop = .refresh
                return pc &+ 4
            }
        }
        raiseIllegal(raw)
        return pc
    }

    /// Privilege, read-only and per-CSR access rules (counter enables, TVM, Sstc, FS).
    func csrAccessible(_ csr: Int, write: Bool) -> Bool {
        // Bits 9:8 name the lowest privilege that may access the CSR (2, hypervisor, is never accessible).
        if UInt8((csr >> 8) & 3) > priv.rawValue { return false }
        if write && csr >> 10 == 3 { return false }
        switch csr {
        case CSR.fflags, CSR.frm, CSR.fcsr:
            return mstatus & MStatus.fs != 0
        case 0xc00...0xc1f:
            let bit: UInt64 = 1 << UInt64(csr & 31)
            if priv < .machine && mcounteren & bit == 0 { return false }
            if priv == .user && scounteren & bit == 0 { return false }
            return true
        case CSR.satp:
            return !(priv == .supervisor && mstatus & MStatus.tvm != 0)
        case CSR.stimecmp:
            return priv == .machine || (mcounteren & 2 != 0 && menvcfg & EnvConfig.stce != 0)
        default:
            return true
        }
    }

    /// The value of an implemented CSR, nil otherwise. Reads have no side effects except folding the host
    /// FPU's accrued exception flags into fflags.
    func csrValue(_ csr: Int, executed: UInt64, forDebugger: Bool) -> UInt64? {
        switch csr {
        case CSR.fflags:
            collectFloatingPointFlags()
            return fflags
        case CSR.frm: return frm
        case CSR.fcsr:
            collectFloatingPointFlags()
            return fflags | frm << 5
        case CSR.cycle, CSR.mcycle: return cycle(executed: executed)
        case CSR.time: return mtime(executed: executed)
        case CSR.instret, CSR.minstret: return instret(executed: executed)
        case 0xc03...0xc1f, 0xb03...0xb1f, 0x323...0x33f: return 0
        case CSR.sstatus: return mstatusValue & MStatus.supervisorView
        case CSR.sie: return mie & mideleg
        case CSR.stvec: return stvec
        case CSR.scounteren: return scounteren
        case CSR.senvcfg: return senvcfg
        case CSR.sscratch: return sscratch
        case CSR.sepc: return sepc
        case CSR.scause: return scause
        case CSR.stval: return stval
        case CSR.sip: return effectiveMip() & mideleg
        case CSR.stimecmp: return stimecmp
        case CSR.satp: return satp
        case CSR.mstatus: return mstatusValue
        case CSR.misa: return misaValue
        case CSR.medeleg: return medeleg
        case CSR.mideleg: return mideleg
        case CSR.mie: return mie
        case CSR.mtvec: return mtvec
        case CSR.mcounteren: return mcounteren
        case CSR.menvcfg: return menvcfg
        case CSR.mcountinhibit: return mcountinhibit
        case CSR.mscratch: return mscratch
        case CSR.mepc: return mepc
        case CSR.mcause: return mcause
        case CSR.mtval: return mtval
        case CSR.mip: return effectiveMip()
        case CSR.pmpcfg0, CSR.pmpcfg2: return pmpConfigPacked(first: csr == CSR.pmpcfg0 ? 0 : 8)
        case CSR.pmpaddr0..<(CSR.pmpaddr0 + 16): return pmpAddress[csr - CSR.pmpaddr0]
        case CSR.mvendorid, CSR.marchid, CSR.mimpid, CSR.mconfigptr: return 0
        case CSR.mhartid: return hartID
        default: return nil
        }
    }

    /// pmpcfg0 (`first` 0) or pmpcfg2 (`first` 8): eight configuration bytes.
    func pmpConfigPacked(first: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(pmpConfig[first + index]) << (8 * UInt64(index)) }
        return value
    }

    /// mstatus.MPP as a mode (CSR writes never leave the reserved value 2 there).
    var previousMachineMode: PrivilegeMode {
        PrivilegeMode(rawValue: UInt8((mstatus & MStatus.mpp) >> MStatus.mppShift)) ?? .user
    }

    var mstatusValue: UInt64 {
        mstatus & MStatus.fs == MStatus.fs ? mstatus | MStatus.sd : mstatus
    }

    func writeCSR(_ csr: Int, _ value: UInt64, executed: UInt64) {
        switch csr {
        case CSR.fflags:
            collectFloatingPointFlags()
            fflags = value & 0x1f
            mstatus |= MStatus.fs
        case CSR.frm:
            frm = value & 7
            mstatus |= MStatus.fs
        case CSR.fcsr:
            collectFloatingPointFlags()
            fflags = value & 0x1f
            frm = (value >> 5) & 7
            mstatus |= MStatus.fs
        case CSR.sstatus:
            writeStatus((mstatus & ~MStatus.supervisorWritable) | (value & MStatus.supervisorWritable))
        case CSR.sie:
            let writable = mideleg & Interrupt.supervisorBits
            mie = (mie & ~writable) | (value & writable)
        case CSR.stvec: stvec = trapVector(value, old: stvec)
        case CSR.scounteren: scounteren = value & 0xffff_ffff
        case CSR.senvcfg: senvcfg = value & EnvConfig.fiom
        case CSR.sscratch: sscratch = value
        case CSR.sepc: sepc = value & ~1
        case CSR.scause: scause = value
        case CSR.stval: stval = value
        case CSR.sip:
            let writable = mideleg & Interrupt.ssip
            mipSoftware = (mipSoftware & ~writable) | (value & writable)
        case CSR.stimecmp:
            stimecmp = value
            updateSstc(executed: executed + 1)
        case CSR.satp: writeSatp(value)
        case CSR.mstatus:
            var next = (mstatus & ~MStatus.writable) | (value & MStatus.writable)
            if (value & MStatus.mpp) >> MStatus.mppShift == 2 { next = (next & ~MStatus.mpp) | (mstatus & MStatus.mpp) }
            writeStatus(next)
        case CSR.medeleg: medeleg = value & 0xb3ff
        case CSR.mideleg: mideleg = value & Interrupt.supervisorBits
        case CSR.mie: mie = value & Interrupt.all
        case CSR.mtvec: mtvec = trapVector(value, old: mtvec)
        case CSR.mcounteren: mcounteren = value & 0xffff_ffff
        case CSR.menvcfg:
            menvcfg = value & (EnvConfig.stce | EnvConfig.fiom)
            updateSstc(executed: executed + 1)
        case CSR.mcountinhibit: writeCountInhibit(value & 0xffff_fffd, executed: executed)
        case CSR.mscratch: mscratch = value
        case CSR.mepc: mepc = value & ~1
        case CSR.mcause: mcause = value
        case CSR.mtval: mtval = value
        case CSR.mip:
            var writable = Interrupt.ssip | Interrupt.seip
            if menvcfg & EnvConfig.stce == 0 { writable |= Interrupt.stip }
            mipSoftware = (mipSoftware & ~writable) | (value & writable)
        case CSR.pmpcfg0, CSR.pmpcfg2:
            let first = csr == CSR.pmpcfg0 ? 0 : 8
            for index in 0..<8 where pmpConfig[first + index] & 0x80 == 0 {
                var config = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) & 0x9f
                if config & 3 == 2 { config &= ~2 }  // W without R is reserved
                pmpConfig[first + index] = config
            }
            pmpChanged()
        case CSR.pmpaddr0..<(CSR.pmpaddr0 + 16):
            let index = csr - CSR.pmpaddr0
            let locked = pmpConfig[index] & 0x80 != 0
                || (index < 15 && pmpConfig[index + 1] & 0x98 == 0x88)  // next entry is a locked TOR
            if !locked { pmpAddress[index] = value & ((1 << 54) - 1) }
            pmpChanged()
        case CSR.mcycle:
            if mcountinhibit & 1 != 0 { cycleFrozen = value } else { cycleOffset = value &- retired &- executed &- 1 }
        case CSR.minstret:
            if mcountinhibit & 4 != 0 {
                instretFrozen = value
            } else {
                instretOffset = value &- retired &- executed &- 1
            }
        default:
            break  // hpm counters and events: read-only zero
        }
    }

    private func trapVector(_ value: UInt64, old: UInt64) -> UInt64 {
        value & 3 < 2 ? value & ~2 : old
    }

    private func writeStatus(_ value: UInt64) {
        let mxrChanged = (value ^ mstatus) & MStatus.mxr != 0
        mstatus = value
        if mxrChanged { flushTranslations() }
        selectTLBs()
    }

    private func writeSatp(_ value: UInt64) {
        let mode = value >> 60
        let accepted = mode == 0 || mode == 8 || (mode == 9 && maxSatpMode == .sv48)
        guard accepted else { return }
        // MODE (bits 63-60), ASID (59-44, all 16 bits kept) and PPN (43-0) fill the register: nothing is masked. (A
        // mask written `0xf << 60 | 0xffff << 44 | (1 << 44) - 1` subtracted 1 from the whole, `|` and `-` sharing a
        // precedence in Swift: it cleared ASID bit 0, and Linux's fences for odd ASIDs then dropped nothing.)
        satp = value
        counters.satpWrites &+= 1
        flushTranslations()
    }

    private func writeCountInhibit(_ value: UInt64, executed: UInt64) {
        // The writing instruction still counts when counting was enabled before it.
        let now = executed + 1
        if (value ^ mcountinhibit) & 4 != 0 {
            if value & 4 != 0 {
                instretFrozen = retired &+ now &+ instretOffset
            } else {
                instretOffset = instretFrozen &- retired &- now
            }
        }
        if (value ^ mcountinhibit) & 1 != 0 {
            if value & 1 != 0 {
                cycleFrozen = retired &+ now &+ cycleOffset
            } else {
                cycleOffset = cycleFrozen &- retired &- now
            }
        }
        mcountinhibit = value
    }
}
