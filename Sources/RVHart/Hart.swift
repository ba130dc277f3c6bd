import Glibc
import RVPlatform

/// Architectural constants.
enum MStatus {
    static let sie: UInt64 = 1 << 1
    static let mie: UInt64 = 1 << 3
    static let spie: UInt64 = 1 << 5
    static let mpie: UInt64 = 1 << 7
    static let spp: UInt64 = 1 << 8
    static let mppShift: UInt64 = 11
    static let mpp: UInt64 = 3 << 11
    static let fs: UInt64 = 3 << 13
    static let mprv: UInt64 = 1 << 17
    static let sum: UInt64 = 1 << 18
    static let mxr: UInt64 = 1 << 19
    static let tvm: UInt64 = 1 << 20
    static let tw: UInt64 = 1 << 21
    static let tsr: UInt64 = 1 << 22
    static let uxl: UInt64 = 2 << 32
    static let sxl: UInt64 = 2 << 34
    static let sd: UInt64 = 1 << 63
    /// Bits M-mode software may write (MPP, FS are checked further).
    static let writable: UInt64 = sie | mie | spie | mpie | spp | mpp | fs | mprv | sum | mxr | tvm | tw | tsr
    /// The sstatus view.
    static let supervisorView: UInt64 = sie | spie | spp | fs | sum | mxr | uxl | sd
    static let supervisorWritable: UInt64 = sie | spie | spp | fs | sum | mxr
}

/// mip bits (the numbers are RVPlatform's, shared with the sequencer and the devices).
enum Interrupt {
    static let ssip = InterruptNumber.mask(InterruptNumber.supervisorSoftware)
    static let msip = InterruptNumber.mask(InterruptNumber.machineSoftware)
    static let stip = InterruptNumber.mask(InterruptNumber.supervisorTimer)
    static let mtip = InterruptNumber.mask(InterruptNumber.machineTimer)
    static let seip = InterruptNumber.mask(InterruptNumber.supervisorExternal)
    static let meip = InterruptNumber.mask(InterruptNumber.machineExternal)
    static let supervisorBits: UInt64 = ssip | stip | seip
    static let all: UInt64 = ssip | msip | stip | mtip | seip | meip
    /// Lines driven from outside the hart.
    static let external: UInt64 = msip | mtip | meip | seip
    /// Taken in this order when several are pending and enabled.
    static let priority: [UInt64] = [11, 3, 7, 9, 1, 5]
}

enum Cause {
    static let fetchAccess: UInt64 = 1
    static let illegalInstruction: UInt64 = 2
    static let breakpoint: UInt64 = 3
    static let loadMisaligned: UInt64 = 4
    static let loadAccess: UInt64 = 5
    static let storeMisaligned: UInt64 = 6
    static let storeAccess: UInt64 = 7
    static let userEcall: UInt64 = 8
    static let fetchPageFault: UInt64 = 12
    static let loadPageFault: UInt64 = 13
    static let storePageFault: UInt64 = 15
    static let interruptFlag: UInt64 = 1 << 63
}

/// Why a slow path interrupted the instruction in progress (`Hart.stop`).
enum StopCode: UInt8 {
    case none = 0
    /// An exception: `trapCause`/`trapValue` hold it; the instruction does not retire.
    case trap
    /// A device access: `pendingAccess` holds it; the instruction retires in `completeMMIO`.
    case mmio
    /// The instruction retired and changed state the loop caches (CSRs, privilege, translation).
    case refresh
    /// WFI retired with nothing to wake it.
    case waitForInterrupt
    /// A spin-wait hint retired and ends the run (`Hart.spinHintsEndRun`).
    case spinHint
    /// Not an instruction: a slot was decoded or a page entered; run the slot again.
    case reexecute
    /// A debugger watchpoint fired (`watchHit`); the instruction does not retire and runs again on resume.
    case watch
    /// The instruction at pc is a debugger breakpoint; it does not retire and runs on resume.
    case breakpoint
}

/// How a device read completes into the register file.
enum MMIOLoadKind: UInt8 {
    case store, signed8, signed16, signed32, unsigned8, unsigned16, unsigned32, full64, float32
}

