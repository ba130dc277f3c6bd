/// The SiFive PLIC (`sifive,plic-1.0.0`) with level-triggered sources.
///
/// Layout: priority of source s at 4*s; pending bits at 0x1000; enable bits of context c at
/// 0x2000 + 0x80*c; threshold of context c at 0x20_0000 + 0x1000*c, claim/complete 4 bytes after it.
/// Context 2h is hart h's M mode (MEIP), 2h+1 its S mode (SEIP).
///
/// Gateway: a source is pending while its line is high and it is not claimed (a line that drops before
/// the claim withdraws the request, as QEMU does, so no spurious claim of 0 follows); a claimed source
/// is not pending again until its completion, after which a still-high line pends it at once.
/// Registers are 32 bits wide: other sizes or misaligned accesses are bus errors. Unimplemented offsets
/// inside the window read 0 and ignore writes.
public final class PLIC: DeviceModel {
    public static let priorityBase: UInt64 = 0x0
    public static let pendingBase: UInt64 = 0x1000
    public static let enableBase: UInt64 = 0x2000
    public static let enableStride: UInt64 = 0x80
    public static let contextBase: UInt64 = 0x20_0000
    public static let contextStride: UInt64 = 0x1000

    public let name: String
    public let harts: Int
    public let sourceCount: UInt32
    // The declared registers (`stableReads()`): each change numbers a new declaration (`declarationVersion`), so
    // that the runner rebuilds and compares it only then, not after every claim, completion or source level.
    private var priority: [UInt32] { didSet { declarationChanges &+= 1 } }
    private var level: [Bool]
    private var pending: [Bool]
    private var claimed: [Bool]
    private var enable: [[UInt32]] { didSet { declarationChanges &+= 1 } }  // [context][word]
    private var threshold: [UInt32] { didSet { declarationChanges &+= 1 } }
    private var declarationChanges: UInt64 = 0
    public var declarationVersion: UInt64? { declarationChanges }
    private var contextLine: [Bool]  // the MEIP/SEIP level last reported per context

    public var contextCount: Int { 2 * harts }
    private var wordCount: Int { Int(sourceCount) / 32 + 1 }

    /// QEMU's window: 0x20_0000 of global registers plus one 0x1000 context page for each of 1024
    /// contexts (512 harts x M/S).
    public static let windowSize: UInt64 = 0x60_0000
    /// Sources 1...sourceCount exist (QEMU's `riscv,ndev` = 96).
    public static let sourceCount: UInt32 = 96
    /// Priorities are 3 bits wide (0 = never interrupts, 1...7).
    static let priorityMask: UInt32 = 7

    public init(harts: Int, sourceCount: UInt32 = PLIC.sourceCount, name: String = "plic") {
        precondition(harts > 0 && 2 * harts <= 15872, "the PLIC layout holds up to 15872 contexts")
        precondition(sourceCount >= 1 && sourceCount <= 1023)
        self.name = name
        self.harts = harts
        self.sourceCount = sourceCount
        let sources = Int(sourceCount) + 1
        priority = Array(repeating: 0, count: sources)
        level = Array(repeating: false, count: sources)
        pending = Array(repeating: false, count: sources)
        claimed = Array(repeating: false, count: sources)
        enable = Array(repeating: Array(repeating: 0, count: Int(sourceCount) / 32 + 1), count: 2 * harts)
        threshold = Array(repeating: 0, count: 2 * harts)
        contextLine = Array(repeating: false, count: 2 * harts)
    }

    /// A device's interrupt line changed (or was re-asserted). Sources outside 1...sourceCount are ignored.
    public func setSource(_ source: UInt32, level newLevel: Bool, effects: inout DeviceEffects) {
        guard source >= 1 && source <= sourceCount else { return }
        let index = Int(source)
        level[index] = newLevel
        pending[index] = newLevel && !claimed[index]
        updateLines(&effects)
    }

    public func isPending(_ source: UInt32) -> Bool { source <= sourceCount && pending[Int(source)] }

    /// The MEIP (M-mode context) or SEIP (S-mode context) level currently driven to a hart.
    public func lineLevel(hart: Int, supervisor: Bool) -> Bool { contextLine[2 * hart + (supervisor ? 1 : 0)] }

