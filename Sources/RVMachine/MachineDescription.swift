import RVPlatform

/// Everything about the machine that is not an image or an input: the device tree is built from it.
/// (The bus and the log carry it as `Rrvm_MachineConfig`, which rrctl fills from this and the registry.)
public struct MachineDescription: Equatable {
    /// The devices of a machine without options: finisher, RTC, CLINT, PLIC and UART.
    public static let standardDevices: Set<DeviceKind> = [.finisher, .rtc, .clint, .plic, .uart]

    public var harts: Int
    public var ramSize: UInt64
    public var bootargs: String
    /// Where the initrd was loaded, for `/chosen` (nil = none).
    public var initrd: Range<UInt64>?
    public var isa: String
    /// "riscv,sv39" or "riscv,sv48".
    public var mmuType: String
    public var devices: Set<DeviceKind>
    /// The seed of every guest-visible random number (virtio-rng, the device tree's rng-seed).
    public var entropySeed: UInt64
    /// The wall-clock time at mtime 0, in ns since the Unix epoch (recorded, so that replay sees it too).
    public var startWallTimeNs: UInt64

    public init(harts: Int = 1, ramSize: UInt64 = 128 << 20, bootargs: String = "", initrd: Range<UInt64>? = nil,
                isa: String = "rv64imafdc_zicsr_zifencei_zihintpause_sstc", mmuType: String = "riscv,sv39",
                devices: Set<DeviceKind> = MachineDescription.standardDevices, entropySeed: UInt64 = 0,
                startWallTimeNs: UInt64 = 0) {
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

    /// The devices present, in the registry's order: the order of the device tree and of the device
    /// processes.
    public var deviceTypes: [DeviceType] { DeviceRegistry.all.filter { devices.contains($0.kind) } }

    public var ramRange: Range<UInt64> { MemoryMap.ramBase..<(MemoryMap.ramBase + ramSize) }
}
