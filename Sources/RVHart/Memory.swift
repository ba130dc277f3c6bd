/// One software-TLB entry: the host address of a guest virtual address is `vaddr &+ hostOffset`.
/// `tag` is the page's virtual address; `invalid` never matches a page address. A store entry whose tag has
/// bit 0 set maps a page holding decoded code: stores to it take the slow path, which keeps the
/// decoded-instruction cache exact.
struct TLBEntry {
    var tag: UInt64
    var hostOffset: UInt64

    static let invalid = TLBEntry(tag: .max, hostOffset: 0)
    static let codeMarker: UInt64 = 1
}

enum AccessKind: Int {
    case fetch = 0, load = 1, store = 2
}

enum TLBLayout {
    static let entries = 256
    static let kinds = 3
    static let sets = 4
    static let setStride = entries * kinds
    static let totalEntries = setStride * sets
    /// Set 0 serves M-mode (untranslated), 1 S-mode, 2 S-mode with SUM, 3 U-mode.
    static let setPrivilege: [UInt8] = [3, 1, 1, 0]
}

enum CodePage {
    /// One slot per halfword, plus two sentinel slots (`pageCross`) after the page's last halfword.
    static let slots = 2050
    /// Own stores into a decoded page after which it is dropped from the cache (it holds data now).
    static let storeLimit: UInt32 = 256
    /// Decoded pages allocated before the whole cache is dropped (at most 64 MiB of 16 KiB pages).
    static let allocationLimit = 4096
}

/// A page `enterPage` made current, remembered so that jumps back to it skip the lookup. Valid while
/// translation, privilege, PMP and the decoded cache stay as they were: every change flushes them.
struct RecentPage {
    var base: UInt64
    var key: UInt

    static let invalid = RecentPage(base: .max, key: 0)
    static let count = 64
    static let mask: UInt64 = 63
}

/// An active PMP entry: the bytes it matches and its configuration byte.
struct PMPRule {
    var lo: UInt64
    var hi: UInt64
    var config: UInt8
}

/// The outcome of resolving one access that stays within a page.
struct Resolution {
    /// 0 when the access may proceed; otherwise the exception cause.
    var fault: UInt64
    var paddr: UInt64
    /// RAM or ROM; nil for a device window (when `fault` is 0).
    var host: UnsafeMutableRawPointer?
}

extension Hart {
    // MARK: TLB management

    /// Points the loop's TLBs at the sets for the current privilege, MPRV/MPP and SUM.
    func selectTLBs() {
        let fetch = tlb + tlbSet(for: priv, sum: false) * TLBLayout.setStride
        if fetch != fetchTLB { forgetRecentPages() }
        fetchTLB = fetch
        var dataPrivilege = priv
        if priv == 3 && mstatus & MStatus.mprv != 0 {
            dataPrivilege = UInt8((mstatus & MStatus.mpp) >> MStatus.mppShift)
        }
        let dataSet = tlbSet(for: dataPrivilege, sum: mstatus & MStatus.sum != 0) * TLBLayout.setStride
        loadTLB = tlb + dataSet + TLBLayout.entries
        storeTLB = tlb + dataSet + 2 * TLBLayout.entries
    }

    func tlbSet(for privilege: UInt8, sum: Bool) -> Int {
        switch privilege {
        case 3: return 0
        case 1: return sum ? 2 : 1
        default: return 3
        }
    }

    /// Drops every translated entry (SFENCE.VMA, satp, MXR changes).
    func flushTranslations() {
        (tlb + TLBLayout.setStride).update(repeating: .invalid, count: TLBLayout.setStride * 3)
        forgetRecentPages()
    }

    /// Drops every entry (PMP changes affect M-mode too).
    func flushAllTLBs() {
        tlb.update(repeating: .invalid, count: TLBLayout.totalEntries)
        forgetRecentPages()
    }

    func forgetRecentPages() {
        recentPages.update(repeating: .invalid, count: RecentPage.count)
    }

    func flushStoreTLBs() {
        for set in 0..<TLBLayout.sets {
            (tlb + set * TLBLayout.setStride + 2 * TLBLayout.entries).update(repeating: .invalid,
                                                                            count: TLBLayout.entries)
        }
    }

