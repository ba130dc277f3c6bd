import Glibc

enum CodePage {
    /// One slot per halfword, plus two sentinel slots (`pageCross`) after the page's last halfword.
    static let slots = 2050
    /// More instructions than can run in a row without a control transfer or a slow step (see
    /// `DispatchMode`): a page holds at most 2048, and its sentinel slots leave the loop.
    static let straightLineLimit = slots
    /// How far (in bytes) decoding an instruction also decodes those that follow it.
    static let decodeAhead = 64
    /// How far (in bytes) before one of its instructions a fused slot (a pair or a run, `fusePairs`) may start: it
    /// spans at most 8 bytes (see `forget`).
    static let fusedReachBack = 6
    /// Own stores into a decoded page after which it is dropped from the cache (it holds data now).
    static let storeLimit: UInt32 = 256
    /// Decoded pages allocated before the whole cache is dropped (at most 80 MiB of 20 KiB pages).
    static let allocationLimit = 4096
    /// A decoded page's allocation: its slots, then the bytes its instructions were decoded from (the snapshot).
    static let capacity = slots + 4096 / MemoryLayout<DecodedInstruction>.stride

    /// Every slot of `page` undecoded, then its two sentinels.
    static func resetSlots(_ page: UnsafeMutablePointer<DecodedInstruction>) {
        page.initialize(repeating: DecodedInstruction(.undecoded), count: 2048)
        page[2048] = DecodedInstruction(.pageCross)
        page[2049] = DecodedInstruction(.pageCross)
    }

    /// Forgets the decoded slots of the instructions at page offsets `first...last` (bytes) and of every slot before
    /// them whose instructions reach into those bytes: an instruction that overlaps them, a fused slot (`Op.isFused`,
    /// at most 8 bytes) that runs one of them. A fused slot reads its later instructions' own slots as it runs (an
    /// access run's stores, a branch pair's branch), so one whose later instruction is forgotten is forgotten too, and
    /// so on back. (Forgetting a fixed 6 bytes back left a run that started further back running a forgotten slot's
    /// fields: a breakpoint set on a Linux guest made a later function save the wrong register.)
    /// With `replacement`, a decoded slot forgotten becomes what it gives for the slot instead (see `breakpointsChanged`).
    /// A translated block (`Op.translated`) that covers any of those bytes is forgotten too, unless `keepingBlocks`.
    static func forget(_ page: UnsafeMutablePointer<DecodedInstruction>, from first: Int, through last: Int,
                       keepingBlocks: Bool = false, replacement: ((Int) -> DecodedInstruction)? = nil) {
        func forget(_ slot: Int) {
            page[slot] = page[slot].op == .undecoded ? page[slot] : replacement?(slot) ?? DecodedInstruction(.undecoded)
        }
        if !keepingBlocks {
            for slot in max(0, (first - BlockTranslator.maxReach) >> 1)..<(first >> 1)
            where page[slot].op == .translated && slot + Int(page[slot].rs1) > first >> 1 {
                forget(slot)
            }
        }
        var lowest = first >> 1
        for slot in lowest...(min(last, 0xfff) >> 1) { forget(slot) }
        var slot = lowest - 1
        while slot >= 0 && 2 * (lowest - slot) <= fusedReachBack {
            let op = page[slot].op
            let reach = op.isFused ? fusedReachBack + 2 : Int(op.length)
            if op != .undecoded && 2 * (lowest - slot) < reach {
                forget(slot)
                lowest = slot
            }
            slot -= 1
        }
    }

    /// The instruction at page offset `offset` of a page's bytes (its snapshot), decoded alone, and its length; nil for
    /// a 4-byte one that does not fit the page (it straddles into the next, and is never decoded in this one).
    static func instruction(in bytes: UnsafeRawPointer, at offset: Int) -> (DecodedInstruction, Int)? {
        let low = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        if low & 3 != 3 { return (Decoder.decodeCompressed(low), 2) }
        guard offset <= 0xffc else { return nil }
        return (Decoder.decode(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)), 4)
    }

    /// The snapshot of a decoded page (see `enterPage`).
    @inline(__always)
    static func snapshot(_ page: UnsafeMutablePointer<DecodedInstruction>) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(page + slots)
    }

    /// A page of `pageCross` slots that holds no page's code (the hart's lookup, straddle and alone-slot pages), its
    /// snapshot zeroed: nothing in it is ever read uninitialized.
    static func scratch() -> UnsafeMutablePointer<DecodedInstruction> {
        let page = UnsafeMutablePointer<DecodedInstruction>.allocate(capacity: capacity)
        page.initialize(repeating: DecodedInstruction(.pageCross), count: slots)
        snapshot(page).initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return page
    }
}

