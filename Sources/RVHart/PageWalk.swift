/// Sv39 and Sv48 page-table walks (privileged spec 4.3.2), setting A and D bits as QEMU does.
extension Hart {
    /// Virtual to physical for the privilege, SUM and MXR of a TLB set; 0 fault means success. `pageMask` has
    /// the offset bits of the leaf that maps vaddr (0xfff for a 4 KiB page, more for a superpage; all bits when
    /// untranslated): what an SFENCE.VMA of one address must drop. A debugger's look (`markAccessed` false)
    /// leaves the page tables' A and D bits alone.
    func translate(_ vaddr: UInt64, kind: AccessKind, set: Int, markAccessed: Bool = true)
        -> (paddr: UInt64, fault: UInt64, pageMask: UInt64) {
        let privilege = TLBLayout.setPrivilege[set]
        let mode = satp >> 60
        if privilege == .machine || mode == 0 { return (vaddr, 0, .max) }
        let pageFault = kind == .fetch ? Cause.fetchPageFault : kind == .load ? Cause.loadPageFault
            : Cause.storePageFault
        let accessFault = kind == .fetch ? Cause.fetchAccess : kind == .load ? Cause.loadAccess : Cause.storeAccess
        let levels = mode == 8 ? 3 : 4
        let vaBits = UInt64(12 + 9 * levels)
        let upper = Int64(bitPattern: vaddr) >> (vaBits - 1)
        if upper != 0 && upper != -1 { return (0, pageFault, 0) }
        let ppnMask: UInt64 = (1 << 44) - 1
        if markAccessed { counters.pageWalks &+= 1 }
        var table = (satp & ppnMask) << 12
        var level = levels - 1
        while true {
            let vpn = (vaddr >> (12 + 9 * UInt64(level))) & 0x1ff
            let pteAddress = table &+ vpn &* 8
            guard pteAddress &- ramBase < ramSize, pteAddress >= ramBase,
                  pmpAllows(pteAddress, size: 8, kind: .load, privilege: .supervisor) else { return (0, accessFault, 0) }
            let pteHost = ramHost + Int(pteAddress &- ramBase)
            let pte = pteHost.loadUnaligned(as: UInt64.self)
            if markAccessed { counters.pteReads &+= 1 }
            let valid = pte & 1 != 0, readable = pte & 2 != 0, writable = pte & 4 != 0, executable = pte & 8 != 0
            if !valid || (!readable && writable) || pte >> 54 != 0 { return (0, pageFault, 0) }
            let ppn = (pte >> 10) & ppnMask
            if !readable && !executable {
                if level == 0 { return (0, pageFault, 0) }
                table = ppn << 12
                level -= 1
                continue
            }
            let user = pte & 0x10 != 0
            if privilege == .user {
                if !user { return (0, pageFault, 0) }
            } else if user && (kind == .fetch || set != 2) {
                return (0, pageFault, 0)
            }
            let permitted: Bool
            switch kind {
            case .fetch: permitted = executable
            case .load: permitted = readable || (executable && mstatus & MStatus.mxr != 0)
            case .store: permitted = writable
            }
            if !permitted { return (0, pageFault, 0) }
            let levelMask: UInt64 = (1 << (9 * UInt64(level))) - 1
            if ppn & levelMask != 0 { return (0, pageFault, 0) }
            let updated = pte | 0x40 | (kind == .store ? 0x80 : 0)
            if updated != pte && markAccessed {
                guard pmpAllows(pteAddress, size: 8, kind: .store, privilege: .supervisor) else { return (0, accessFault, 0) }
                pteHost.storeBytes(of: updated, as: UInt64.self)
                noteStore(physical: pteAddress, size: 8)
            }
            let offsetMask: UInt64 = (1 << (12 + 9 * UInt64(level))) - 1
            return (((ppn << 12) & ~offsetMask) | (vaddr & offsetMask), 0, offsetMask)
        }
    }
}