    /// Removes store entries pointing at the host page `hostPage`, so the next store refills with the
    /// code marker.
    func dropStoreEntries(hostPage: UInt64) {
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

    // MARK: Physical memory

    /// RAM or ROM host address for `size` bytes at `paddr`, or nil.
    @inline(__always)
    func hostAddress(physical paddr: UInt64, size: UInt64) -> UnsafeMutableRawPointer? {
        if paddr >= ramBase && paddr &- ramBase < ramSize && ramSize &- (paddr &- ramBase) >= size {
            return ramHost + Int(paddr &- ramBase)
        }
        if paddr >= romBase && paddr &- romBase < romSize && romSize &- (paddr &- romBase) >= size {
            return romHost + Int(paddr &- romBase)
        }
        return nil
    }

    func isROM(_ paddr: UInt64) -> Bool {
        paddr >= romBase && paddr &- romBase < romSize
    }

    func isDevice(_ paddr: UInt64, size: UInt64) -> Bool {
        mmioRegions.contains { $0.contains(paddr, size: size) }
    }

    /// Index of the decoded page for a RAM or ROM physical address.
    func codeIndex(_ paddr: UInt64) -> Int? {
        if paddr >= ramBase && paddr &- ramBase < ramSize { return Int((paddr &- ramBase) >> 12) }
        if isROM(paddr) { return Int(ramSize >> 12) + Int((paddr &- romBase) >> 12) }
        return nil
    }

    func isCodePage(_ paddr: UInt64) -> Bool {
        guard let index = codeIndex(paddr) else { return false }
        return codePages[index] != nil && codeGeneration[index] == generation
    }

    // MARK: PMP

    /// The byte range `lo ..< hi` an entry matches, or nil when it is off.
    func pmpRange(_ index: Int) -> (lo: UInt64, hi: UInt64)? {
        let config = pmpConfig[index]
        let address = pmpAddress[index]
        switch (config >> 3) & 3 {
        case 1:  // TOR
            let lo = index == 0 ? 0 : pmpAddress[index - 1] << 2
            return (lo, address << 2)
        case 2:  // NA4
            return (address << 2, (address << 2) &+ 4)
        case 3:  // NAPOT
            let ones = UInt64((~address).trailingZeroBitCount)
            if ones >= 54 { return (0, 1 << 56) }
            let size: UInt64 = 1 << (ones + 3)
            let lo = (address & ~((1 << ones) - 1)) << 2
            return (lo, lo &+ size)
        default:
            return nil
        }
    }

    /// Recomputes the matching rules after a PMP register changed.
    func pmpChanged() {
        pmpActive = pmpConfig.contains { $0 & 0x18 != 0 }
        pmpRules = (0..<16).compactMap { index in
            guard let (lo, hi) = pmpRange(index), lo < hi else { return nil }
            return PMPRule(lo: lo, hi: hi, config: pmpConfig[index])
        }
        flushAllTLBs()
    }

    /// Whether `size` bytes at `paddr` may be accessed by `privilege` (checks all bytes against the first
    /// matching entry, as the privileged spec 3.7.1 says). With no active entry, everything is allowed.
    func pmpAllows(_ paddr: UInt64, size: UInt64, kind: AccessKind, privilege: UInt8) -> Bool {
        guard pmpActive else { return true }
        let end = paddr &+ size
        let permission: UInt8 = kind == .fetch ? 4 : kind == .load ? 1 : 2
        for rule in pmpRules {
            if end <= rule.lo || paddr >= rule.hi { continue }
            if paddr < rule.lo || end > rule.hi { return false }
            if privilege == 3 && rule.config & 0x80 == 0 { return true }
            return rule.config & permission != 0
        }
        return privilege == 3
    }

    // MARK: Translation

    /// Virtual to physical for the privilege, SUM and MXR of a TLB set; 0 fault means success. A debugger's
    /// look (`markAccessed` false) leaves the page tables' A and D bits alone.
    func translate(_ vaddr: UInt64, kind: AccessKind, set: Int, markAccessed: Bool = true) -> (paddr: UInt64, fault: UInt64) {
        let privilege = TLBLayout.setPrivilege[set]
        let mode = satp >> 60
        if privilege == 3 || mode == 0 { return (vaddr, 0) }
        let pageFault = kind == .fetch ? Cause.fetchPageFault : kind == .load ? Cause.loadPageFault
            : Cause.storePageFault
        let accessFault = kind == .fetch ? Cause.fetchAccess : kind == .load ? Cause.loadAccess : Cause.storeAccess
        let levels = mode == 8 ? 3 : 4
        let vaBits = UInt64(12 + 9 * levels)
        let upper = Int64(bitPattern: vaddr) >> (vaBits - 1)
        if upper != 0 && upper != -1 { return (0, pageFault) }
        let ppnMask: UInt64 = (1 << 44) - 1
        var table = (satp & ppnMask) << 12
        var level = levels - 1
        while true {
            let vpn = (vaddr >> (12 + 9 * UInt64(level))) & 0x1ff
            let pteAddress = table &+ vpn &* 8
            guard pteAddress &- ramBase < ramSize, pteAddress >= ramBase,
                  pmpAllows(pteAddress, size: 8, kind: .load, privilege: 1) else { return (0, accessFault) }
            let pteHost = ramHost + Int(pteAddress &- ramBase)
            let pte = pteHost.loadUnaligned(as: UInt64.self)
            let valid = pte & 1 != 0, readable = pte & 2 != 0, writable = pte & 4 != 0, executable = pte & 8 != 0
            if !valid || (!readable && writable) || pte >> 54 != 0 { return (0, pageFault) }
            let ppn = (pte >> 10) & ppnMask
            if !readable && !executable {
                if level == 0 { return (0, pageFault) }
                table = ppn << 12
                level -= 1
                continue
            }
            let user = pte & 0x10 != 0
            if privilege == 0 {
                if !user { return (0, pageFault) }
            } else if user && (kind == .fetch || set != 2) {
                return (0, pageFault)
            }
            let permitted: Bool
            switch kind {
            case .fetch: permitted = executable
            case .load: permitted = readable || (executable && mstatus & MStatus.mxr != 0)
            case .store: permitted = writable
            }
            if !permitted { return (0, pageFault) }
            let levelMask: UInt64 = (1 << (9 * UInt64(level))) - 1
            if ppn & levelMask != 0 { return (0, pageFault) }
            let updated = pte | 0x40 | (kind == .store ? 0x80 : 0)
            if updated != pte && markAccessed {
                guard pmpAllows(pteAddress, size: 8, kind: .store, privilege: 1) else { return (0, accessFault) }
                pteHost.storeBytes(of: updated, as: UInt64.self)
                noteStore(physical: pteAddress, size: 8)
            }
            let offsetMask: UInt64 = (1 << (12 + 9 * UInt64(level))) - 1
            return (((ppn << 12) & ~offsetMask) | (vaddr & offsetMask), 0)
        }
    }

    /// Resolves an access of `size` bytes (within one page) at `vaddr`: TLB, translation, physical map and
    /// PMP; refills the TLB when the whole page allows the access.
    func resolve(_ vaddr: UInt64, size: UInt64, kind: AccessKind) -> Resolution {
        let table = kind == .fetch ? fetchTLB : kind == .load ? loadTLB : storeTLB
        let index = Int((vaddr >> 12) & 0xff)
        let page = vaddr & ~0xfff
        let entry = table[index]
        if entry.tag & ~TLBEntry.codeMarker == page {
            let host = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: vaddr &+ entry.hostOffset))!
            let paddr = physicalAddress(ofHost: host)
            if entry.tag & TLBEntry.codeMarker != 0 { noteStore(physical: paddr, size: size) }
            return Resolution(fault: 0, paddr: paddr, host: host)
        }
        let set = (table - tlb) / TLBLayout.setStride
        let privilege = TLBLayout.setPrivilege[set]
        let (paddr, pageFault) = translate(vaddr, kind: kind, set: set)
        if pageFault != 0 { return Resolution(fault: pageFault, paddr: 0, host: nil) }
        let accessFault = kind == .fetch ? Cause.fetchAccess : kind == .load ? Cause.loadAccess : Cause.storeAccess
        guard pmpAllows(paddr, size: size, kind: kind, privilege: privilege) else {
            return Resolution(fault: accessFault, paddr: paddr, host: nil)
        }
        guard let host = hostAddress(physical: paddr, size: size) else {
            if kind != .fetch && isDevice(paddr, size: size) { return Resolution(fault: 0, paddr: paddr, host: nil) }
            return Resolution(fault: accessFault, paddr: paddr, host: nil)
        }
        if kind == .store && isROM(paddr) { return Resolution(fault: accessFault, paddr: paddr, host: nil) }
        if kind == .store { noteStore(physical: paddr, size: size) }
        let physicalPage = paddr & ~0xfff
        if pmpAllows(physicalPage, size: 4096, kind: kind, privilege: privilege) {
            var tag = page
            if kind == .store && isCodePage(paddr) { tag |= TLBEntry.codeMarker }
            let hostPage = UInt64(UInt(bitPattern: host)) & ~0xfff
            table[index] = TLBEntry(tag: tag, hostOffset: hostPage &- page)
        }
        return Resolution(fault: 0, paddr: paddr, host: host)
    }

    func physicalAddress(ofHost host: UnsafeMutableRawPointer) -> UInt64 {
        let ramOffset = UInt64(UInt(bitPattern: host)) &- UInt64(UInt(bitPattern: ramHost))
        if ramOffset < ramSize { return ramBase &+ ramOffset }
        return romBase &+ (UInt64(UInt(bitPattern: host)) &- UInt64(UInt(bitPattern: romHost)))
    }

    // MARK: Slow loads and stores

    func raise(_ cause: UInt64, _ value: UInt64) {
        stop = .trap
        trapCause = cause
        trapValue = value
    }

    /// A load the TLB could not serve: translation, page-crossing, devices. Returns the zero-extended
    /// value; on a trap or a device access sets `stop`.
    @inline(never)
    func loadSlow(_ vaddr: UInt64, size: UInt64, destination: Int, kind: MMIOLoadKind, step: UInt64) -> UInt64 {
        let first = 4096 - (vaddr & 0xfff)
        if size <= first {
            let r = resolve(vaddr, size: size, kind: .load)
            if r.fault != 0 {
                raise(r.fault, vaddr)
                return 0
            }
            if let host = r.host { return readLittleEndian(host, size: size) }
            if vaddr & (size - 1) != 0 {
                raise(Cause.loadMisaligned, vaddr)
                return 0
            }
            pendingAccess = MMIOAccess(address: r.paddr, size: Int(size), isWrite: false, value: 0)
            pendingVirtualAddress = vaddr
            mmioDestination = destination
            mmioKind = kind
            mmioStep = step
            stop = .mmio
            return 0
        }
        let low = resolve(vaddr, size: first, kind: .load)
        if low.fault != 0 {
            raise(low.fault, vaddr)
            return 0
        }
        let high = resolve(vaddr &+ first, size: size - first, kind: .load)
        if high.fault != 0 {
            raise(high.fault, vaddr &+ first)
            return 0
        }
        guard let lowHost = low.host, let highHost = high.host else {
            raise(Cause.loadMisaligned, vaddr)
            return 0
        }
        return readLittleEndian(lowHost, size: first) | readLittleEndian(highHost, size: size - first) << (8 * first)
    }

    @inline(never)
    func storeSlow(_ vaddr: UInt64, size: UInt64, value: UInt64, step: UInt64) {
        let first = 4096 - (vaddr & 0xfff)
        if size <= first {
            let r = resolve(vaddr, size: size, kind: .store)
            if r.fault != 0 {
                raise(r.fault, vaddr)
                return
            }
            if let host = r.host {
                writeLittleEndian(host, size: size, value: value)
                return
            }
            if vaddr & (size - 1) != 0 {
                raise(Cause.storeMisaligned, vaddr)
                return
            }
            let mask: UInt64 = size == 8 ? .max : (1 << (8 * size)) - 1
            pendingAccess = MMIOAccess(address: r.paddr, size: Int(size), isWrite: true, value: value & mask)
            pendingVirtualAddress = vaddr
            mmioKind = .store
            mmioStep = step
            stop = .mmio
            return
        }
        let low = resolve(vaddr, size: first, kind: .store)
        if low.fault != 0 {
            raise(low.fault, vaddr)
            return
        }
        let high = resolve(vaddr &+ first, size: size - first, kind: .store)
        if high.fault != 0 {
            raise(high.fault, vaddr &+ first)
            return
        }
        guard let lowHost = low.host, let highHost = high.host else {
            raise(Cause.storeMisaligned, vaddr)
            return
        }
        writeLittleEndian(lowHost, size: first, value: value)
        writeLittleEndian(highHost, size: size - first, value: value >> (8 * first))
    }

    /// The host address for an LR/SC/AMO of `size` bytes (aligned, RAM only), or nil with a trap raised.
    @inline(never)
    func atomicAddress(_ vaddr: UInt64, size: UInt64, kind: AccessKind) -> UnsafeMutableRawPointer? {
        if vaddr & (size - 1) != 0 {
            raise(kind == .load ? Cause.loadMisaligned : Cause.storeMisaligned, vaddr)
            return nil
        }
        let r = resolve(vaddr, size: size, kind: kind)
        if r.fault != 0 {
            raise(r.fault, vaddr)
            return nil
        }
        guard let host = r.host else {
            raise(kind == .load ? Cause.loadAccess : Cause.storeAccess, vaddr)
            return nil
        }
        return host
    }

    @inline(__always)
    func readLittleEndian(_ host: UnsafeMutableRawPointer, size: UInt64) -> UInt64 {
        switch size {
        case 1: return UInt64(host.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: host.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: host.loadUnaligned(as: UInt32.self)))
        case 8: return UInt64(littleEndian: host.loadUnaligned(as: UInt64.self))
        default:
            var value: UInt64 = 0
            for index in 0..<Int(size) { value |= UInt64(host.load(fromByteOffset: index, as: UInt8.self)) << (8 * index) }
            return value
        }
    }

    @inline(__always)
    func writeLittleEndian(_ host: UnsafeMutableRawPointer, size: UInt64, value: UInt64) {
        switch size {
        case 1: host.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: host.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        case 4: host.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        case 8: host.storeBytes(of: value.littleEndian, as: UInt64.self)
        default:
            for index in 0..<Int(size) {
                host.storeBytes(of: UInt8(truncatingIfNeeded: value >> (8 * index)), toByteOffset: index, as: UInt8.self)
            }
        }
    }

    // MARK: Decoded-instruction cache

    /// A store of this hart reached physical memory: forget the decoded slots it overwrote.
    func noteStore(physical paddr: UInt64, size: UInt64) {
        guard let index = codeIndex(paddr), let page = codePages[index], codeGeneration[index] == generation else {
            return
        }
        let offset = Int(paddr & 0xfff)
        let firstSlot = max(0, offset - 2) >> 1
        let lastSlot = min(2047, (offset + Int(size) - 1) >> 1)
        if firstSlot <= lastSlot {
            for slot in firstSlot...lastSlot { page[slot] = DecodedInstruction(.undecoded) }
        }
        codeStores[index] &+= 1
        if codeStores[index] >= CodePage.storeLimit {
            // The page holds data now: detach it so its stores take the fast path again.
            codeGeneration[index] = 0
            if let host = hostAddress(physical: paddr & ~0xfff, size: 1) {
                dropStoreEntries(hostPage: UInt64(UInt(bitPattern: host)))
            }
            forgetRecentPages()  // so that running it again goes through enterPage, which re-decodes it
        }
    }

    /// Forgets every decoded instruction (FENCE.I).
    func invalidateCode() {
        generation &+= 1
        if generation == 0 { generation = 1 }
        flushStoreTLBs()
        forgetRecentPages()
    }

    func resetSlots(_ page: UnsafeMutablePointer<DecodedInstruction>) {
        page.update(repeating: DecodedInstruction(.undecoded), count: 2048)
        page[2048] = DecodedInstruction(.pageCross)
        page[2049] = DecodedInstruction(.pageCross)
    }

    /// Looks pc up for fetching and makes its decoded page current (`currentPage`). Returns false with a
    /// trap raised when pc cannot be fetched.
    @inline(never)
    func enterPage(_ pc: UInt64) -> Bool {
        if allocatedCodePages >= codePageLimit { dropCodeCache() }
        let pageBase = pc & ~0xfff
        let slot = Int((pc >> 12) & 0xff)
        // A fetch TLB entry exists only for pages PMP allows as a whole.
        var uniform = fetchTLB[slot].tag == pageBase
        let r = resolve(pc, size: 2, kind: .fetch)
        if r.fault != 0 {
            raise(r.fault, pc)
            return false
        }
        guard let host = r.host else {
            raise(Cause.fetchAccess, pc)
            return false
        }
        uniform = uniform || fetchTLB[slot].tag == pageBase
        if !uniform {
            let privilege = TLBLayout.setPrivilege[(fetchTLB - tlb) / TLBLayout.setStride]
            return enterSingleInstruction(pc, host: host, paddr: r.paddr, privilege: privilege)
        }
        let index = codeIndex(r.paddr)!
        let page: UnsafeMutablePointer<DecodedInstruction>
        if let existing = codePages[index] {
            page = existing
        } else {
            page = .allocate(capacity: CodePage.slots)
            page.initialize(repeating: DecodedInstruction(.undecoded), count: CodePage.slots)
            codePages[index] = page
            allocatedCodePages += 1
        }
        if codeGeneration[index] != generation {
            resetSlots(page)
            codeGeneration[index] = generation
            codeStores[index] = 0
            dropStoreEntries(hostPage: UInt64(UInt(bitPattern: host)) & ~0xfff)
        }
        currentPage = page
        recentPages[Int((pc >> 12) & RecentPage.mask)] = RecentPage(base: pageBase, key: slotKey(page, pc))
        return true
    }

    /// For a page that PMP does not allow uniformly: decodes the one instruction at pc into the scratch page,
    /// checking every byte it occupies.
    private func enterSingleInstruction(_ pc: UInt64, host: UnsafeMutableRawPointer, paddr: UInt64,
                                        privilege: UInt8) -> Bool {
        let low = host.loadUnaligned(as: UInt16.self)
        let length: UInt64 = low & 3 == 3 ? 4 : 2
        if length == 4 && pc & 0xfff <= 0xffc && !pmpAllows(paddr, size: 4, kind: .fetch, privilege: privilege) {
            raise(Cause.fetchAccess, pc)
            return false
        }
        straddlePage.update(repeating: DecodedInstruction(.pageCross), count: CodePage.slots)
        let slot = Int((pc & 0xfff) >> 1)
        if length == 2 {
            straddlePage[slot] = Decoder.decodeCompressed(low)
        } else if pc & 0xfff <= 0xffc {
            straddlePage[slot] = Decoder.decode(host.loadUnaligned(as: UInt32.self))
        } else {
            guard let high = fetchUpperHalf(pc) else { return false }
            straddlePage[slot] = Decoder.decode(UInt32(low) | UInt32(high) << 16)
        }
        currentPage = straddlePage
        return true
    }

    /// The halfword at pc + 2 on the next page, for an instruction straddling two pages.
    private func fetchUpperHalf(_ pc: UInt64) -> UInt16? {
        let next = pc &+ 2
        let r = resolve(next, size: 2, kind: .fetch)
        if r.fault != 0 {
            raise(r.fault, next)
            return nil
        }
        guard let host = r.host else {
            raise(Cause.fetchAccess, next)
            return nil
        }
        return host.loadUnaligned(as: UInt16.self)
    }

    /// Decodes the slot at pc of the current page. Returns the page to run from (the scratch page for an
    /// instruction straddling two pages), or nil with a trap raised.
    @inline(never)
    func decodeSlot(_ pc: UInt64, page: UnsafeMutablePointer<DecodedInstruction>)
        -> UnsafeMutablePointer<DecodedInstruction>? {
        let offset = pc & 0xfff
        // The loop may have reached this page without `enterPage` (a jump to a recent page): translate again.
        let r = resolve(pc, size: 2, kind: .fetch)
        if r.fault != 0 {
            raise(r.fault, pc)
            return nil
        }
        guard let host = r.host else {
            raise(Cause.fetchAccess, pc)
            return nil
        }
        let low = host.loadUnaligned(as: UInt16.self)
        let slot = Int(offset >> 1)
        if low & 3 != 3 {
            page[slot] = Decoder.decodeCompressed(low)
            return page
        }
        if offset <= 0xffc {
            page[slot] = Decoder.decode(host.loadUnaligned(as: UInt32.self))
            return page
        }
        guard let high = fetchUpperHalf(pc) else { return nil }
        straddlePage[2047] = Decoder.decode(UInt32(low) | UInt32(high) << 16)
        return straddlePage
    }

    /// Frees every decoded page. Only called where the loop is about to replace its page pointer.
    func dropCodeCache() {
        for index in 0..<codePageCount {
            codePages[index]?.deallocate()
            codePages[index] = nil
            codeGeneration[index] = 0
        }
        allocatedCodePages = 0
        flushStoreTLBs()
        forgetRecentPages()
    }
}