/// Where decoded pages live: one mapping reserved for `CodePage.allocationLimit` of them, handed out in order and
/// taken back all at once (`dropCodeCache`). Kernel code spreads over hundreds of decoded pages; from separate
/// heap blocks each cost the host five page faults when first filled. Not advised as huge pages: on hosts whose
/// fresh 2 MiB pages are slow to come by (this project's VMs: the host zeroing them took 18-22% of a 1-hart Linux
/// boot's CPU time in most runs), 4 KiB faults for the few MiB a boot fills cost far less.
struct CodePageArena {
    /// Bytes per decoded page, whole cache lines.
    static let stride = (CodePage.capacity * MemoryLayout<DecodedInstruction>.stride + 63) & ~63
    /// How much of the mapping the host backs in one go (`populate`): about a dozen decoded pages.
    static let populateChunk = 256 << 10
    let base: UnsafeMutableRawPointer
    let bytes: Int
    private let mapped: Bool
    private var used = 0
    /// Pages handed out since the mapping was made: those after them were never written.
    private var everUsed = 0
    /// Bytes from `base` on that the host backs already (`populate`), and whether it can (Linux 5.14 on).
    private var populated = 0
    private var populating: Bool

    init() {
        bytes = CodePage.allocationLimit * CodePageArena.stride
        // Reserved, not committed: the host backs only the pages filled.
        if let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
           mapping != MAP_FAILED {
            base = mapping
            mapped = true
        } else {
            base = .allocate(byteCount: bytes, alignment: 64)
            mapped = false
        }
        populating = mapped
    }

    /// The next unused page, its slots undecoded but for the two sentinels after them (its snapshot
    /// uninitialised); nil when all are in use. A page never handed out is not written but for its sentinels: the
    /// host backed it with zeros (`populate`), and a zero slot is undecoded.
    mutating func allocate() -> UnsafeMutablePointer<DecodedInstruction>? {
        guard used < CodePage.allocationLimit else { return nil }
        defer { used += 1 }
        let page = (base + used * CodePageArena.stride).bindMemory(to: DecodedInstruction.self,
                                                                    capacity: CodePage.capacity)
        if used >= everUsed && populate(through: (used + 1) * CodePageArena.stride) {
            everUsed = used + 1
            page[2048] = DecodedInstruction(.pageCross)
            page[2049] = DecodedInstruction(.pageCross)
        } else {
            CodePage.resetSlots(page)
        }
        return page
    }

    /// Has the host back the mapping's first `end` bytes, zero-filled and writable, a chunk at a time: one call
    /// instead of a page fault for each 4 KiB as decoding first writes it (or two: a read maps the zero page first),
    /// about five per decoded page, 2,400 of a 1-hart Linux boot's 7,200 faults. False when the host cannot.
    private mutating func populate(through end: Int) -> Bool {
        guard populating else { return false }
        if end <= populated { return true }
        let next = min(bytes, (end + CodePageArena.populateChunk - 1) / CodePageArena.populateChunk
                       * CodePageArena.populateChunk)
        guard madvise(base + populated, next - populated, MADV_POPULATE_WRITE) == 0 else {
            populating = false
            return false
        }
        populated = next
        return true
    }

    /// Every page is free again (their contents are stale: `allocate` resets a page handed out before).
    mutating func reset() {
        used = 0
    }

    func release() {
        if mapped { munmap(base, bytes) } else { base.deallocate() }
    }
}

/// A page `enterPage` made current, remembered so that jumps back to it skip the lookup. Each fetch TLB set
/// (privilege) has its own, so traps and returns keep them. Valid while translation, PMP and the decoded cache
/// stay as they were: every change flushes them all.
struct RecentPage {
    var base: UInt64
    var key: UInt

    static let invalid = RecentPage(base: .max, key: 0)
    /// Per set, direct-mapped by page number: as many as a kernel's hot text spans without conflicts (a Linux
    /// boot looked pages up 30K times with 256, 5.6K with 1024).
    static let count = 1024
    static let mask: UInt64 = 1023
}

extension Hart {
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

    func forgetRecentPages() {
        recentPageSets.update(repeating: .invalid, count: RecentPage.count * TLBLayout.sets)
    }

