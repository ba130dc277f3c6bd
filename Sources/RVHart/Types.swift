import Glibc

import RVPlatform

/// A physical address window, `base ..< base + size`.
public struct MemoryRegion: Equatable {
    public var base: UInt64
    public var size: UInt64

    public init(base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
    }

    @inline(__always)
    func contains(_ address: UInt64, size accessSize: UInt64) -> Bool {
        address >= base && address &- base < size && size &- (address &- base) >= accessSize
    }
}

/// The translation modes `satp` may select.
public enum SatpMode: Equatable {
    case bare, sv39, sv48
}

/// Ordered as the privileged spec orders them: user < supervisor < machine.
public enum PrivilegeMode: UInt8, Comparable {
    case user = 0, supervisor = 1, machine = 3

    public static func < (a: PrivilegeMode, b: PrivilegeMode) -> Bool {
        a.rawValue < b.rawValue
    }
}

/// What a hart needs to know about the machine around it.
public struct HartConfig {
    public var hartID: UInt64
    /// Host mapping of guest RAM (shared with other processes). Must stay valid while the hart lives.
    public var ram: UnsafeMutableRawPointer
    public var ramBase: UInt64
    /// In bytes; rounded down to a whole number of 4 KiB pages.
    public var ramSize: UInt64
    /// Read-only and executable, mapped at `romBase`; stores to it take a store access fault.
    public var rom: [UInt8]
    public var romBase: UInt64
    /// Device windows: accesses stop the hart with `.mmio`. Any other address outside RAM and ROM
    /// takes an access fault.
    public var mmioRegions: [MemoryRegion]
    /// Virtual time: mtime = (global instruction count) >> icountShift.
    public var icountShift: UInt32
    /// The deepest translation mode `satp` accepts.
    public var maxSatpMode: SatpMode
    /// Whether hot straight-line code runs translated (`BlockTranslator`): guest-invisible, so record and replay
    /// may differ in it. By default as the environment's `RRVM_TRANSLATE` says (on unless it is 0).
    public var translation = Translation.fromEnvironment()
    /// The bytes of host code the tier's arena holds (`TranslatedCodeArena`); when it fills, every block is given up
    /// and translation starts afresh. Tests make it small.
    public var translatedCodeBytes = 32 << 20

    public init(hartID: UInt64 = 0, ram: UnsafeMutableRawPointer, ramBase: UInt64 = MemoryMap.ramBase, ramSize: UInt64,
                rom: [UInt8] = [], romBase: UInt64 = MemoryMap.bootROMBase, mmioRegions: [MemoryRegion] = [],
                icountShift: UInt32 = 0, maxSatpMode: SatpMode = .sv48) {
        self.hartID = hartID
        self.ram = ram
        self.ramBase = ramBase
        self.ramSize = ramSize
        self.rom = rom
        self.romBase = romBase
        self.mmioRegions = mmioRegions
        self.icountShift = icountShift
        self.maxSatpMode = maxSatpMode
    }
}

/// A device access the current instruction wants to make.
public struct MMIOAccess: Equatable {
    public var address: UInt64
    /// 1, 2, 4 or 8.
    public var size: Int
    public var isWrite: Bool
    /// The value to write (zero-extended); 0 for reads.
    public var value: UInt64

    public init(address: UInt64, size: Int, isWrite: Bool, value: UInt64) {
        self.address = address
        self.size = size
        self.isWrite = isWrite
        self.value = value
    }
}

public enum StopReason: Equatable {
    /// `budget` instructions retired.
    case budgetExhausted
    /// The hart executed WFI (or cannot make progress, see `Hart.run`) and nothing enabled is pending.
    case waitingForInterrupt
    /// The current instruction wants a device access: see `Hart.pendingAccess`.
    case mmio
    /// The next instruction's pc is a debugger breakpoint.
    case breakpoint
    /// A spin-wait hint retired while `Hart.spinHintsEndRun` was set.
    case spinHint
    /// The next instruction accesses a range a debugger watches: see `Hart.lastWatchHit`.
    case watchpoint
}

/// The translating tier's setting (`BlockTranslator`).
public enum Translation: Equatable, Sendable {
    /// The interpreter alone.
    case off
    /// Blocks entered often are translated.
    case hot
    /// Every block is translated when first entered by a jump: for tests, which then run far more translated code.
    case eager

    /// `RRVM_TRANSLATE`: 0 off, eager, anything else (or unset) hot.
    public static func fromEnvironment() -> Translation {
        guard let value = getenv("RRVM_TRANSLATE").map({ String(cString: $0) }) else { return .hot }
        switch value {
        case "0": return .off
        case "eager": return .eager
        default: return .hot
        }
    }
}
