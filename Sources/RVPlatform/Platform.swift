/// The numbers every process of a cluster must agree on: the hart, the devices, the sequencer and rrctl
/// all read them from here. This module imports only the C library (not even Foundation), so that RVHart can use it.
///
/// The values are computed `@inlinable` properties rather than stored constants: across modules a stored
/// `static let` is read through an accessor, while these fold to literals in the interpreter's hot code.

/// Interrupt numbers: a line's bit in mip and mie, and its cause code when taken.
public enum InterruptNumber {
    @inlinable public static var supervisorSoftware: UInt32 { 1 }
    @inlinable public static var machineSoftware: UInt32 { 3 }
    @inlinable public static var supervisorTimer: UInt32 { 5 }
    @inlinable public static var machineTimer: UInt32 { 7 }
    @inlinable public static var supervisorExternal: UInt32 { 9 }
    @inlinable public static var machineExternal: UInt32 { 11 }

    /// The line's bit in mip/mie.
    @inlinable public static func mask(_ number: UInt32) -> UInt64 { 1 << UInt64(number) }
}

/// The parts of QEMU `virt`'s memory map that are not a device: boot ROM and RAM. (Each device's window
/// is in its entry of RVMachine's device registry.)
public enum MemoryMap {
    @inlinable public static var bootROMBase: UInt64 { 0x1000 }
    @inlinable public static var bootROMSize: UInt64 { 0xf000 }
    /// Where every hart starts: the boot ROM.
    @inlinable public static var resetPC: UInt64 { bootROMBase }
    @inlinable public static var ramBase: UInt64 { 0x8000_0000 }
    /// Where the kernel goes when a firmware is loaded at the RAM base (OpenSBI fw_jump's FW_JUMP_ADDR).
    @inlinable public static var kernelOffsetAfterFirmware: UInt64 { 0x20_0000 }
}

/// Virtual time: mtime counts at 10 MHz, as on QEMU's virt (the device tree says so to the guest).
public enum Timebase {
    @inlinable public static var frequency: UInt64 { 10_000_000 }
    @inlinable public static var nanosecondsPerTick: UInt64 { 1_000_000_000 / frequency }

    @inlinable public static func ticks(nanoseconds: UInt64) -> UInt64 { nanoseconds / nanosecondsPerTick }
    /// Saturates instead of overflowing.
    @inlinable public static func nanoseconds(ticks: UInt64) -> UInt64 {
        ticks > UInt64.max / nanosecondsPerTick ? .max : ticks * nanosecondsPerTick
    }
}

/// The serial schedule's defaults.
public enum Schedule {
    /// Instructions in a slice when the configuration gives no quantum. A slice switch between hart processes costs
    /// 15-50 us; a quantum of 1M instructions (about 1.3 ms at this interpreter's speed) keeps that near 1% of the
    /// time of harts that compute side by side (100,000 cost 10-20%). Harts that wait for each other end their
    /// slices sooner anyway (spin-wait hints, IPIs, WFI, device accesses of a lone hart).
    @inlinable public static var defaultQuantum: UInt64 { 1_000_000 }
    /// How many more instructions a hart runs after an access that raised another hart's software interrupt
    /// (an IPI): enough to send a few more, too few to spin long while the target waits for its turn.
    @inlinable public static var sliceLeftAfterIPI: UInt64 { 1000 }
}

/// CSR numbers used outside the hart (the hart's own table is in RVHart/CSR.swift).
public enum CSRNumber {
    @inlinable public static var mie: UInt16 { 0x304 }
    @inlinable public static var mhartid: UInt16 { 0xf14 }
}

/// The kinds of device a machine can hold. The raw values are the wire enum's numbers (DeviceKind in
/// proto/rrvm.proto, mapped in RRProto); what a kind is (window, interrupt, model, device-tree node) is its
/// entry in RVMachine's device registry.
public enum DeviceKind: UInt32, CaseIterable {
    case finisher = 1
    case rtc = 2
    case clint = 3
    case plic = 4
    case uart = 5
    case virtioBlock = 6
    case virtioEntropy = 7
    case virtioNet = 8

    /// The name in process titles, command lines and messages.
    public var name: String {
        switch self {
        case .finisher: return "finisher"
        case .rtc: return "rtc"
        case .clint: return "clint"
        case .plic: return "plic"
        case .uart: return "uart"
        case .virtioBlock: return "virtio-blk"
        case .virtioEntropy: return "virtio-rng"
        case .virtioNet: return "virtio-net"
        }
    }
}

/// Ethernet frames as the network card carries them (no FCS, no offloads): from a bare 14-byte header to
/// 1500 bytes of payload behind a VLAN tag.
public enum EthernetFrame {
    @inlinable public static var sizes: ClosedRange<Int> { 14...1518 }
}