    /// A store of this hart reached physical memory: forget the decoded slots it overwrote.
    func noteStore(physical paddr: UInt64, size: UInt64) {
        guard let index = codeIndex(paddr), let page = codePages[index], codeGeneration[index] == generation else {
            return
        }
        let offset = Int(paddr & 0xfff)
        CodePage.forget(page, from: offset, through: offset + Int(size) - 1)
        codeStores[index] &+= 1
        if codeStores[index] >= CodePage.storeLimit {
            // The page holds data now: detach it so its stores take the fast path again.
            counters.codePagesDetached &+= 1
            codeGeneration[index] = 0
            if let host = hostAddress(physical: paddr & ~0xfff, size: 1) {
                dropStoreEntries(codeIndex: index, hostPage: UInt64(UInt(bitPattern: host)))
            }
            forgetRecentPages()  // so that running it again goes through enterPage, which re-decodes it
        }
    }

    /// Forgets every decoded instruction (FENCE.I).
    func invalidateCode() {
        counters.codeFlushes &+= 1
        generation &+= 1
        if generation == 0 { generation = 1 }
        flushStoreTLBs()
        forgetRecentPages()
    }

    /// Looks pc up for fetching and makes its decoded page current (`currentPage`). Returns false with a
    /// trap raised when pc cannot be fetched.
    @inline(never)
    func enterPage(_ pc: UInt64) -> Bool {
        if allocatedCodePages >= min(codePageLimit, CodePage.allocationLimit) { dropCodeCache() }
        counters.pagesEntered &+= 1
        let pageBase = pc & ~0xfff
        let slot = Int((pc >> 12) & TLBLayout.indexMask)
        // A fetch TLB entry exists only for pages PMP allows as a whole.
        var uniform = fetchTLB[slot].tag == pageBase
        guard let (host, paddr) = resolveFetch(pc) else { return false }
        uniform = uniform || fetchTLB[slot].tag == pageBase
        if !uniform {
            let privilege = TLBLayout.setPrivilege[(fetchTLB - tlb) / TLBLayout.setStride]
            return enterSingleInstruction(pc, host: host, paddr: paddr, privilege: privilege, breakpointSlot: true)
        }
        let index = codeIndex(paddr)!
        let page: UnsafeMutablePointer<DecodedInstruction>
        var fresh = false
        if let existing = codePages[index] {
            page = existing
        } else {
            page = codeArena.allocate()!  // fewer than `CodePage.allocationLimit` are in use (above)
            codePages[index] = page
            allocatedCodePages += 1
            fresh = true
        }
        if codeGeneration[index] != generation {
            // A page from before a FENCE.I (or detached) keeps its decoded slots when its bytes are still those
            // they were decoded from: every decoded slot's bytes are in the snapshot (`decodeStraightLine`), so an
            // equal page has nothing stale, whoever wrote to it meanwhile. Otherwise it is decoded afresh.
            let hostPage = host - Int(pc & 0xfff)
            let snapshot = CodePage.snapshot(page)
            if fresh || memcmp(snapshot, hostPage, 4096) != 0 {
                counters.codePageResets &+= 1
                if !fresh { CodePage.resetSlots(page) }  // `allocate` reset a fresh one
                snapshot.copyMemory(from: hostPage, byteCount: 4096)
            } else {
                counters.codePagesKept &+= 1
            }
            codeGeneration[index] = generation
            codeStores[index] = 0
            dropStoreEntries(codeIndex: index, hostPage: UInt64(UInt(bitPattern: hostPage)))
        }
        currentPage = page
        let recent = Int((pc >> 12) & RecentPage.mask)
        recentPages[recent] = RecentPage(base: pageBase, key: slotKey(page, pc))
        recentPageMasks[recentPages - recentPageSets + recent] = tlbPageMasks[fetchTLB - tlb + slot]
        return true
    }

    /// For a page that PMP does not allow uniformly: decodes the one instruction at pc into the scratch page,
    /// checking every byte it occupies. With `breakpointSlot`, a breakpoint slot (`Op.breakpoint`) where one
    /// belongs instead of the instruction.
    private func enterSingleInstruction(_ pc: UInt64, host: UnsafeMutableRawPointer, paddr: UInt64,
                                        privilege: PrivilegeMode, breakpointSlot: Bool) -> Bool {
        let low = host.loadUnaligned(as: UInt16.self)
        let length: UInt64 = low & 3 == 3 ? 4 : 2
        if length == 4 && pc & 0xfff <= 0xffc && !pmpAllows(paddr, size: 4, kind: .fetch, privilege: privilege) {
            raise(Cause.fetchAccess, pc)
            return false
        }
        straddlePage.update(repeating: DecodedInstruction(.pageCross), count: CodePage.slots)
        let slot = Int((pc & 0xfff) >> 1)
        currentPage = straddlePage
        if breakpointSlot && isBreakpointSlot(slot) {
            straddlePage[slot] = DecodedInstruction(.breakpoint)
        } else if length == 2 {
            straddlePage[slot] = Decoder.decodeCompressed(low)
        } else if pc & 0xfff <= 0xffc {
            straddlePage[slot] = Decoder.decode(host.loadUnaligned(as: UInt32.self))
        } else {
            guard let high = fetchUpperHalf(pc) else { return false }
            straddlePage[slot] = Decoder.decode(UInt32(low) | UInt32(high) << 16)
        }
        return true
    }