    public func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        guard size == 4, offset % 4 == 0 else { return nil }
        switch decode(offset) {
        case .priority(let source): return UInt64(priority[source])
        case .pending(let word):
            var bits: UInt32 = 0
            for bit in 0..<32 where isPending(UInt32(word * 32 + bit)) { bits |= 1 << bit }
            return UInt64(bits)
        case .enable(let context, let word): return UInt64(enable[context][word])
        case .threshold(let context): return UInt64(threshold[context])
        case .claim(let context): return UInt64(claim(context: context, effects: &effects))
        case .none: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock,
                      effects: inout DeviceEffects) -> Bool {
        guard size == 4, offset % 4 == 0 else { return false }
        let value = UInt32(truncatingIfNeeded: value)
        switch decode(offset) {
        case .priority(let source):
            priority[source] = value & PLIC.priorityMask
        case .pending, .none:
            return true  // read-only or unimplemented
        case .enable(let context, let word):
            enable[context][word] = value & validSourceMask(word: word)
        case .threshold(let context):
            threshold[context] = value & PLIC.priorityMask
        case .claim(let context):
            complete(context: context, source: value)
        }
        updateLines(&effects)
        return true
    }

    public func tick(clock: DeviceClock, effects: inout DeviceEffects) {}

    /// The registers that are plain storage: each source's priority, each context's enable words and threshold. A read
    /// has no side effect, and a write sets the register (to its valid bits) and changes no other declared value.
    /// Linux sets every source's priority once per context at start-up and masks or unmasks an interrupt by its
    /// priority, and enables or masks one with a read-modify-write of an enable word per context (plic_toggle, for
    /// every hart): with the declaration, the harts answer those reads and post those writes, and post their
    /// completions too (a completion changes none of these registers). Lines a write changes reach the harts at
    /// their next MMIO answer or slice.
    /// (Each kind is one array of registers: the declarations go with every Run and answer, so they are kept short.)
    public func stableReads() -> [StableRead] {
        let mask = UInt64(PLIC.priorityMask)
        var reads = [StableRead(array: PLIC.priorityBase + 4, size: 4, stride: 4,
                                values: priority.dropFirst().map(UInt64.init), setByWriteMask: mask)]
        // One array per word index across the contexts: the words' masks differ (source 0 and the sources beyond the
        // last are hard-wired to 0).
        for word in 0..<wordCount {
            reads.append(StableRead(array: PLIC.enableBase + UInt64(word) * 4, size: 4, stride: PLIC.enableStride,
                                    values: enable.map { UInt64($0[word]) }, setByWriteMask: UInt64(validSourceMask(word: word))))
        }
        reads.append(StableRead(array: PLIC.contextBase, size: 4, stride: PLIC.contextStride,
                                values: threshold.map(UInt64.init), setByWriteMask: mask))
        // A completion changes only which sources are claimed and pending, none of these: harts post it.
        let completions = (0..<UInt64(contextCount)).map { PLIC.contextBase + $0 * PLIC.contextStride + 4 }
        return reads.map { read in
            var read = read
            read.keptByWritesTo = completions
            return read
        }
    }

    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        for source in 0...Int(sourceCount) {
            hasher.combine(priority[source])
            hasher.combine(level[source])
            hasher.combine(pending[source])
            hasher.combine(claimed[source])
        }
        for context in 0..<contextCount {
            for word in enable[context] { hasher.combine(word) }
            hasher.combine(threshold[context])
            hasher.combine(contextLine[context])
        }
        return hasher.value
    }

    /// Per source (index 0 unused): priority, line level, pending, claimed; per context: enable words,
    /// threshold and the MEIP/SEIP level last reported.
    public struct State: Equatable {
        public var priority: [UInt32] = []
        public var level: [Bool] = []
        public var pending: [Bool] = []
        public var claimed: [Bool] = []
        public var enable: [[UInt32]] = []
        public var threshold: [UInt32] = []
        public var contextLine: [Bool] = []

        public init() {}
    }

    public func saveState() throws -> DeviceState {
        var state = State()
        state.priority = priority
        state.level = level
        state.pending = pending
        state.claimed = claimed
        state.enable = enable
        state.threshold = threshold
        state.contextLine = contextLine
        return .plic(state)
    }

    public func restoreState(_ saved: DeviceState) throws {
        guard case .plic(let state) = saved else { throw DeviceStateError.wrongKind(saved, into: name) }
        let sources = Int(sourceCount) + 1
        guard [state.priority.count, state.level.count, state.pending.count, state.claimed.count]
            .allSatisfy({ $0 == sources }),
            [state.enable.count, state.threshold.count, state.contextLine.count].allSatisfy({ $0 == contextCount }),
            state.enable.allSatisfy({ $0.count == wordCount }) else {
            throw DeviceStateError("\(name): the saved state is for another number of sources or harts")
        }
        priority = state.priority.map { $0 & PLIC.priorityMask }
        level = state.level
        pending = state.pending
        claimed = state.claimed
        enable = state.enable.map { $0.enumerated().map { $1 & validSourceMask(word: $0) } }
        threshold = state.threshold.map { $0 & PLIC.priorityMask }
        contextLine = state.contextLine
    }

    private enum Register {
        case priority(Int)
        case pending(word: Int)
        case enable(context: Int, word: Int)
        case threshold(context: Int)
        case claim(context: Int)
    }

    private func decode(_ offset: UInt64) -> Register? {
        switch offset {
        case PLIC.priorityBase..<PLIC.pendingBase:
            let source = offset / 4
            return source >= 1 && source <= UInt64(sourceCount) ? .priority(Int(source)) : nil
        case PLIC.pendingBase..<PLIC.enableBase:
            let word = (offset - PLIC.pendingBase) / 4
            return word < UInt64(wordCount) ? .pending(word: Int(word)) : nil
        case PLIC.enableBase..<PLIC.contextBase:
            let relative = offset - PLIC.enableBase
            let context = relative / PLIC.enableStride
            let word = (relative % PLIC.enableStride) / 4
            guard context < UInt64(contextCount), word < UInt64(wordCount) else { return nil }
            return .enable(context: Int(context), word: Int(word))
        default:
            let relative = offset - PLIC.contextBase
            let context = relative / PLIC.contextStride
            guard context < UInt64(contextCount) else { return nil }
            switch relative % PLIC.contextStride {
            case 0: return .threshold(context: Int(context))
            case 4: return .claim(context: Int(context))
            default: return nil
            }
        }
    }

    /// Source 0 does not exist and bits above sourceCount are hard-wired to zero.
    private func validSourceMask(word: Int) -> UInt32 {
        var mask: UInt32 = .max
        if word == 0 { mask &= ~1 }
        let firstSource = word * 32
        let validBits = Int(sourceCount) + 1 - firstSource
        if validBits < 32 { mask &= (UInt32(1) << validBits) - 1 }
        return mask
    }

    private func isEnabled(_ source: Int, context: Int) -> Bool {
        enable[context][source / 32] & (1 << (source % 32)) != 0
    }

    /// The pending, enabled source of highest priority above the context's threshold (lowest id on ties).
    private func bestSource(context: Int) -> Int? {
        var best: Int?
        var bestPriority = threshold[context]
        for source in 1...Int(sourceCount) where pending[source] && priority[source] > bestPriority
            && isEnabled(source, context: context) {
            best = source
            bestPriority = priority[source]
        }
        return best
    }

    private func claim(context: Int, effects: inout DeviceEffects) -> UInt32 {
        guard let source = bestSource(context: context) else { return 0 }
        pending[source] = false
        claimed[source] = true
        updateLines(&effects)
        return UInt32(source)
    }

    /// A completion for a source not enabled in the context is ignored, as the PLIC specification says
    /// (Linux's plic_irq_eoi enables a masked source around its completion for that reason).
    private func complete(context: Int, source: UInt32) {
        guard source >= 1 && source <= sourceCount else { return }
        let index = Int(source)
        guard isEnabled(index, context: context), claimed[index] else { return }
        claimed[index] = false
        pending[index] = level[index]
    }

    private func updateLines(_ effects: inout DeviceEffects) {
        for context in 0..<contextCount {
            let newLevel = bestSource(context: context) != nil
            if newLevel != contextLine[context] {
                contextLine[context] = newLevel
                effects.hartLines.append((context / 2, context % 2 == 0 ? .machineExternal : .supervisorExternal,
                                          newLevel))
            }
        }
    }
}