/// One RV64GC hart: registers, CSRs, software TLB, decoded-instruction cache.
///
/// Choices the ISA leaves open (the tests check each):
/// - Misaligned loads and stores to RAM and ROM are performed, also across pages (as QEMU does).
///   Misaligned device accesses take the address-misaligned exception; so do misaligned LR/SC/AMOs
///   (load address misaligned for LR, store/AMO otherwise).
/// - LR/SC/AMO to a device window take an access fault: load access fault for LR (it is a load, as in
///   Spike), store/AMO access fault for SC and AMOs.
/// - Instruction fetch from a device window or from nothing is an instruction access fault; stores to the
///   ROM are store access faults.
/// - mtval/stval hold the instruction bits for illegal instructions, the pc for EBREAK, the address for
///   access, page and misaligned faults (the second page's address when the second half of a
///   page-crossing access or instruction faults).
/// - WFI is illegal in U-mode and, with mstatus.TW, in S-mode (as QEMU). mcycle counts like minstret.
/// - Without any active PMP entry every access is allowed; with one, S/U accesses no entry matches fail.
///   PMP granularity is 4 bytes; pmpaddr16-63 and odd pmpcfg registers do not exist.
/// - A/D bits are set by the hart during the walk (as QEMU); the PTE write needs PMP write permission.
///
/// The decoded-instruction cache holds a page of 8-byte slots (one per halfword, decoded on first
/// execution together with the straight line after it) per physical page that ran code. Stores of this hart invalidate the slots they touch (a
/// page that keeps taking stores is detached from the cache until it runs again). Changes made by other
/// harts or DMA become visible at this hart's next FENCE.I, as Zifencei allows; SFENCE.VMA and satp
/// writes drop the translations that lead to decoded pages (TLB and recently entered pages).
public final class Hart {
    // Configuration.
    let hartID: UInt64
    let ramHost: UnsafeMutableRawPointer
    let ramBase: UInt64
    let ramSize: UInt64
    let romHost: UnsafeMutableRawPointer
    let romBase: UInt64
    let romSize: UInt64
    let mmioRegions: [MemoryRegion]
    let icountShift: UInt64
    let maxSatpMode: SatpMode

    /// x0...x31, the x0 write sink (32), f0...f31 (64...95).
    let regs: UnsafeMutablePointer<UInt64>
    var pcValue: UInt64
    var priv = PrivilegeMode.machine

    // CSRs.
    var mstatus: UInt64 = MStatus.uxl | MStatus.sxl
    var medeleg: UInt64 = 0
    var mideleg: UInt64 = 0
    var mie: UInt64 = 0
    /// The software-owned mip bits: SSIP, STIP (when Sstc is off) and the software part of SEIP.
    var mipSoftware: UInt64 = 0
    /// MSIP, MTIP, MEIP and the external part of SEIP, from `setInterruptLines`.
    var interruptLines: UInt64 = 0
    /// STIP produced by the Sstc comparator.
    var sstcPending = false
    var mtvec: UInt64 = 0
    var stvec: UInt64 = 0
    var mepc: UInt64 = 0
    var sepc: UInt64 = 0
    var mcause: UInt64 = 0
    var scause: UInt64 = 0
    var mtval: UInt64 = 0
    var stval: UInt64 = 0
    var mscratch: UInt64 = 0
    var sscratch: UInt64 = 0
    var satp: UInt64 = 0
    var mcounteren: UInt64 = 0
    var scounteren: UInt64 = 0
    var menvcfg: UInt64 = 0
    var senvcfg: UInt64 = 0
    var mcountinhibit: UInt64 = 0
    var stimecmp: UInt64 = .max
    var fflags: UInt64 = 0
    var frm: UInt64 = 0
    var pmpConfig = [UInt8](repeating: 0, count: 16)
    var pmpAddress = [UInt64](repeating: 0, count: 16)
    var pmpActive = false
    var pmpRules: [PMPRule] = []
    /// minstret = retired + instretOffset while counting; the frozen value while inhibited.
    var instretOffset: UInt64 = 0
    var cycleOffset: UInt64 = 0
    var instretFrozen: UInt64 = 0
    var cycleFrozen: UInt64 = 0

