import RVPlatform

/// The moment of a device access as the sequencer ordered it.
public struct DeviceClock: Equatable {
    /// G: the global retired-instruction count at the access.
    public var globalCount: UInt64
    /// Virtual time (the CLINT's mtime, in timebase ticks) at the access.
    public var mtime: UInt64

    public init(globalCount: UInt64, mtime: UInt64) {
        self.globalCount = globalCount
        self.mtime = mtime
    }
}

public enum InterruptLine: Equatable {
    case machineSoftware, machineTimer, machineExternal, supervisorExternal

    /// The mip bit this line drives.
    public var mipBit: UInt32 {
        switch self {
        case .machineSoftware: return InterruptNumber.machineSoftware
        case .machineTimer: return InterruptNumber.machineTimer
        case .supervisorExternal: return InterruptNumber.supervisorExternal
        case .machineExternal: return InterruptNumber.machineExternal
        }
    }
}

public enum MachineExit: Equatable {
    case powerOff(code: Int32)
    case reset
}

/// Everything a device call caused outside the device. The device never performs these itself: the
/// process that wraps it turns them into stamped bus messages.
public struct DeviceEffects {
    /// PLIC interrupt source lines, appended only when a device's line changes.
    public var sourceLevels: [(source: UInt32, level: Bool)] = []
    /// PLIC -> MEIP/SEIP per hart, CLINT -> MSIP; appended only when a line changes.
    public var hartLines: [(hart: Int, line: InterruptLine, level: Bool)] = []
    /// CLINT: a hart's new mtimecmp (MTIP(hart) is the level mtime >= mtimecmp; the sequencer schedules it).
    public var timerCompares: [(hart: Int, mtimecmp: UInt64)] = []
    /// For a device that uses wake-ups (the RTC): after every call, the mtime at which it wants
    /// `tick(clock:effects:)` (replacing any earlier wish), or nil for none. Other devices leave it nil.
    public var wakeAt: UInt64?
    /// Bytes the guest wrote to the console.
    public var console: [UInt8] = []
    /// A finisher write that ends or resets the machine.
    public var exit: MachineExit?
    /// Ethernet frames the guest sent (virtio-net), in order.
    public var frames: [[UInt8]] = []

    public init() {}

    /// Whether the call had no effect at all outside the device.
    public var isEmpty: Bool {
        sourceLevels.isEmpty && hartLines.isEmpty && timerCompares.isEmpty && wakeAt == nil
            && console.isEmpty && exit == nil && frames.isEmpty
    }
}

public protocol DeviceModel: AnyObject {
    var name: String { get }
    /// MMIO read at a byte offset inside the device window; nil = bus error (the guest gets an access fault).
    func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64?
    /// MMIO write at a byte offset inside the device window; false = bus error.
    func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock, effects: inout DeviceEffects) -> Bool
    /// A requested wake-up is due (or a spurious call: devices check the time themselves).
    func tick(clock: DeviceClock, effects: inout DeviceEffects)
    /// A deterministic digest of the guest-visible state, for replay checks.
    func stateHash() -> UInt64
    /// Registers whose read has no side effect and returns the given value until the device's next call:
    /// harts and the sequencer may answer those reads without a round trip to the device process.
    func stableReads() -> [StableRead]
    /// A number that changes whenever `stableReads()` does, for a model that keeps its declaration (nil: the
    /// declarations are compared instead, which holds on to the last one).
    var declarationVersion: UInt64? { get }
    /// The model's whole state, for checkpoints (see `DeviceState`). Throws when it cannot be captured.
    func saveState() throws -> DeviceState
    /// Puts back a state `saveState` returned from a model built with the same configuration; refuses one
    /// of another kind or shape, changing nothing.
    func restoreState(_ state: DeviceState) throws
}

extension DeviceModel {
    public func stableReads() -> [StableRead] { [] }
    public var declarationVersion: UInt64? { nil }
}

/// A register read that harts (or the sequencer) may answer themselves (see `DeviceModel.stableReads`).
public struct StableRead: Equatable {
    public var offset: UInt64
    public var size: Int
    public var value: UInt64
    /// Offsets whose writes leave `value` and this declaration unchanged: a hart that holds the
    /// declaration keeps answering the read across such writes.
    public var keptByWritesTo: [UInt64]
    /// Offsets whose byte writes only send their byte to the console while the declaration holds (they must
    /// also be in `keptByWritesTo`): they need not reach the device at all.
    public var outputWritesTo: [UInt64]
    /// Nonzero: a write of `size` bytes at `offset` sets `value` to the value written and this mask, and changes
    /// no other declared value, so harts post it and keep the declaration (StableRead.set_by_write_mask).
    public var setByWriteMask: UInt64
    /// With `setByWriteMask`: a nonzero `value` drives this mip bit of this hart (the CLINT's msip: MSIP).
    public var line: Line?
    /// With `line`: the line is up while mtime >= `value` (the CLINT's mtimecmp: MTIP), not while `value` != 0.
    public var lineIsTimerCompare: Bool
    /// An array of registers (StableRead.more_values): register k >= 1 is at `offset` + k * `stride`, with value
    /// `moreValues[k - 1]`, and drives `line`'s bit of hart `line.hart` + k; every other field applies to each.
    public var moreValues: [UInt64]
    public var stride: UInt64

