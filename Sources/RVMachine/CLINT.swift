/// The SiFive CLINT: per-hart msip words at 0x0, per-hart mtimecmp at 0x4000, mtime at 0xbff8.
///
/// mtime is virtual time (`clock.mtime`), a function of G that the sequencer owns: writes to it are
/// accepted and ignored (OpenSBI only writes it to synchronise several CLINTs, which this machine lacks).
/// mtimecmp starts at all ones (no timer interrupt until software programs one) and every write to it
/// is reported in `timerCompares`; the sequencer raises MTIP while mtime >= mtimecmp.
public final class CLINT: DeviceModel {
    public static let msipOffset: UInt64 = 0x0
    public static let mtimecmpOffset: UInt64 = 0x4000
    public static let mtimeOffset: UInt64 = 0xbff8

    public let name: String
    public let harts: Int
    private var msip: [Bool]
    private var mtimecmp: [UInt64]
    /// `stableReads()`, kept up to date as msip and mtimecmp change: the declaration goes with every answer, and
    /// building its arrays anew for each operation cost more than the operation.
    private var declaration: [StableRead] = [] {
        didSet { declarationChanges &+= 1 }
    }
    private var declarationChanges: UInt64 = 0
    public var declarationVersion: UInt64? { declarationChanges }

    public init(harts: Int, name: String = "clint") {
        precondition(harts > 0 && harts <= 4095, "the CLINT layout holds 1...4095 harts")
        self.name = name
        self.harts = harts
        msip = Array(repeating: false, count: harts)
        mtimecmp = Array(repeating: .max, count: harts)
        declaration = declared()
    }

    public func softwareInterruptPending(hart: Int) -> Bool { msip[hart] }
    public func timerCompare(hart: Int) -> UInt64 { mtimecmp[hart] }

    public func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        guard let register = decode(offset: offset, size: size) else { return nil }
        switch register {
        case .msip(let hart): return hart.map { msip[$0] ? 1 : 0 } ?? 0
        case .mtimecmp(let hart, let shift): return hart.map { extract(mtimecmp[$0], shift: shift, size: size) } ?? 0
        case .mtime(let shift): return extract(clock.mtime, shift: shift, size: size)
        case .reserved: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock,
                      effects: inout DeviceEffects) -> Bool {
        guard let register = decode(offset: offset, size: size) else { return false }
        switch register {
        case .msip(let hart):
            guard let hart else { break }
            let level = value & 1 != 0
            if msip[hart] != level {
                msip[hart] = level
                declare(Self.msipEntry, hart: hart, level ? 1 : 0)
                effects.hartLines.append((hart, .machineSoftware, level))
            }
        case .mtimecmp(let hart, let shift):
            guard let hart else { break }
            let mask: UInt64 = size == 8 ? .max : 0xffff_ffff << shift
            mtimecmp[hart] = (mtimecmp[hart] & ~mask) | ((value << shift) & mask)
            declare(Self.mtimecmpEntry, hart: hart, mtimecmp[hart])
            effects.timerCompares.append((hart, mtimecmp[hart]))
        case .mtime, .reserved:
            break
        }
        return true
    }

    public func tick(clock: DeviceClock, effects: inout DeviceEffects) {}

    /// Harts whose msip word is declared stable (a machine with more declares the first ones; the others'
    /// reads take the round trip).
    public static let declaredHarts = 32

    /// The msip words: a read has no side effect and the value changes only with a write to the CLINT, so
    /// each hart's software-interrupt handler, which reads its msip, needs no round trip to this process.
    /// A write to an msip word sets it (bit 0) and drives that hart's MSIP, nothing else: the hart posts it
    /// (an IPI, or the receiver clearing its own msip, costs no round trip) and keeps the declaration.
    /// Likewise the 64-bit mtimecmp words: a write sets it and drives that hart's MTIP (up while mtime >=
    /// mtimecmp), so programming the next timer interrupt costs no round trip either. Any other write to the
    /// CLINT (a 32-bit half of mtimecmp, mtime) ends the declaration in the hart that made it (the hart waits
    /// for that write's answer, which brings the new one).
    /// (Each kind is one array of registers, the first driving hart 0's line: see `StableRead.moreValues`.)
    public func stableReads() -> [StableRead] { declaration }