    public internal(set) var retired: UInt64 = 0
    /// Slow-path work done so far (see HartCounters).
    public internal(set) var counters: HartCounters
    public internal(set) var pendingAccess = MMIOAccess(address: 0, size: 0, isWrite: false, value: 0)
    /// Device accesses completed without stopping (see `DeviceShortcut`); disarmed unless its owner arms it.
    public var deviceShortcut = DeviceShortcut()

    // Run state.
    var stop = StopCode.none
    var trapCause: UInt64 = 0
    var trapValue: UInt64 = 0
    var runGlobalCount: UInt64 = 0
    var runBudget: UInt64 = 0
    /// Instructions retired in the current `run` when the next event (budget end, timer) is due.
    var eventTarget: UInt64 = 0
    /// The virtual address of the pending device access (for tval when it fails).
    var pendingVirtualAddress: UInt64 = 0
    var mmioDestination = 0
    var mmioKind = MMIOLoadKind.store
    var mmioStep: UInt64 = 4
    var waiting = false
    /// The hart took the same exception twice with no instruction in between: it can only loop.
    var stuck = false
    /// The last exception and the retired count when it was taken.
    var lastTrap: (cause: UInt64, pc: UInt64, value: UInt64, priv: PrivilegeMode, retired: UInt64)?
    /// The host address an LR reserved, .max when none is (in the register file: `RegisterFile.reservation`).
    var reservation: UInt64 {
        get { regs[RegisterFile.reservation] }
        set { regs[RegisterFile.reservation] = newValue }
    }
    var breakpoints: Set<UInt64> = []
    /// The breakpoints' slots in a page (page offset / 2): decoding puts a breakpoint slot there (`Op.breakpoint`).
    var breakpointSlots: Set<Int> = []
    /// Whether spin-wait hints end `run` with `.spinHint`: PAUSE, and a WFI that a pending interrupt
    /// completes at once (a hart looping on WFI with interrupts globally off). The cluster sets it when
    /// another hart could run; otherwise PAUSE is a no-op and such a WFI just completes, as the ISA allows.
    public var spinHintsEndRun = false
    var resumeFromBreakpoint: UInt64?
    // Debugger watchpoints (Watchpoints.swift).
    var watchpoints: [Watchpoint] = []
    var watchedPages: Set<UInt64> = []
    var watchHit: WatchHit?
    var watchesSuspended = false
    /// The host rounding mode currently set (RISC-V encoding), to call fesetround only on change.
    var hostRounding: UInt64 = 0
    /// The rm fields (bit rm; 7 = dynamic, frm) with which an F/D instruction may run on the host FPU as it is:
    /// mstatus.FS is Dirty (nothing to mark) and the host already rounds as the field asks (never RMM). The
    /// interpreter's fast paths test it instead of reading frm and mstatus; a clear bit sends the instruction out
    /// of line, which marks FS Dirty and sets the host's mode. Set by `refreshRoundingFields` where the loop
    /// starts and after each of its slow steps: only those change frm, mstatus.FS or the host's mode.
    var roundingFieldsOnHost: UInt8 = 0
    /// Whether the host FPU's flags belong to the guest (inside `run`).
    var floatingPointLive = false

