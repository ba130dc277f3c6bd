import Glibc

/// The hart's caches in a checkpoint (`HartSnapshot.tlb`, `recentCodePages`, `decodedPages`): saved without
/// host addresses, put back with them recomputed and every physical page checked against RAM and ROM.
///
/// What is kept is what the guest can tell apart: which translations are cached (a hit uses the cached one, a
/// miss walks the page table as it is now and sets A/D bits), which slots of which decoded pages hold an
/// instruction and the bytes the pages were decoded from (a decoded slot runs as decoded, whoever rewrote
/// its bytes since; an undecoded one is decoded from memory when reached; after a FENCE.I a page whose bytes
/// are unchanged keeps its slots), the pages' FENCE.I generation (current or older) and this hart's store
/// count into each (at `CodePage.storeLimit` a page is detached, which drops its store entries). What is
/// derived is rebuilt: the TLB tags' code and watch markers, the largest leaf size, the store epochs.
/// The bytes a page was decoded from are kept as their difference from RAM, so a restore reads RAM: RAM must
/// be back at the checkpoint before the harts are.
extension HartSnapshot {
    /// A translation the hart cached: a TLB entry, or a recently entered code page (`kind` fetch).
    public struct Translation: Equatable {
        /// The TLB set: 0 M-mode (untranslated), 1 S-mode, 2 S-mode with SUM, 3 U-mode.
        public var set: Int
        /// 0 fetch, 1 load, 2 store.
        public var kind: Int
        public var virtualPage: UInt64
        public var physicalPage: UInt64
        /// The size of the leaf that maps it as a power of two (12, 21, 30, 39), 64 where nothing is translated.
        public var pageShift: Int

        public init(set: Int, kind: Int, virtualPage: UInt64, physicalPage: UInt64, pageShift: Int) {
            (self.set, self.kind, self.virtualPage, self.physicalPage, self.pageShift) =
                (set, kind, virtualPage, physicalPage, pageShift)
        }

        /// The page shifts a translation can have.
        public static let pageShifts: Set<Int> = [12, 21, 30, 39, 64]
    }

    /// A page of the decoded-instruction cache.
    public struct DecodedPage: Equatable {
        public var physicalPage: UInt64
        /// Filled since the last FENCE.I (false: from before one, or detached as data).
        public var current: Bool
        /// This hart's stores into the page since it became current (0 for a page that is not).
        public var stores: UInt32
        /// Bit i (bit i % 8 of byte i / 8) set: halfword slot i holds a decoded instruction. Trailing zero bytes
        /// are left out.
        public var decodedSlots: [UInt8]
        /// The bytes the page was decoded from where they differ from RAM.
        public var decodedFrom: [CodeBytes]

        public init(physicalPage: UInt64, current: Bool, stores: UInt32, decodedSlots: [UInt8], decodedFrom: [CodeBytes]) {
            (self.physicalPage, self.current, self.stores, self.decodedSlots, self.decodedFrom) =
                (physicalPage, current, stores, decodedSlots, decodedFrom)
        }

        public func isDecoded(_ slot: Int) -> Bool {
            slot >> 3 < decodedSlots.count && decodedSlots[slot >> 3] & (1 << (slot & 7)) != 0
        }
    }

    /// Bytes at an offset of a page.
    public struct CodeBytes: Equatable {
        public var offset: Int
        public var bytes: [UInt8]

        public init(offset: Int, bytes: [UInt8]) { (self.offset, self.bytes) = (offset, bytes) }
    }
}

/// The caches of a snapshot, checked against this hart and ready to install: nothing of the hart changes
/// until `installCaches`.
struct PreparedCaches {
    struct Page {
        var index: Int
        /// Its RAM or ROM bytes.
        var host: UnsafeMutableRawPointer
        var saved: HartSnapshot.DecodedPage
    }

    struct Entry {
        var slot: Int
        var virtualPage: UInt64
        var physicalPage: UInt64
        var mask: UInt64
    }

    var pages: [Page] = []
    var tlb: [Entry] = []
    var recent: [Entry] = []
}

extension Hart {
    // MARK: Saving

