/// One software-TLB entry: the host address of a guest virtual address is `vaddr &+ hostOffset`.
/// `tag` is the page's virtual address; `invalid` never matches a page address. A store entry whose tag carries
/// `codeMarker` maps a page holding decoded code: stores to it take the slow path, which keeps the
/// decoded-instruction cache exact. The loop's loads and stores hit only an entry whose tag equals the page
/// address (`dataHit`), so a page is kept on the slow path by never refilling its entry (`resolve`) or, for
/// one kind of access, by a marker bit in the tag.
struct TLBEntry {
    var tag: UInt64
    var hostOffset: UInt64

    static let invalid = TLBEntry(tag: .max, hostOffset: 0)
    /// On store entries: the page holds decoded code (its stores must reach the code cache). Above the bits an
    /// access's size keeps in `dataHit`'s comparison (0-2), so that no store, aligned or not, ever matches it.
    static let codeMarker: UInt64 = 1 << 10
    /// On load and store entries: the page holds a watched range (Watchpoints.swift); above those bits too.
    static let watchMarker: UInt64 = 1 << 11
}

enum AccessKind: Int {
    case fetch = 0, load = 1, store = 2
}

enum TLBLayout {
    /// Entries per kind and set, direct-mapped by virtual page number: enough for the pages a kernel touches
    /// in a row (a Linux boot refilled a 256-entry table once per 600 instructions).
    static let entries = 1024
    static let indexMask = UInt64(entries - 1)
    static let kinds = 3
    static let sets = 4
    static let setStride = entries * kinds
    static let totalEntries = setStride * sets
    /// Set 0 serves M-mode (untranslated), 1 S-mode, 2 S-mode with SUM, 3 U-mode.
    static let setPrivilege: [PrivilegeMode] = [.machine, .supervisor, .supervisor, .user]
}

extension Hart {
    /// Points the loop's TLBs at the sets for the current privilege, MPRV/MPP and SUM. The store entries
    /// always follow the load entries of their set (the loop keeps one pointer for both).
    func selectTLBs() {
        let fetchSet = tlbSet(for: priv, sum: false)
        fetchTLB = tlb + fetchSet * TLBLayout.setStride
        recentPages = recentPageSets + fetchSet * RecentPage.count
        var dataPrivilege = priv
        if priv == .machine && mstatus & MStatus.mprv != 0 { dataPrivilege = previousMachineMode }
        let dataSet = tlbSet(for: dataPrivilege, sum: mstatus & MStatus.sum != 0) * TLBLayout.setStride
        loadTLB = tlb + dataSet + TLBLayout.entries
        storeTLB = tlb + dataSet + 2 * TLBLayout.entries
    }

    func tlbSet(for privilege: PrivilegeMode, sum: Bool) -> Int {
        switch privilege {
        case .machine: return 0
        case .supervisor: return sum ? 2 : 1
        case .user: return 3
        }
    }

    /// Drops every translated entry (SFENCE.VMA, satp, MXR changes).
    func flushTranslations() {
        counters.translationFlushes &+= 1
        largestLeafMask = 0xfff
        (tlb + TLBLayout.setStride).update(repeating: .invalid, count: TLBLayout.setStride * 3)
        forgetRecentPages()
    }

    /// SFENCE.VMA (privileged spec 4.2.1): `address` nil for every address, `asid` nil for every address space.
    /// The TLB holds only translations made under the current satp (a satp write drops them all), so a fence
    /// for another ASID has nothing to drop; one for an address drops the entries (and recent code pages) whose
    /// leaf mapping covers it, superpages whole, and keeps the others.
    func fenceTranslations(address: UInt64?, asid: UInt64?) {
        if let asid, asid & 0xffff != (satp >> 44) & 0xffff { return }
        guard let address else {
            flushTranslations()
            return
        }
        func covers(_ page: UInt64, _ mask: UInt64) -> Bool { (page ^ address) & ~mask & ~0xfff == 0 }
        // An entry covering address is for a page of the largest leaf around it: only their slots are looked at.
        let firstPage = (address & ~largestLeafMask) >> 12
        let pages = (largestLeafMask >> 12) &+ 1
        for table in stride(from: TLBLayout.setStride, to: TLBLayout.totalEntries, by: TLBLayout.entries) {
            for step in 0..<min(pages, UInt64(TLBLayout.entries)) {
                let index = table + Int((firstPage &+ step) & TLBLayout.indexMask)
                if tlb[index].tag != TLBEntry.invalid.tag && covers(tlb[index].tag, tlbPageMasks[index]) { tlb[index] = .invalid }
            }
        }
        for set in 1..<TLBLayout.sets {
            for step in 0..<min(pages, UInt64(RecentPage.count)) {
                let index = set * RecentPage.count + Int((firstPage &+ step) & RecentPage.mask)
                if recentPageSets[index].base != RecentPage.invalid.base && covers(recentPageSets[index].base, recentPageMasks[index]) {
                    recentPageSets[index] = .invalid
                }
            }
        }
    }

    /// Drops every entry (PMP changes affect M-mode too).
    func flushAllTLBs() {
        largestLeafMask = 0xfff
        tlb.update(repeating: .invalid, count: TLBLayout.totalEntries)
        advanceStoreEpoch()
        forgetRecentPages()
    }

    /// Drops every store entry (the decoded cache changed which pages hold code).
    func flushStoreTLBs() {
        for set in 0..<TLBLayout.sets {
            (tlb + set * TLBLayout.setStride + 2 * TLBLayout.entries).update(repeating: .invalid,
                                                                            count: TLBLayout.entries)
        }
        advanceStoreEpoch()
    }

    /// No store entry is left: every page's store epoch is now old.
    private func advanceStoreEpoch() {
        storeEpoch &+= 1
        if storeEpoch == 0 {
            storeEntryEpochs.update(repeating: 0, count: codePageCount)
            storeEpoch = 1
        }
    }

    /// Removes store entries pointing at the host page `hostPage` (decoded page `codeIndex`), so the next store
    /// refills with the code marker. Nothing to look for when no store entry was filled for it since the last
    /// time all were dropped.
    func dropStoreEntries(codeIndex: Int, hostPage: UInt64) {
        guard storeEntryEpochs[codeIndex] == storeEpoch else { return }
        for set in 0..<TLBLayout.sets {
            let entries = tlb + set * TLBLayout.setStride + 2 * TLBLayout.entries
            for index in 0..<TLBLayout.entries {
                let entry = entries[index]
                if entry.tag != TLBEntry.invalid.tag && (entry.tag & ~0xfff) &+ entry.hostOffset == hostPage {
                    entries[index] = .invalid
                }
            }
        }
    }
}