    // Software TLB: 4 sets (M, S, S with SUM, U) x 3 kinds (fetch, load, store) x 256 entries.
    let tlb: UnsafeMutablePointer<TLBEntry>
    /// Per TLB entry, the offset mask of the leaf it came from (see `translate`), for SFENCE.VMA of one address.
    let tlbPageMasks: UnsafeMutablePointer<UInt64>
    /// The largest of those masks among translated entries (and recent code pages) since all were last dropped.
    /// Set directly (as a restore does) it is all that is known: fences then look as far for every address.
    var largestLeafMask: UInt64 {
        get { largestLeafMaskOfAll }
        set {
            largestLeafMaskOfAll = newValue
            leafRegionsKnown = false
        }
    }
    var largestLeafMaskOfAll: UInt64 = 0xfff
    /// Per region of the address space (`LeafRegions`), the largest leaf mask cached in it since all entries were
    /// last dropped, valid while `leafRegionsKnown` (`noteLeaf` keeps both).
    let regionLeafMasks: UnsafeMutablePointer<UInt64>
    var leafRegionsKnown = true
    /// Per decoded page (`codeIndex`), the `storeEpoch` in which a store entry was last filled for it: a page
    /// whose epoch is older has no store entry to drop (`dropStoreEntries`).
    let storeEntryEpochs: UnsafeMutablePointer<UInt32>
    /// Advanced whenever every store entry is dropped.
    var storeEpoch: UInt32 = 1
    var fetchTLB: UnsafeMutablePointer<TLBEntry>
    var loadTLB: UnsafeMutablePointer<TLBEntry>
    var storeTLB: UnsafeMutablePointer<TLBEntry>

    // Decoded-instruction cache: one page of slots per physical page that ran code.
    let codePageCount: Int
    let codePages: UnsafeMutablePointer<UnsafeMutablePointer<DecodedInstruction>?>
    /// The generation a decoded page was filled in; 0 for a page detached from the cache.
    let codeGeneration: UnsafeMutablePointer<UInt32>
    let codeStores: UnsafeMutablePointer<UInt32>
    var generation: UInt32 = 1
    var codeArena = CodePageArena()
    var allocatedCodePages = 0
    var codePageLimit = CodePage.allocationLimit
    /// Whether hot code runs translated (BlockTranslator.swift; from `HartConfig.translation`). Turned off, the
    /// blocks made stay in use until the code cache is dropped.
    public var translation: Translation
    var translatedCode: TranslatedCodeArena
    /// Where `translatedCode` starts, as the loop adds a block's offset to it.
    let translatedBase: UInt
    /// A translated block's pc, the recent-page table it may look pages up in and how it left (`BlockTranslator.Entry`).
    let blockState: UnsafeMutablePointer<UInt64>
    /// A page of `pageCross` slots but one (`aloneSlot`): the first instruction of a translated block run alone.
    let aloneSlotPage: UnsafeMutablePointer<DecodedInstruction>
    var aloneSlot = 0
    /// The page key of the block whose first instruction `aloneSlotPage` holds.
    var aloneReturnKey: UInt = 0
    /// Entries into each code address (hashed, `HotCode`) since it last wrapped: a wrap translates the block there.
    let entryCounts: UnsafeMutablePointer<UInt8>
    /// A page whose every slot sends the loop to look pc up again.
    let lookupPage: UnsafeMutablePointer<DecodedInstruction>
    /// A single `event` slot (see `execute`), as an address.
    let eventSlot: UInt
    /// Holds an instruction that straddles two pages in its last slot.
    let straddlePage: UnsafeMutablePointer<DecodedInstruction>
    /// `RecentPage.count` entries per TLB set; `recentPages` points at the current fetch set's.
    let recentPageSets: UnsafeMutablePointer<RecentPage>
    /// Beside each recent page, the offset mask of the leaf that maps it (as `tlbPageMasks`).
    let recentPageMasks: UnsafeMutablePointer<UInt64>
    var recentPages: UnsafeMutablePointer<RecentPage>
    // The page the loop enters after `enterPage`.
    var currentPage: UnsafeMutablePointer<DecodedInstruction>
    // What `slowStep` hands back to the loop.
    var stepLeft = 0
    var stepPageKey: UInt = 0
    /// Page crossings the loop ran through inline since the last slow step, each counted as an instruction there
    /// (see `slowStep`).
    var uncountedCrossings = 0