    public init(offset: UInt64, size: Int, value: UInt64, keptByWritesTo: [UInt64] = [], outputWritesTo: [UInt64] = [],
                setByWriteMask: UInt64 = 0, line: Line? = nil, lineIsTimerCompare: Bool = false) {
        self.offset = offset
        self.size = size
        self.value = value
        self.keptByWritesTo = keptByWritesTo
        self.outputWritesTo = outputWritesTo
        self.setByWriteMask = setByWriteMask
        self.line = line
        self.lineIsTimerCompare = lineIsTimerCompare
        moreValues = []
        stride = 0
    }

    /// Registers of `size` bytes `stride` apart from `offset` on, one per value (set by writes under a nonzero
    /// `setByWriteMask`);
    /// with `firstLine`, register k drives that mip bit of hart `firstLine.hart` + k.
    public init(array offset: UInt64, size: Int, stride: UInt64, values: [UInt64], setByWriteMask: UInt64 = 0,
                firstLine: Line? = nil, lineIsTimerCompare: Bool = false) {
        precondition(!values.isEmpty)
        self.init(offset: offset, size: size, value: values[0], setByWriteMask: setByWriteMask, line: firstLine,
                  lineIsTimerCompare: lineIsTimerCompare)
        moreValues = Array(values.dropFirst())
        self.stride = stride
    }

    /// Each register declared as a declaration of its own (one for a single register, one per value for an array).
    public var eachRegister: [StableRead] {
        ([value] + moreValues).enumerated().map { index, value in
            StableRead(offset: offset + UInt64(index) * stride, size: size, value: value, keptByWritesTo: keptByWritesTo,
                       outputWritesTo: outputWritesTo, setByWriteMask: setByWriteMask,
                       line: line.map { Line(hart: $0.hart + index, mipBit: $0.mipBit) }, lineIsTimerCompare: lineIsTimerCompare)
        }
    }

    /// A hart's interrupt line (its mip bit).
    public struct Line: Equatable {
        public var hart: Int
        public var mipBit: UInt32

        public init(hart: Int, mipBit: UInt32) { (self.hart, self.mipBit) = (hart, mipBit) }
    }
}

/// A deterministic 64-bit digest (Swift's `Hasher` is seeded per process, so it cannot be used for
/// values compared across runs).
public struct StateHasher {
    public private(set) var value: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init() {}

    /// Continues a digest from a saved value (checkpoints).
    public init(value: UInt64) { self.value = value }

    public mutating func combine(_ word: UInt64) {
        value = StateHasher.mix(value ^ StateHasher.mix(word &+ 0x632B_E59B_D9B4_E019))
    }

    public mutating func combine(_ flag: Bool) { combine(flag ? UInt64(1) : 0) }

    public mutating func combine<T: FixedWidthInteger>(_ integer: T) { combine(UInt64(truncatingIfNeeded: integer)) }

    /// The bytes as little-endian words of 8, the last one partial (zero when none are left), then the count.
    public mutating func combine<S: Sequence>(bytes: S) where S.Element == UInt8 {
        // Arrays and slices (frames, disk writes) go a word at a time: byte by byte, a device hashing every
        // frame it receives spent more time here than on the rest of each frame (issue 16, a download's profile).
        if bytes.withContiguousStorageIfAvailable({ combine(bytes: UnsafeRawBufferPointer($0)) }) != nil { return }
        var word: UInt64 = 0
        var count = 0
        for byte in bytes {
            word |= UInt64(byte) << (8 * (count & 7))
            count += 1
            if count & 7 == 0 {
                combine(word)
                word = 0
            }
        }
        combine(word)
        combine(count)
    }

    /// `combine(bytes:)` for bytes in memory: the same digest, read a word at a time.
    public mutating func combine(bytes: UnsafeRawBufferPointer) {
        let count = bytes.count, whole = count & ~7
        var offset = 0
        while offset < whole {
            combine(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            offset += 8
        }
        var word: UInt64 = 0
        for index in 0..<(count - whole) { word |= UInt64(bytes[whole + index]) << (8 * index) }
        combine(word)
        combine(count)
    }

    /// The splitmix64 finaliser: a bijective avalanche on 64 bits.
    @inline(__always)
    static func mix(_ input: UInt64) -> UInt64 {
        var z = input
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** seeded through splitmix64: the only randomness the machine has, always from a
/// recorded seed.
public struct DeterministicRandom: Equatable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            return StateHasher.mix(x)
        }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
    }

    /// The generator's four state words (checkpoints); `init(words:)` continues from them.
    public var words: [UInt64] { [s0, s1, s2, s3] }

    /// Continues from saved state words; nil unless there are four of them, not all zero (xoshiro's one
    /// state that only ever yields zeros).
    public init?(words: [UInt64]) {
        guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
        s0 = words[0]; s1 = words[1]; s2 = words[2]; s3 = words[3]
    }

    public mutating func next() -> UInt64 {
        let result = DeterministicRandom.rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = DeterministicRandom.rotateLeft(s3, 45)
        return result
    }

    @inline(__always)
    private static func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 - count))
    }

    public mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var index = 0
        while index < buffer.count {
            var word = next()
            let chunk = min(8, buffer.count - index)
            for _ in 0..<chunk {
                buffer[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
    }

    func hash(into hasher: inout StateHasher) {
        hasher.combine(s0); hasher.combine(s1); hasher.combine(s2); hasher.combine(s3)
    }
}
