/// One software-TLB entry: the host address of a guest virtual address is `vaddr &+ hostOffset`.
/// `tag` is the page's virtual address; `invalid` never matches a page address. A store entry whose tag carries
/// `codeMarker` maps a page holding decoded code: stores to it take the slow path, which keeps the
/// decoded-instruction cache exact. The loop's loads and stores hit only an entry whose tag equals the page
/// address (`dataHit`), so a page is kept on the slow path by never refilling its entry (`resolve`) or, for
/// one kind of access, by a marker bit in the tag. An entry whose tag carries `deviceMarker` maps a device's
/// page: there `vaddr &+ hostOffset` is the physical address (no host memory behind it).
struct TLBEntry {
    var tag: UInt64
    var hostOffset: UInt64

    static let invalid = TLBEntry(tag: .max, hostOffset: 0)

    /// The host address of `address` on the page this entry maps to RAM (after `dataHit`). Never 0: a TLB entry never
    /// maps to host address 0.
    @inline(__always)
    func hostPointer(_ address: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: address &+ hostOffset)).unsafelyUnwrapped
    }
    /// On store entries: the page holds decoded code (its stores must reach the code cache). Above the bits an
    /// access's size keeps in `dataHit`'s comparison (0-2), so that no store, aligned or not, ever matches it.
    static let codeMarker: UInt64 = 1 << 10
    /// On load and store entries: the page holds a watched range (Watchpoints.swift); above those bits too.
    static let watchMarker: UInt64 = 1 << 11
    /// On load and store entries: the page is a device's. Its accesses all leave the loop (a device access stops
    /// the hart or goes to `DeviceShortcut`); the entry spares them the page walk each (a console driver polls
    /// and writes its UART's registers once per byte: 17k walks of a Linux boot's 30k).
    static let deviceMarker: UInt64 = 1 << 9
    static let markers = codeMarker | watchMarker | deviceMarker
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

/// The address space cut in 2 MiB regions (hashed: user addresses and the kernel's linear map must not share
/// one), so that SFENCE.VMA of one address looks as far as the largest leaf cached over its region: a kernel
/// maps its image and linear map with superpages but fences fixmap (text patching), vmalloc and user addresses,
/// mapped with 4 KiB pages (a Linux boot: 414 such fences, 2% of the host's instructions when each looked at
/// every slot).
enum LeafRegions {
    static let count = 4096
    static let shift: UInt64 = 21
    /// Leaves up to this mask (1 GiB) are noted in the regions they span; a larger one (an Sv48 512 GiB leaf)
    /// only in `largestLeafMask`.
    static let largestNoted: UInt64 = (1 << 30) - 1

    @inline(__always)
    static func index(_ address: UInt64) -> Int {
        Int(truncatingIfNeeded: ((address >> shift) ^ (address >> 33)) & UInt64(count - 1))
    }
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
        forgetLeaves()
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
        // An entry covering address is for a page of the largest leaf cached around it (in its region, see
        // `LeafRegions`): only their slots are looked at.
        let mask = leafRegionsKnown && largestLeafMask <= LeafRegions.largestNoted
            ? regionLeafMasks[LeafRegions.index(address)] : largestLeafMask
        let firstPage = (address & ~mask) >> 12
        let pages = (mask >> 12) &+ 1
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

    /// A translated entry (or recent code page) for `page` was filled from a leaf with offset mask `mask`.
    func noteLeaf(_ page: UInt64, _ mask: UInt64) {
        if mask > largestLeafMaskOfAll { largestLeafMaskOfAll = mask }
        guard mask <= LeafRegions.largestNoted else { return }
        // A leaf is aligned to its size: it spans whole regions (a 1 GiB one 512), all noted with the first (the
        // hash gives aligned leaves of one size with the same first region the same regions).
        let base = page & ~mask
        guard mask > regionLeafMasks[LeafRegions.index(base)] else { return }
        for step in 0..<max(1, (mask &+ 1) >> LeafRegions.shift) {
            let region = LeafRegions.index(base &+ step << LeafRegions.shift)
            regionLeafMasks[region] = max(regionLeafMasks[region], mask)
        }
    }

    /// No translated entry is left: every leaf mask is back to a 4 KiB page's.
    private func forgetLeaves() {
        largestLeafMaskOfAll = 0xfff
        regionLeafMasks.update(repeating: 0xfff, count: LeafRegions.count)
        leafRegionsKnown = true
    }

    /// Drops every entry (PMP changes affect M-mode too).
    func flushAllTLBs() {
        forgetLeaves()
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
                if entry.tag != TLBEntry.invalid.tag && entry.tag & TLBEntry.deviceMarker == 0
                    && (entry.tag & ~0xfff) &+ entry.hostOffset == hostPage {
                    entries[index] = .invalid
                }
            }
        }
    }
}