    public init(config: HartConfig) {
        hartID = config.hartID
        ramHost = config.ram
        ramBase = config.ramBase
        ramSize = config.ramSize & ~0xfff
        romBase = config.romBase
        let romPages = max(1, (config.rom.count + 0xfff) >> 12)
        romSize = UInt64(romPages << 12)
        let romCopy = UnsafeMutableRawPointer.allocate(byteCount: romPages << 12, alignment: 4096)
        romCopy.initializeMemory(as: UInt8.self, repeating: 0, count: romPages << 12)
        config.rom.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { romCopy.copyMemory(from: base, byteCount: bytes.count) }
        }
        romHost = romCopy
        mmioRegions = config.mmioRegions
        counters = HartCounters(regions: config.mmioRegions.count)
        icountShift = UInt64(min(config.icountShift, 63))
        maxSatpMode = config.maxSatpMode
        regs = .allocate(capacity: RegisterFile.count)
        regs.initialize(repeating: 0, count: RegisterFile.count)
        regs[RegisterFile.reservation] = .max
        pcValue = config.romBase

        tlb = .allocate(capacity: TLBLayout.totalEntries)
        tlb.initialize(repeating: TLBEntry.invalid, count: TLBLayout.totalEntries)
        tlbPageMasks = .allocate(capacity: TLBLayout.totalEntries)
        tlbPageMasks.initialize(repeating: .max, count: TLBLayout.totalEntries)
        regionLeafMasks = .allocate(capacity: LeafRegions.count)
        regionLeafMasks.initialize(repeating: 0xfff, count: LeafRegions.count)
        fetchTLB = tlb
        loadTLB = tlb
        storeTLB = tlb