    /// Decodes the instruction at pc alone into the scratch page, never as a breakpoint slot: running it once
    /// past a breakpoint slot. Returns false with a trap raised when pc cannot be fetched.
    func decodeAlone(_ pc: UInt64) -> Bool {
        guard let (host, paddr) = resolveFetch(pc) else { return false }
        let privilege = TLBLayout.setPrivilege[(fetchTLB - tlb) / TLBLayout.setStride]
        return enterSingleInstruction(pc, host: host, paddr: paddr, privilege: privilege, breakpointSlot: false)
    }

    /// pc translated for fetching (its host bytes and physical address), or nil with a trap raised.
    private func resolveFetch(_ pc: UInt64) -> (host: UnsafeMutableRawPointer, paddr: UInt64)? {
        let r = resolve(pc, size: 2, kind: .fetch)
        if r.fault != 0 {
            raise(r.fault, pc)
            return nil
        }
        guard let host = r.host else {
            raise(Cause.fetchAccess, pc)
            return nil
        }
        return (host, r.paddr)
    }

    /// Whether the slot (halfword index in its page) holds a breakpoint slot rather than its instruction.
    @inline(__always)
    func isBreakpointSlot(_ slot: Int) -> Bool {
        !breakpointSlots.isEmpty && breakpointSlots.contains(slot)
    }

    /// A breakpoint was set or removed: every page marks the slots of the breakpoints' page offsets, whatever
    /// virtual page it was decoded for (one physical page may run under several), so the slot at that offset is
    /// decoded again in every decoded page, those from before a FENCE.I too (`enterPage` may keep them). At once,
    /// from the bytes it was decoded from, with the fused slots that reach it (then unfused): which slots are decoded
    /// is part of what the guest's run depends on (a look for a spin loop reads only decoded slots), and a debugger
    /// must change nothing of it.
    func breakpointsChanged(_ pc: UInt64) {
        breakpointSlots = Set(breakpoints.map { Int(($0 & 0xfff) >> 1) })
        let offset = Int(pc & 0xffe)
        for index in 0..<codePageCount {
            guard let page = codePages[index] else { continue }
            CodePage.forget(page, from: offset, through: offset) { self.decodedAgain(page, slot: $0) }
        }
    }

    /// The slot `slot` of `page` decoded again alone, from the bytes it was decoded from (the page's snapshot), or a
    /// breakpoint slot where one belongs.
    func decodedAgain(_ page: UnsafeMutablePointer<DecodedInstruction>, slot: Int) -> DecodedInstruction {
        if isBreakpointSlot(slot) { return DecodedInstruction(.breakpoint) }
        guard let (decoded, _) = CodePage.instruction(in: CodePage.snapshot(page), at: 2 * slot) else {
            return DecodedInstruction(.undecoded)
        }
        return Decoder.placed(decoded, offset: 2 * slot)
    }

    /// The halfword at pc + 2 on the next page, for an instruction straddling two pages.
    private func fetchUpperHalf(_ pc: UInt64) -> UInt16? {
        resolveFetch(pc &+ 2)?.host.loadUnaligned(as: UInt16.self)
    }

    /// Decodes the slot at pc of the current page. Returns the page to run from (the scratch page for an
    /// instruction straddling two pages), or nil with a trap raised.
    @inline(never)
    func decodeSlot(_ pc: UInt64, page: UnsafeMutablePointer<DecodedInstruction>)
        -> UnsafeMutablePointer<DecodedInstruction>? {
        let offset = pc & 0xfff
        // The loop may have reached this page without `enterPage` (a jump to a recent page): translate again.
        guard let (host, _) = resolveFetch(pc) else { return nil }
        let low = host.loadUnaligned(as: UInt16.self)
        if low & 3 != 3 || offset <= 0xffc {
            decodeStraightLine(page: page, host: host - Int(offset), from: Int(offset))
            return page
        }
        guard let high = fetchUpperHalf(pc) else { return nil }
        straddlePage[2047] = isBreakpointSlot(2047)
            ? DecodedInstruction(.breakpoint) : Decoder.decode(UInt32(low) | UInt32(high) << 16)
        return straddlePage
    }

