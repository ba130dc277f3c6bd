/// The memory map and interrupt numbers of QEMU's `virt` machine, which rrvm reproduces.
public enum MachineLayout {
    public static let bootROMBase: UInt64 = 0x1000
    public static let bootROMSize: UInt64 = 0xf000
    public static let finisherBase: UInt64 = 0x10_0000
    public static let finisherSize: UInt64 = 0x1000
    public static let rtcBase: UInt64 = 0x10_1000
    public static let rtcSize: UInt64 = 0x1000
    public static let clintBase: UInt64 = 0x200_0000
    public static let clintSize: UInt64 = 0x1_0000
    public static let plicBase: UInt64 = 0xc00_0000
    /// QEMU's window: 0x20_0000 of global registers plus one 0x1000 context page for each of 1024
    /// contexts (512 harts x M/S), i.e. 0x60_0000.
    public static let plicSize: UInt64 = 0x60_0000
    public static let uartBase: UInt64 = 0x1000_0000
    public static let uartSize: UInt64 = 0x100
    public static let virtioBase: UInt64 = 0x1000_1000
    public static let virtioStride: UInt64 = 0x1000
    public static let virtioSlotCount = 8
    public static let virtioBlockSlot = 0
    public static let virtioEntropySlot = 1
    public static let ramBase: UInt64 = 0x8000_0000

    /// mtime ticks per second (10 MHz, as QEMU's virt).
    public static let timebaseFrequency: UInt64 = 10_000_000
    /// The NS16550A's input clock, in the device tree as QEMU writes it.
    public static let uartClockFrequency: UInt32 = 3_686_400

    public static let uartSource: UInt32 = 10
    public static let rtcSource: UInt32 = 11
    public static func virtioSource(slot: Int) -> UInt32 { 1 + UInt32(slot) }
    public static func virtioBase(slot: Int) -> UInt64 { virtioBase + UInt64(slot) * virtioStride }
    /// PLIC sources 1...plicSourceCount exist (QEMU's `riscv,ndev` = 96).
    public static let plicSourceCount: UInt32 = 96
    /// PLIC priorities are 3 bits wide (0 = never interrupts, 1...7).
    public static let plicPriorityMask: UInt32 = 7

    /// Where the kernel goes when a firmware is loaded at the RAM base (OpenSBI fw_jump's FW_JUMP_ADDR).
    public static let kernelOffsetAfterFirmware: UInt64 = 0x20_0000
}

public enum VirtioDeviceKind: Equatable {
    case block
    case entropy
}

/// A device window on the bus, for routing a physical address to a device process.
public struct DeviceWindow: Equatable {
    public enum Kind: Equatable {
        case finisher, rtc, clint, plic, uart
        case virtio(slot: Int, VirtioDeviceKind)
    }

    public var kind: Kind
    public var base: UInt64
    public var size: UInt64

    public init(kind: Kind, base: UInt64, size: UInt64) {
        self.kind = kind
        self.base = base
        self.size = size
    }

    public func contains(_ address: UInt64) -> Bool { address >= base && address - base < size }
}

/// Everything about the machine that is not an image or an input: the device tree is built from it and
/// the log's header records it.
public struct MachineConfig: Equatable {
    public struct Devices: Equatable {
        public var uart = true
        public var rtc = true
        public var finisher = true
        public var clint = true
        public var plic = true
        public var virtioBlock = false
        public var virtioEntropy = false

        public init(uart: Bool = true, rtc: Bool = true, finisher: Bool = true, clint: Bool = true,
                    plic: Bool = true, virtioBlock: Bool = false, virtioEntropy: Bool = false) {
            self.uart = uart
            self.rtc = rtc
            self.finisher = finisher
            self.clint = clint
            self.plic = plic
            self.virtioBlock = virtioBlock
            self.virtioEntropy = virtioEntropy
        }
    }

    public var harts: Int
    public var ramSize: UInt64
    public var bootargs: String
    /// Where the initrd was loaded, for `/chosen` (nil = none).
    public var initrd: Range<UInt64>?
    public var isa: String
    /// "riscv,sv39" or "riscv,sv48".
    public var mmuType: String
    public var devices: Devices
    /// The seed of every guest-visible random number (virtio-rng, the device tree's rng-seed).
    public var entropySeed: UInt64
    /// The wall-clock time at mtime 0, in ns since the Unix epoch (recorded, so that replay sees it too).
    public var startWallTimeNs: UInt64

    public init(harts: Int = 1, ramSize: UInt64 = 128 << 20, bootargs: String = "", initrd: Range<UInt64>? = nil,
                isa: String = "rv64imafdc_zicsr_zifencei_zihintpause_sstc", mmuType: String = "riscv,sv39",
                devices: Devices = Devices(), entropySeed: UInt64 = 0, startWallTimeNs: UInt64 = 0) {
        self.harts = harts
        self.ramSize = ramSize
        self.bootargs = bootargs
        self.initrd = initrd
        self.isa = isa
        self.mmuType = mmuType
        self.devices = devices
        self.entropySeed = entropySeed
        self.startWallTimeNs = startWallTimeNs
    }

    /// The virtio transports in use, by slot. Slots are fixed so that a device's address never depends on
    /// which others exist: the disk on slot 0 (0x1000_1000, source 1, where xv6 and QEMU's
    /// virtio-mmio-bus.0 put it), the entropy device on slot 1 (0x1000_2000, source 2).
    public var virtioSlots: [(slot: Int, kind: VirtioDeviceKind)] {
        var slots: [(slot: Int, kind: VirtioDeviceKind)] = []
        if devices.virtioBlock { slots.append((MachineLayout.virtioBlockSlot, .block)) }
        if devices.virtioEntropy { slots.append((MachineLayout.virtioEntropySlot, .entropy)) }
        return slots
    }

    /// The MMIO windows of the devices present, in address order.
    public var windows: [DeviceWindow] {
        typealias Layout = MachineLayout
        let fixed: [(Bool, DeviceWindow.Kind, UInt64, UInt64)] = [
            (devices.finisher, .finisher, Layout.finisherBase, Layout.finisherSize),
            (devices.rtc, .rtc, Layout.rtcBase, Layout.rtcSize),
            (devices.clint, .clint, Layout.clintBase, Layout.clintSize),
            (devices.plic, .plic, Layout.plicBase, Layout.plicSize),
            (devices.uart, .uart, Layout.uartBase, Layout.uartSize),
        ]
        var result = fixed.filter(\.0).map { DeviceWindow(kind: $0.1, base: $0.2, size: $0.3) }
        for (slot, kind) in virtioSlots {
            result.append(DeviceWindow(kind: .virtio(slot: slot, kind), base: Layout.virtioBase(slot: slot),
                                       size: Layout.virtioStride))
        }
        return result
    }

    public var ramRange: Range<UInt64> { MachineLayout.ramBase..<(MachineLayout.ramBase + ramSize) }
}