        codePageCount = Int(ramSize >> 12) + romPages
        // nil and 0 are all zero bits.
        codePages = zeroedTable(codePageCount)
        codeGeneration = zeroedTable(codePageCount)
        codeStores = zeroedTable(codePageCount)
        storeEntryEpochs = zeroedTable(codePageCount)
        lookupPage = CodePage.scratch()
        straddlePage = CodePage.scratch()
        let event = UnsafeMutablePointer<DecodedInstruction>.allocate(capacity: 1)
        event.initialize(to: DecodedInstruction(.event))
        eventSlot = UInt(bitPattern: event)
        currentPage = lookupPage
        recentPageSets = .allocate(capacity: RecentPage.count * TLBLayout.sets)
        recentPageSets.initialize(repeating: .invalid, count: RecentPage.count * TLBLayout.sets)
        recentPageMasks = .allocate(capacity: RecentPage.count * TLBLayout.sets)
        recentPageMasks.initialize(repeating: .max, count: RecentPage.count * TLBLayout.sets)
        recentPages = recentPageSets
        translation = BlockTranslator.hostSupported ? config.translation : .off
        translatedCode = TranslatedCodeArena(reserving: BlockTranslator.hostSupported, bytes: config.translatedCodeBytes)
        translatedBase = UInt(bitPattern: translatedCode.base)
        blockState = .allocate(capacity: 3)
        blockState.initialize(repeating: 0, count: 3)
        aloneSlotPage = CodePage.scratch()
        entryCounts = .allocate(capacity: HotCode.counters)
        // Eagerly, every first entry wraps its count.
        entryCounts.initialize(repeating: translation == .eager ? 255 : 0, count: HotCode.counters)
        selectTLBs()
    }

    deinit {
        codeArena.release()
        translatedCode.release()
        entryCounts.deallocate()
        aloneSlotPage.deallocate()
        blockState.deallocate()
        free(codePages)
        free(codeGeneration)
        free(codeStores)
        free(storeEntryEpochs)
        tlbPageMasks.deallocate()
        regionLeafMasks.deallocate()
        recentPageMasks.deallocate()
        lookupPage.deallocate()
        UnsafeMutablePointer<DecodedInstruction>(bitPattern: eventSlot)?.deallocate()
        straddlePage.deallocate()
        tlb.deallocate()
        recentPageSets.deallocate()
        regs.deallocate()
        romHost.deallocate()
    }

    // MARK: Public API

    public var pc: UInt64 {
        get { pcValue }
        set {
            pcValue = newValue & ~1
            waiting = false
            stuck = false
        }
    }

    public var privilege: PrivilegeMode { priv }

    public func register(_ index: Int) -> UInt64 {
        (1..<32).contains(index) ? regs[index] : 0
    }

    public func setRegister(_ index: Int, _ value: UInt64) {
        if (1..<32).contains(index) { regs[index] = value }
    }

    public func fpRegister(_ index: Int) -> UInt64 {
        (0..<32).contains(index) ? regs[RegisterFile.fpBase + index] : 0
    }

    public func setFPRegister(_ index: Int, _ value: UInt64) {
        if (0..<32).contains(index) { regs[RegisterFile.fpBase + index] = value }
    }

    /// Debugger access: no side effects, no privilege check; nil for a CSR this hart does not implement.
    public func readCSR(_ number: UInt16) -> UInt64? {
        csrValue(Int(number), executed: 0, forDebugger: true)
    }

    /// Debugger writes of the floating-point CSRs (fflags, frm, fcsr: state of the FPU alone); false for any
    /// other CSR, whose writes have side effects that belong to the guest.
    public func debugWriteFloatingPointCSR(_ number: UInt16, _ value: UInt64) -> Bool {
        guard [CSR.fflags, CSR.frm, CSR.fcsr].contains(Int(number)) else { return false }
        writeCSR(Int(number), value, executed: 0)
        return true
    }

    /// Interrupt lines driven from outside (MSIP, MTIP, MEIP, and the external SEIP), as mip bits.
    public func setInterruptLines(_ mipBits: UInt64) {
        interruptLines = mipBits & Interrupt.external
    }

    /// Sets one line driven from outside (mip bit `mipBit`), leaving the others as they are.
    public func setInterruptLine(_ mipBit: UInt32, level: Bool) {
        let mask = mipBit < 64 ? (UInt64(1) << UInt64(mipBit)) & Interrupt.external : 0
        interruptLines = level ? interruptLines | mask : interruptLines & ~mask
    }

    public var isWaitingForInterrupt: Bool {
        if stuck { return interruptToTake() == nil }
        return waiting && effectiveMip() & mie == 0
    }

    public var nextTimerDeadline: UInt64? {
        guard menvcfg & EnvConfig.stce != 0, !sstcPending, stimecmp != .max else { return nil }
        return stimecmp
    }

    public func dropReservation() {
        reservation = .max
    }

    /// Forgets decoded instructions, as FENCE.I does: for a wrapper or debugger that changed guest code
    /// from outside (other harts and DMA are covered by the guest's own FENCE.I).
    public func invalidateDecodedInstructions() {
        invalidateCode()
    }

    /// Debugger access to memory at a virtual address, as this hart's supervisor would see it (untranslated
    /// in M-mode or without paging): nil if some byte is not RAM or ROM or not mapped. No side effects.
    public func debugRead(_ address: UInt64, count: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for offset in 0..<UInt64(count) {
            guard let host = debugHostAddress(address &+ offset) else { return nil }
            bytes.append(host.load(as: UInt8.self))
        }
        return bytes
    }

    /// Debugger writes to memory (RAM only); decoded code is dropped so the change is seen.
    public func debugWrite(_ address: UInt64, bytes: [UInt8]) -> Bool {
        let hosts = (0..<UInt64(bytes.count)).map { debugHostAddress(address &+ $0) }
        guard hosts.allSatisfy({ $0 != nil }),
              (0..<UInt64(bytes.count)).allSatisfy({ debugPhysical(address &+ $0).map { !isROM($0) } ?? false })
        else { return false }
        for (host, byte) in zip(hosts, bytes) { host?.storeBytes(of: byte, as: UInt8.self) }
        invalidateCode()
        return true
    }

    /// The physical address of `count` bytes at a virtual address, as `debugRead` sees it, when they are all
    /// RAM and physically contiguous (what a watchpoint can watch); nil otherwise. No side effects.
    public func debugTranslate(_ address: UInt64, count: UInt64) -> UInt64? {
        guard count > 0, count <= 4096, let first = debugPhysical(address), hostAddress(physical: first, size: count) != nil,
              !isROM(first), debugPhysical(address &+ count &- 1) == first &+ count &- 1 else { return nil }
        return first
    }

    private func debugPhysical(_ address: UInt64) -> UInt64? {
        let set = priv == .machine ? 0 : tlbSet(for: .supervisor, sum: true)
        let (paddr, fault, _) = translate(address, kind: .load, set: set, markAccessed: false)
        return fault == 0 ? paddr : nil
    }

    private func debugHostAddress(_ address: UInt64) -> UnsafeMutableRawPointer? {
        debugPhysical(address).flatMap { hostAddress(physical: $0, size: 1) }
    }

    public func addBreakpoint(_ pc: UInt64) {
        if breakpoints.insert(pc).inserted { breakpointsChanged(pc) }
    }

    public func removeBreakpoint(_ pc: UInt64) {
        if breakpoints.remove(pc) != nil { breakpointsChanged(pc) }
    }

    public var breakpointList: [UInt64] { Array(breakpoints) }

    /// A deterministic hash of the architectural state: x1-x31, f0-f31, pc, privilege and the CSRs that
    /// `hashedCSRs` lists, in that order, each as `csrValue` reads it. The hart yields it every slice, so the
    /// CSRs are read from their fields here rather than through `csrValue`'s switch (a test checks that the
    /// two give the same hash).
    public func stateHash() -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ value: UInt64) {
            hash = (hash ^ value) &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
        }
        for index in 1..<32 { mix(regs[index]) }
        for index in 0..<32 { mix(regs[RegisterFile.fpBase + index]) }
        mix(pcValue)
        mix(UInt64(priv.rawValue))
        collectFloatingPointFlags()
        let status = mstatusValue, mip = effectiveMip()
        mix(fflags); mix(frm)
        mix(status & MStatus.supervisorView); mix(mie & mideleg); mix(stvec); mix(scounteren); mix(senvcfg)
        mix(sscratch); mix(sepc); mix(scause); mix(stval); mix(mip & mideleg); mix(stimecmp); mix(satp)
        mix(status); mix(medeleg); mix(mideleg); mix(mie); mix(mtvec); mix(mcounteren); mix(menvcfg)
        mix(mcountinhibit); mix(mscratch); mix(mepc); mix(mcause); mix(mtval); mix(mip)
        mix(pmpConfigPacked(first: 0))
        mix(pmpConfigPacked(first: 8))
        mix(cycle(executed: 0))
        mix(instret(executed: 0))
        for index in 0..<16 { mix(pmpAddress[index]) }
        return hash
    }

    /// The CSRs the state hash covers, in its order (`stateHash` reads the same values from their fields).
    static let hashedCSRs: [Int] = [
        0x001, 0x002, 0x100, 0x104, 0x105, 0x106, 0x10a, 0x140, 0x141, 0x142, 0x143, 0x144, 0x14d, 0x180,
        0x300, 0x302, 0x303, 0x304, 0x305, 0x306, 0x30a, 0x320, 0x340, 0x341, 0x342, 0x343, 0x344,
        0x3a0, 0x3a2, 0xb00, 0xb02,
    ] + Array(0x3b0...0x3bf)

    // MARK: MMIO completion

    public func completeMMIO(value: UInt64) {
        guard stop == .mmio else { return }
        stop = .none
        let v: UInt64
        switch mmioKind {
        case .store: v = 0
        case .signed8: v = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: value)))
        case .signed16: v = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: value)))
        case .signed32: v = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
        case .unsigned8: v = value & 0xff
        case .unsigned16: v = value & 0xffff
        case .unsigned32: v = value & 0xffff_ffff
        case .full64: v = value
        case .float32: v = value | 0xffff_ffff_0000_0000
        }
        if mmioKind != .store {
            regs[mmioDestination] = v
            if mmioDestination >= RegisterFile.fpBase { mstatus |= MStatus.fs }
        }
        pcValue &+= mmioStep
        retired &+= 1
    }

    public func failMMIO() {
        guard stop == .mmio else { return }
        stop = .none
        let cause = pendingAccess.isWrite ? Cause.storeAccess : Cause.loadAccess
        pcValue = takeTrap(cause: cause, value: pendingVirtualAddress, pc: pcValue, retiredNow: retired)
    }

    // MARK: Counters

    func instret(executed: UInt64) -> UInt64 {
        mcountinhibit & 4 != 0 ? instretFrozen : retired &+ executed &+ instretOffset
    }

    func cycle(executed: UInt64) -> UInt64 {
        mcountinhibit & 1 != 0 ? cycleFrozen : retired &+ executed &+ cycleOffset
    }

    /// mtime as the cluster sees it at global instruction count `g`.
    public func mtime(atG g: UInt64) -> UInt64 { g >> icountShift }

    /// mtime as the cluster sees it after `executed` instructions of the current run.
    func mtime(executed: UInt64) -> UInt64 {
        (runGlobalCount &+ executed) >> icountShift
    }

    // MARK: Interrupts

    func effectiveMip() -> UInt64 {
        var mip = mipSoftware | interruptLines
        if menvcfg & EnvConfig.stce != 0 {
            mip = (mip & ~Interrupt.stip) | (sstcPending ? Interrupt.stip : 0)
        }
        return mip
    }

    /// The interrupt the hart takes now, if any (privileged spec 3.1.9 priority and enables).
    func interruptToTake() -> UInt64? {
        let pending = effectiveMip() & mie
        if pending == 0 { return nil }
        let machineEnabled = priv < .machine || mstatus & MStatus.mie != 0
        let supervisorEnabled = priv < .supervisor || (priv == .supervisor && mstatus & MStatus.sie != 0)
        let machinePending = machineEnabled ? pending & ~mideleg : 0
        let supervisorPending = supervisorEnabled ? pending & mideleg : 0
        for candidates in [machinePending, supervisorPending] where candidates != 0 {
            for cause in Interrupt.priority where candidates & (1 << cause) != 0 {
                return cause
            }
        }
        return nil
    }

    /// Enters the trap handler for an exception (or an interrupt when `cause` has bit 63); returns the
    /// new pc. `retiredNow` is the retired count at this point (to notice a hart that can only trap).
    func takeTrap(cause: UInt64, value: UInt64, pc: UInt64, retiredNow: UInt64) -> UInt64 {
        let isInterrupt = cause & Cause.interruptFlag != 0
        let code = cause & ~Cause.interruptFlag
        if code < 16 {
            if isInterrupt { counters.interrupts[Int(code)] &+= 1 } else { counters.exceptions[Int(code)] &+= 1 }
        }
        if !isInterrupt {
            let signature = (cause: cause, pc: pc, value: value, priv: priv, retired: retiredNow)
            if let last = lastTrap, last == signature { stuck = true }
            lastTrap = signature
        }
        reservation = .max
        let delegated = priv <= .supervisor && ((isInterrupt ? mideleg : medeleg) >> code) & 1 != 0
        let vector: UInt64
        if delegated {
            scause = cause
            sepc = pc
            stval = value
            var s = mstatus & ~(MStatus.spp | MStatus.spie | MStatus.sie)
            if priv == .supervisor { s |= MStatus.spp }
            if mstatus & MStatus.sie != 0 { s |= MStatus.spie }
            mstatus = s
            priv = .supervisor
            vector = stvec
        } else {
            mcause = cause
            mepc = pc
            mtval = value
            var s = mstatus & ~(MStatus.mpp | MStatus.mpie | MStatus.mie)
            s |= UInt64(priv.rawValue) << MStatus.mppShift
            if mstatus & MStatus.mie != 0 { s |= MStatus.mpie }
            mstatus = s
            priv = .machine
            vector = mtvec
        }
        selectTLBs()
        let base = vector & ~3
        if isInterrupt && vector & 3 == 1 { return base &+ 4 &* code }
        return base
    }
}

enum EnvConfig {
    static let fiom: UInt64 = 1
    static let stce: UInt64 = 1 << 63
}

/// `count` zeroed elements of a table indexed by guest page (1.25 MiB together for 256 MiB of RAM), from calloc:
/// the host maps so large a block zero-filled on demand, so a hart backs only the stretches its guest uses instead
/// of writing every entry as it starts (about 300 host page faults per hart). Freed with `free`.
private func zeroedTable<Element>(_ count: Int) -> UnsafeMutablePointer<Element> {
    guard let block = calloc(max(1, count), MemoryLayout<Element>.stride) else {
        fatalError("cannot allocate \(count) table entries")
    }
    return block.bindMemory(to: Element.self, capacity: count)
}