    /// Decodes the instruction at `offset` of a page whose bytes are at `host` and the ones that follow it in a
    /// straight line (past calls, whose returns come back to it), up to another jump, a system instruction, a slot
    /// already decoded, the page's last whole instruction or `CodePage.decodeAhead` instructions: the loop then
    /// runs them without a slow step each. The page's translation and permissions are the first instruction's;
    /// slots decoded ahead are like any other (a store of this hart into the page resets the slots it overlaps).
    private func decodeStraightLine(page: UnsafeMutablePointer<DecodedInstruction>, host: UnsafeMutableRawPointer,
                                    from first: Int) {
        var offset = first
        counters.decodeRuns &+= 1
        defer { fusePairs(page: page, from: decodedPredecessor(page: page, of: first) ?? first, through: offset) }
        repeat {
            let low = host.load(fromByteOffset: offset, as: UInt16.self)
            let compressed = low & 3 != 3
            guard compressed || offset <= 0xffc else { return }
            let snapshot = CodePage.snapshot(page)
            let decoded: DecodedInstruction
            if compressed {
                decoded = Decoder.decodeCompressed(low)
                snapshot.storeBytes(of: low, toByteOffset: offset, as: UInt16.self)
            } else {
                let word = host.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                decoded = Decoder.decode(word)
                snapshot.storeBytes(of: word, toByteOffset: offset, as: UInt32.self)  // at any offset, aligned or not
            }
            page[offset >> 1] = isBreakpointSlot(offset >> 1)
                ? DecodedInstruction(.breakpoint) : Decoder.placed(decoded, offset: offset)
            switch decoded.op {
            case .jal, .jalr, .cJalr:
                // Past a call (a link register written): its return runs the instruction after it, which would
                // otherwise cost a decoding slow step.
                if decoded.rd == UInt8(RegisterFile.zeroSink) { return }
                offset += compressed ? 2 : 4
            case .cJal, .system, .illegal: return
            default: offset += compressed ? 2 : 4
            }
        } while offset - first < CodePage.decodeAhead && offset <= 0xffe && page[offset >> 1].op == .undecoded
    }

    /// The offset of a decoded instruction that ends where `offset` starts, if any: a straight line decoded before
    /// may have stopped just before `offset` (its length limit), and fuses with the instruction there only now.
    private func decodedPredecessor(page: UnsafeMutablePointer<DecodedInstruction>, of offset: Int) -> Int? {
        for length in [2, 4] where offset >= length {
            let op = page[(offset - length) >> 1].op
            if op != .undecoded && op.length == UInt64(length) { return offset - length }
        }
        return nil
    }

    /// Fuses each decoded instruction from `first` to `last` (page offsets) with the decoded ones after it where
    /// `Decoder.accessRun` makes a run or `Decoder.fused` a pair of them (a breakpoint slot is never part of one). The
    /// fused slot replaces the first's; the others keep their own, for a jump to them and for a run that may take
    /// only one more instruction. Either spans at most 8 bytes (`CodePage.fusedReachBack`).
    private func fusePairs(page: UnsafeMutablePointer<DecodedInstruction>, from first: Int, through last: Int) {
        var offset = first
        while offset <= min(last, 0xffe) && page[offset >> 1].op != .undecoded {
            let instruction = page[offset >> 1]
            let next = offset + Int(instruction.op.length)
            if instruction.op == .cSd || instruction.op == .cLd || instruction.op == .cAddi,
               let run = Decoder.accessRun(page + (offset >> 1), available: (0x1000 - offset) >> 1) {
                page[offset >> 1] = run
            } else if next <= 0xffe, let pair = Decoder.fused(instruction, page[next >> 1]) {
                let afterPair = offset + Int(pair.op.length)
                page[offset >> 1] = afterPair <= 0xffe ? Decoder.scaledIndexLoad(pair, page[afterPair >> 1]) ?? pair : pair
            }
            offset = next
        }
    }

    /// Frees every decoded page. Only called where the loop is about to replace its page pointer.
    func dropCodeCache() {
        for index in 0..<codePageCount {
            codePages[index] = nil
            codeGeneration[index] = 0
        }
        codeArena.reset()
        translatedCode.reset()
        allocatedCodePages = 0
        flushStoreTLBs()
        forgetRecentPages()
    }
}