    /// The valid TLB entries, in slot order.
    func savedTranslations() -> [HartSnapshot.Translation] {
        (0..<TLBLayout.totalEntries).compactMap { slot in
            let entry = tlb[slot]
            guard entry.tag != TLBEntry.invalid.tag else { return nil }
            // The markers are below the page bits.
            let page = entry.tag & ~0xfff
            // A device's entry holds the physical page's offset, others the host page's.
            let physical = entry.tag & TLBEntry.deviceMarker != 0 ? page &+ entry.hostOffset
                : physicalAddress(ofHost: UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: page &+ entry.hostOffset))!)
            return HartSnapshot.Translation(
                set: slot / TLBLayout.setStride, kind: slot % TLBLayout.setStride / TLBLayout.entries,
                virtualPage: page, physicalPage: physical, pageShift: pageShift(tlbPageMasks[slot]))
        }
    }

    /// The recently entered code pages, in slot order, and every decoded page.
    func savedCode() -> (recent: [HartSnapshot.Translation], pages: [HartSnapshot.DecodedPage]) {
        var pages: [HartSnapshot.DecodedPage] = []
        var physicalPages: [UInt: UInt64] = [:]
        for index in 0..<codePageCount {
            guard let page = codePages[index] else { continue }
            let physical = physicalPage(ofCodeIndex: index)
            let current = codeGeneration[index] == generation
            physicalPages[UInt(bitPattern: page)] = physical
            var slots = [UInt8](repeating: 0, count: 256)
            var used = 0
            for slot in 0..<2048 where page[slot].op != .undecoded {
                slots[slot >> 3] |= 1 << (slot & 7)
                used = (slot >> 3) + 1
            }
            slots.removeLast(256 - used)
            // Only a current page counts stores (one detached at `CodePage.storeLimit` keeps its count).
            pages.append(HartSnapshot.DecodedPage(
                physicalPage: physical, current: current, stores: current ? codeStores[index] : 0,
                decodedSlots: slots, decodedFrom: differences(CodePage.snapshot(page), hostAddress(physical: physical, size: 4096)!)))
        }
        var recent: [HartSnapshot.Translation] = []
        for set in 0..<TLBLayout.sets {
            for index in 0..<RecentPage.count {
                let entry = recentPageSets[set * RecentPage.count + index]
                guard entry.base != RecentPage.invalid.base else { continue }
                // The key places the page's slots under the page's addresses (`slotKey`); a recent page is always a
                // current decoded page (every change to the cache forgets them all).
                guard let physical = physicalPages[entry.key &+ UInt(truncatingIfNeeded: entry.base) &<< 2] else { continue }
                recent.append(HartSnapshot.Translation(
                    set: set, kind: AccessKind.fetch.rawValue, virtualPage: entry.base, physicalPage: physical,
                    pageShift: pageShift(recentPageMasks[set * RecentPage.count + index])))
            }
        }
        return (recent, pages)
    }

    /// The runs of 8-byte words where `snapshot` differs from `memory` (4 KiB each), with the snapshot's bytes.
    private func differences(_ snapshot: UnsafeMutableRawPointer, _ memory: UnsafeMutableRawPointer) -> [HartSnapshot.CodeBytes] {
        guard memcmp(snapshot, memory, 4096) != 0 else { return [] }
        func differs(_ word: Int) -> Bool {
            snapshot.loadUnaligned(fromByteOffset: 8 * word, as: UInt64.self)
                != memory.loadUnaligned(fromByteOffset: 8 * word, as: UInt64.self)
        }
        var runs: [HartSnapshot.CodeBytes] = []
        var word = 0
        while word < 512 {
            guard differs(word) else {
                word += 1
                continue
            }
            let first = word
            while word < 512 && differs(word) { word += 1 }
            runs.append(HartSnapshot.CodeBytes(
                offset: 8 * first, bytes: Array(UnsafeRawBufferPointer(start: snapshot + 8 * first, count: 8 * (word - first)))))
        }
        return runs
    }

    private func pageShift(_ mask: UInt64) -> Int { 64 - mask.leadingZeroBitCount }

    private func physicalPage(ofCodeIndex index: Int) -> UInt64 {
        let ramPages = Int(ramSize >> 12)
        return index < ramPages ? ramBase &+ UInt64(index) << 12 : romBase &+ UInt64(index - ramPages) << 12
    }

    // MARK: Restoring

    /// `s`'s caches checked against this hart (its RAM, ROM and the bytes now in them), or an error naming what
    /// does not fit. Changes nothing.
    func preparedCaches(_ s: HartSnapshot) throws -> PreparedCaches {
        let what = "hart \(s.hartID) snapshot"
        var prepared = PreparedCaches()
        var pageIndices: [UInt64: Int] = [:]
        let pageLimit = min(codePageLimit, CodePage.allocationLimit)
        guard s.decodedPages.count <= pageLimit else {
            throw HartSnapshotError("\(what): \(s.decodedPages.count) decoded pages, this hart holds at most \(pageLimit)")
        }
        for saved in s.decodedPages {
            let page = "\(what): decoded page 0x\(String(saved.physicalPage, radix: 16))"
            guard saved.physicalPage & 0xfff == 0, let index = codeIndex(saved.physicalPage),
                  let host = hostAddress(physical: saved.physicalPage, size: 4096) else {
                throw HartSnapshotError("\(page) is not a page of RAM or ROM")
            }
            guard pageIndices.updateValue(prepared.pages.count, forKey: saved.physicalPage) == nil else {
                throw HartSnapshotError("\(page) is there twice")
            }
            guard saved.stores < CodePage.storeLimit && (saved.current || saved.stores == 0), saved.decodedSlots.count <= 256 else {
                throw HartSnapshotError("\(page): store count or slot map out of range")
            }
            var lastHalfword = host.load(fromByteOffset: 4094, as: UInt8.self)
            for run in saved.decodedFrom {
                guard run.offset >= 0, run.offset <= 4096, run.bytes.count <= 4096 - run.offset else {
                    throw HartSnapshotError("\(page): bytes beyond the page")
                }
                if (run.offset..<run.offset + run.bytes.count).contains(4094) { lastHalfword = run.bytes[4094 - run.offset] }
            }
            // Only a compressed instruction is decoded in the page's last slot (a longer one spans two pages).
            if saved.isDecoded(2047) && lastHalfword & 3 == 3 {
                throw HartSnapshotError("\(page): an instruction decoded across the page's end")
            }
            prepared.pages.append(PreparedCaches.Page(index: index, host: host, saved: saved))
        }
        func entry(_ t: HartSnapshot.Translation, _ name: String) throws -> PreparedCaches.Entry {
            let at = "\(what): \(name) for 0x\(String(t.virtualPage, radix: 16))"
            guard (0..<TLBLayout.sets).contains(t.set), (0..<TLBLayout.kinds).contains(t.kind),
                  HartSnapshot.Translation.pageShifts.contains(t.pageShift), t.virtualPage & 0xfff == 0 else {
                throw HartSnapshotError("\(at): set, kind, page size or address out of range")
            }
            let mask: UInt64 = t.pageShift == 64 ? .max : (1 << t.pageShift) - 1
            // A page maps at the same offset within its leaf; M-mode translates nothing.
            guard (t.virtualPage ^ t.physicalPage) & mask & ~0xfff == 0, t.set != 0 || t.pageShift == 64 else {
                throw HartSnapshotError("\(at): the physical page 0x\(String(t.physicalPage, radix: 16)) does not fit the leaf")
            }
            let device = t.kind != AccessKind.fetch.rawValue && hostAddress(physical: t.physicalPage, size: 4096) == nil
                && isDevicePage(t.physicalPage)
            guard t.physicalPage & 0xfff == 0, hostAddress(physical: t.physicalPage, size: 4096) != nil || device,
                  t.kind != AccessKind.store.rawValue || !isROM(t.physicalPage) else {
                let allowed = t.kind == AccessKind.fetch.rawValue ? "RAM or ROM"
                    : t.kind == AccessKind.store.rawValue ? "RAM or a device's" : "RAM, ROM or a device's"
                throw HartSnapshotError("\(at): the physical page 0x\(String(t.physicalPage, radix: 16)) is not \(allowed)")
            }
            return PreparedCaches.Entry(slot: 0, virtualPage: t.virtualPage, physicalPage: t.physicalPage, mask: mask)
        }
        var used = Set<Int>()
        for t in s.tlb {
            var e = try entry(t, "TLB entry")
            e.slot = t.set * TLBLayout.setStride + t.kind * TLBLayout.entries + Int((t.virtualPage >> 12) & TLBLayout.indexMask)
            guard used.insert(e.slot).inserted else { throw HartSnapshotError("\(what): two TLB entries in one slot") }
            prepared.tlb.append(e)
        }
        used = []
        for t in s.recentCodePages {
            var e = try entry(t, "recent code page")
            guard t.kind == AccessKind.fetch.rawValue, let page = pageIndices[t.physicalPage], prepared.pages[page].saved.current else {
                throw HartSnapshotError("\(what): the recent code page 0x\(String(t.virtualPage, radix: 16)) is not a current decoded page")
            }
            e.slot = t.set * RecentPage.count + Int((t.virtualPage >> 12) & RecentPage.mask)
            guard used.insert(e.slot).inserted else { throw HartSnapshotError("\(what): two recent code pages in one slot") }
            prepared.recent.append(e)
        }
        return prepared
    }

    /// Replaces the decoded-instruction cache, the TLB and the recent code pages with `caches`. The PMP rules,
    /// the watched pages and the breakpoints must be the ones the hart runs with (the markers and breakpoint
    /// slots are derived from them).
    func installCaches(_ caches: PreparedCaches) {
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 8)
        defer { bytes.deallocate() }
        // Decoded pages live in the arena, which `dropCodeCache` hands out afresh from its start: a page that is
        // already as the snapshot has it is copied aside first and back into its new place. Going back to a
        // recent checkpoint, most pages are as they were: decoded from the same bytes, the same slots decoded (a
        // slot's decoding depends on its bytes alone).
        var keptAt = [Int?](repeating: nil, count: caches.pages.count)
        var kept = 0
        for (position, prepared) in caches.pages.enumerated() {
            guard let existing = codePages[prepared.index] else { continue }
            decodedBytes(prepared, into: bytes)
            if memcmp(CodePage.snapshot(existing), bytes, 4096) == 0
                && (0..<2048).allSatisfy({ (existing[$0].op != .undecoded) == prepared.saved.isDecoded($0) }) {
                keptAt[position] = kept
                kept += 1
            }
        }
        let aside = UnsafeMutablePointer<DecodedInstruction>.allocate(capacity: max(1, kept) * CodePage.capacity)
        defer { aside.deallocate() }
        for (position, prepared) in caches.pages.enumerated() {
            if let k = keptAt[position] {
                (aside + k * CodePage.capacity).initialize(from: codePages[prepared.index]!, count: CodePage.capacity)
            }
        }
        dropCodeCache()
        currentPage = lookupPage
        flushAllTLBs()
        for (position, prepared) in caches.pages.enumerated() {
            let page = codeArena.allocate()!  // `preparedCaches` checked the count
            if let k = keptAt[position] {
                page.initialize(from: aside + k * CodePage.capacity, count: CodePage.capacity)
                // Translated blocks went with the dropped cache: their slots hold their first instructions again.
                untranslate(page)
                install(page, prepared)
                continue
            }
            decodedBytes(prepared, into: bytes)
            CodePage.snapshot(page).copyMemory(from: bytes, byteCount: 4096)
            let saved = prepared.saved
            for (byteIndex, byte) in saved.decodedSlots.enumerated() where byte != 0 {
                for bit in 0..<8 where byte & (1 << bit) != 0 {
                    let slot = byteIndex * 8 + bit
                    page[slot] = decodedAgain(page, slot: slot)
                }
            }
            install(page, prepared)
        }
        for e in caches.tlb {
            let kind = e.slot % TLBLayout.setStride / TLBLayout.entries
            var tag = e.virtualPage
            if kind == AccessKind.store.rawValue && isCodePage(e.physicalPage) { tag |= TLBEntry.codeMarker }
            if kind != AccessKind.fetch.rawValue && watchedPages.contains(e.physicalPage) { tag |= TLBEntry.watchMarker }
            if let host = hostAddress(physical: e.physicalPage, size: 4096) {
                tlb[e.slot] = TLBEntry(tag: tag, hostOffset: UInt64(UInt(bitPattern: host)) &- e.virtualPage)
            } else {  // a device's page (`preparedCaches` checked)
                tlb[e.slot] = TLBEntry(tag: e.virtualPage | TLBEntry.deviceMarker, hostOffset: e.physicalPage &- e.virtualPage)
            }
            tlbPageMasks[e.slot] = e.mask
            if e.slot >= TLBLayout.setStride { largestLeafMask = max(largestLeafMask, e.mask) }
            if kind == AccessKind.store.rawValue, let code = codeIndex(e.physicalPage) { storeEntryEpochs[code] = storeEpoch }
        }
        for e in caches.recent {
            let page = codePages[codeIndex(e.physicalPage)!]!
            recentPageSets[e.slot] = RecentPage(base: e.virtualPage, key: slotKey(page, e.virtualPage))
            recentPageMasks[e.slot] = e.mask
            if e.slot >= RecentPage.count { largestLeafMask = max(largestLeafMask, e.mask) }
        }
    }

    /// The bytes a saved page was decoded from: RAM with the snapshot's differences over it.
    private func decodedBytes(_ prepared: PreparedCaches.Page, into bytes: UnsafeMutableRawPointer) {
        bytes.copyMemory(from: prepared.host, byteCount: 4096)
        for run in prepared.saved.decodedFrom where !run.bytes.isEmpty {
            run.bytes.withUnsafeBytes { (bytes + run.offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    private func install(_ page: UnsafeMutablePointer<DecodedInstruction>, _ prepared: PreparedCaches.Page) {
        codePages[prepared.index] = page
        codeGeneration[prepared.index] = prepared.saved.current ? generation : 0
        codeStores[prepared.index] = prepared.saved.stores
        allocatedCodePages += 1
    }
}