    /// The declaration's entries: msip words, then mtimecmp words.
    private static let msipEntry = 0
    private static let mtimecmpEntry = 1

    /// The declaration of the registers as they are now.
    private func declared() -> [StableRead] {
        let declared = 0..<min(harts, Self.declaredHarts)
        return [StableRead(array: CLINT.msipOffset, size: 4, stride: 4, values: declared.map { msip[$0] ? 1 : 0 },
                           setByWriteMask: 1, firstLine: .init(hart: 0, mipBit: InterruptLine.machineSoftware.mipBit)),
                StableRead(array: CLINT.mtimecmpOffset, size: 8, stride: 8, values: declared.map { mtimecmp[$0] },
                           setByWriteMask: .max, firstLine: .init(hart: 0, mipBit: InterruptLine.machineTimer.mipBit),
                           lineIsTimerCompare: true)]
    }

    /// Hart `hart`'s register of the declaration's entry `entry` now holds `value`.
    private func declare(_ entry: Int, hart: Int, _ value: UInt64) {
        guard hart < Self.declaredHarts else { return }
        if hart == 0 {
            declaration[entry].value = value
        } else {
            declaration[entry].moreValues[hart - 1] = value
        }
    }

    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        for hart in 0..<harts {
            hasher.combine(msip[hart])
            hasher.combine(mtimecmp[hart])
        }
        return hasher.value
    }

    /// Per hart: msip and mtimecmp (mtime is a function of G, not state).
    public struct State: Equatable {
        public var msip: [Bool]
        public var mtimecmp: [UInt64]

        public init(msip: [Bool], mtimecmp: [UInt64]) {
            self.msip = msip
            self.mtimecmp = mtimecmp
        }
    }

    public func saveState() throws -> DeviceState { .clint(State(msip: msip, mtimecmp: mtimecmp)) }

    public func restoreState(_ saved: DeviceState) throws {
        guard case .clint(let state) = saved else { throw DeviceStateError.wrongKind(saved, into: name) }
        guard state.msip.count == harts, state.mtimecmp.count == harts else {
            throw DeviceStateError("\(name): the saved state has \(state.msip.count) harts, this machine \(harts)")
        }
        msip = state.msip
        mtimecmp = state.mtimecmp
        declaration = declared()
    }

    /// A register and, for per-hart registers, the hart (nil = beyond the last hart: reads 0, writes ignored).
    private enum Register {
        case msip(Int?)
        case mtimecmp(Int?, shift: UInt64)
        case mtime(shift: UInt64)
        case reserved
    }

    /// Accesses are 32-bit (msip, and either half of the 64-bit registers) or 64-bit, naturally aligned.
    private func decode(offset: UInt64, size: Int) -> Register? {
        guard size == 4 || size == 8, offset % UInt64(size) == 0 else { return nil }
        func hart(_ index: UInt64) -> Int? { index < UInt64(harts) ? Int(index) : nil }
        switch offset {
        case CLINT.msipOffset..<CLINT.mtimecmpOffset:
            guard size == 4 else { return nil }
            return .msip(hart(offset / 4))
        case CLINT.mtimecmpOffset..<CLINT.mtimeOffset:
            let relative = offset - CLINT.mtimecmpOffset
            return .mtimecmp(hart(relative / 8), shift: (relative % 8) * 8)
        case CLINT.mtimeOffset..<(CLINT.mtimeOffset + 8):
            return .mtime(shift: (offset - CLINT.mtimeOffset) * 8)
        default:
            return .reserved
        }
    }

    private func extract(_ value: UInt64, shift: UInt64, size: Int) -> UInt64 {
        size == 8 ? value : (value >> shift) & 0xffff_ffff
    }
}
