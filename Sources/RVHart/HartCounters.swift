/// What a hart did outside the interpreter's fast paths, counted where it happens (every place is already a
/// slow path, so counting costs nothing measurable). Benchmarks print them to show where a run's time goes.
/// Not architectural state: snapshots, hashes and replays ignore them.
public struct HartCounters {
    /// Exceptions and interrupts taken, by cause code (index = code, 0-15).
    public var exceptions = [UInt64](repeating: 0, count: 16)
    public var interrupts = [UInt64](repeating: 0, count: 16)
    /// CSR instructions by CSR number (0-4095), and how many of them wrote.
    public var csrAccesses = [UInt64](repeating: 0, count: 4096)
    public var csrWrites: UInt64 = 0
    /// sstatus set/clear instructions the loop ran inline (`Op.sstatusSetClear`): not among `csrAccesses`.
    public var statusBitsInline: UInt64 = 0
    /// Page-table walks (TLB refills of translated sets and translated fetch lookups), and the PTEs they read.
    public var pageWalks: UInt64 = 0
    public var pteReads: UInt64 = 0
    /// TLB misses resolved, by kind (fetch, load, store), and the entries refilled.
    public var tlbMisses = [UInt64](repeating: 0, count: 3)
    public var tlbRefills: UInt64 = 0
    /// SFENCE.VMA by form (0: all, 1: one address, 2: one ASID, 3: address and ASID), satp writes, and the
    /// translated TLB sets dropped whole.
    public var sfences = [UInt64](repeating: 0, count: 4)
    public var satpWrites: UInt64 = 0
    public var translationFlushes: UInt64 = 0
    /// Decoded-code work: FENCE.I (whole cache), pages detached after many stores, pages entered through a
    /// lookup, and decoding runs (a slot and the straight line after it).
    public var codeFlushes: UInt64 = 0
    public var codePagesDetached: UInt64 = 0
    public var pagesEntered: UInt64 = 0
    /// Decoded pages emptied to be decoded again (after FENCE.I or a detach), including first uses.
    public var codePageResets: UInt64 = 0
    /// Decoded pages from before a FENCE.I found unchanged and kept.
    public var codePagesKept: UInt64 = 0
    public var decodeRuns: UInt64 = 0
    /// Blocks the translating tier made (`BlockTranslator`), the bytes of host code written for them, the times its
    /// arena filled and every block was given up to start it afresh, and the instructions blocks ran (counted per
    /// block call in the loop: one addition per block).
    public var blocksTranslated: UInt64 = 0
    public var translatedCodeBytes: UInt64 = 0
    public var translatedCodeRestarts: UInt64 = 0
    public var instructionsTranslated: UInt64 = 0
    /// Instructions the loop sent out of line, by kind (see `SlowStepKind`), and events handled.
    public var slowSteps = [UInt64](repeating: 0, count: SlowStepKind.allCases.count)
    public var events: UInt64 = 0
    /// Device accesses the hart stopped for, by index of its MMIO region.
    public var mmioExits: [UInt64]
    /// WFIs that stopped the hart to wait.
    public var waits: UInt64 = 0
    /// Runs ended in a spin loop while another hart could run (`Hart.isInSpinLoop`).
    public var spinLoopsLeft: UInt64 = 0

    public init(regions: Int) {
        mmioExits = [UInt64](repeating: 0, count: regions)
    }

    /// Adds another hart's counts (same MMIO regions) to these.
    public mutating func add(_ other: HartCounters) {
        func sum(_ a: inout [UInt64], _ b: [UInt64]) {
            for index in a.indices where index < b.count { a[index] &+= b[index] }
        }
        sum(&exceptions, other.exceptions)
        sum(&interrupts, other.interrupts)
        sum(&csrAccesses, other.csrAccesses)
        sum(&tlbMisses, other.tlbMisses)
        sum(&sfences, other.sfences)
        sum(&slowSteps, other.slowSteps)
        sum(&mmioExits, other.mmioExits)
        csrWrites &+= other.csrWrites
        spinLoopsLeft &+= other.spinLoopsLeft
        statusBitsInline &+= other.statusBitsInline
        pageWalks &+= other.pageWalks
        pteReads &+= other.pteReads
        tlbRefills &+= other.tlbRefills
        satpWrites &+= other.satpWrites
        translationFlushes &+= other.translationFlushes
        codeFlushes &+= other.codeFlushes
        codePagesDetached &+= other.codePagesDetached
        pagesEntered &+= other.pagesEntered
        codePageResets &+= other.codePageResets
        codePagesKept &+= other.codePagesKept
        decodeRuns &+= other.decodeRuns
        blocksTranslated &+= other.blocksTranslated
        translatedCodeBytes &+= other.translatedCodeBytes
        translatedCodeRestarts &+= other.translatedCodeRestarts
        instructionsTranslated &+= other.instructionsTranslated
        events &+= other.events
        waits &+= other.waits
    }
}

/// Why an instruction ran out of line.
public enum SlowStepKind: Int, CaseIterable {
    case decode, pageLookup, load, store, atomic, system, floatingPoint, breakpoint, other
}

extension Hart {
    func countSlowStep(_ op: Op) {
        let kind: SlowStepKind
        switch op {
        case .undecoded: kind = .decode
        case .pageCross: kind = .pageLookup
        case .lb, .lh, .lw, .cLw, .ld, .cLd, .lbu, .lhu, .lwu, .flw, .fld, .cFld, .cLdRun2, .cLdRun3, .cLdRun4,
             .popRun2, .popRun3, .popRun4, .popReturn3, .popReturn4, .lbuPair: kind = .load
        case .sb, .sh, .sw, .cSw, .sd, .cSd, .fsw, .fsd, .cFsd, .cSdRun2, .cSdRun3, .cSdRun4, .sdPair: kind = .store
        case .atomic: kind = .atomic
        case .system, .sstatusSetClear: kind = .system
        case .breakpoint: kind = .breakpoint
        case .faddD, .fsubD, .fmulD, .fdivD, .fmaddD, .fnmsubD, .fpOther: kind = .floatingPoint
        default: kind = .other
        }
        counters.slowSteps[kind.rawValue] &+= 1
    }

    func countMMIOExit(_ address: UInt64) {
        if let region = mmioRegions.firstIndex(where: { $0.contains(address, size: 1) }) {
            counters.mmioExits[region] &+= 1
        }
    }
}
