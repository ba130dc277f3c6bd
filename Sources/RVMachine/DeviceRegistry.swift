import RVPlatform

/// Everything a device model is built from (see `DeviceType.make`).
public struct DeviceContext {
    public var harts: Int
    /// The device's PLIC source (its type's `source`).
    public var source: UInt32
    /// Guest RAM, for a device with DMA (nil otherwise).
    public var memory: GuestMemory?
    /// The seed of every guest-visible random number.
    public var entropySeed: UInt64
    /// The wall-clock time at mtime 0, in ns since the Unix epoch.
    public var startWallTimeNs: UInt64
    /// The backing file (virtio-blk), and whether its writes go to a copy-on-write overlay.
    public var backingFile: String
    public var overlay: Bool

    public init(harts: Int, source: UInt32, memory: GuestMemory?, entropySeed: UInt64 = 0, startWallTimeNs: UInt64 = 0,
                backingFile: String = "", overlay: Bool = false) {
        self.harts = harts
        self.source = source
        self.memory = memory
        self.entropySeed = entropySeed
        self.startWallTimeNs = startWallTimeNs
        self.backingFile = backingFile
        self.overlay = overlay
    }
}

public struct DeviceError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a device's node in the device tree may refer to.
struct DeviceTreeContext {
    static let plicPhandle: UInt32 = 1
    static let finisherPhandle: UInt32 = 2
    let harts: Range<Int>
    /// Whether the machine has a PLIC (devices name it as their interrupt parent).
    let hasPLIC: Bool
    /// The phandle of hart `hart`'s interrupt controller (cpus are 3 + 2h, their controllers 4 + 2h).
    static func cpuPhandle(_ hart: Int) -> UInt32 { 3 + 2 * UInt32(hart) }
    static func intcPhandle(_ hart: Int) -> UInt32 { 4 + 2 * UInt32(hart) }
}

/// One kind of device: where it sits, how it interrupts, how it is built and how the device tree
/// describes it. The sequencer, the harts and rrctl learn all of this from here (through the DeviceSpec
/// rrctl fills from it), so a new device is one file for its model and one entry in `DeviceRegistry.all`
/// (plus its number in the wire enum DeviceKind).
public struct DeviceType {
    public let kind: DeviceKind
    /// The MMIO window.
    public let base: UInt64
    public let size: UInt64
    /// PLIC interrupt source, 0 = none.
    public let source: UInt32
    /// The device reads or writes guest RAM.
    public let dma: Bool
    /// A hart waits for its writes to finish: devices with DMA, and the interrupt controllers, whose effect
    /// on the writing hart's own lines must be seen right after the store. Other writes are posted.
    public let writesWait: Bool
    /// The device tree node's name (before "@address") and compatible strings.
    let nodeName: String
    let compatible: [String]
    /// Properties of its node beyond interrupts, reg and compatible.
    var nodeProperties: (inout FlattenedDeviceTreeWriter, DeviceTreeContext) -> Void = { _, _ in }
    /// Nodes it adds at the root of the tree (the finisher's syscon-poweroff and syscon-reboot).
    var rootNodes: (inout FlattenedDeviceTreeWriter) -> Void = { _ in }
    /// Builds the model.
    public let make: (DeviceContext) throws -> DeviceModel

    public var name: String { kind.name }
    public func contains(_ address: UInt64) -> Bool { address >= base && address - base < size }
    var nodeUnitName: String { "\(nodeName)@\(String(base, radix: 16))" }
}

/// Every device rrvm can emulate, in the order of the device tree's /soc and of the device processes.
/// The windows and sources are QEMU virt's; virtio transports keep their slot whichever others exist:
/// the disk on slot 0 (0x1000_1000, source 1, where xv6 and QEMU's virtio-mmio-bus.0 put it), the
/// entropy device on slot 1.
public enum DeviceRegistry {
    public static let all: [DeviceType] = [
        DeviceType(kind: .rtc, base: 0x10_1000, size: 0x1000, source: 11, dma: false, writesWait: false,
                   nodeName: "rtc", compatible: ["google,goldfish-rtc"]) { context in
            GoldfishRTC(startWallTimeNs: context.startWallTimeNs, source: context.source)
        },
        DeviceType(kind: .uart, base: 0x1000_0000, size: 0x100, source: 10, dma: false, writesWait: false,
                   nodeName: "serial", compatible: ["ns16550a"], nodeProperties: { fdt, _ in
            fdt.property("clock-frequency", cells: [UART16550.clockFrequency])
        }) { context in UART16550(source: context.source) },
        DeviceType(kind: .finisher, base: 0x10_0000, size: 0x1000, source: 0, dma: false, writesWait: false,
                   nodeName: "test", compatible: ["sifive,test1", "sifive,test0", "syscon"], nodeProperties: { fdt, _ in
            fdt.property("phandle", cells: [DeviceTreeContext.finisherPhandle])
        }, rootNodes: { fdt in
            for (node, compatible, value) in [("poweroff", "syscon-poweroff", TestFinisher.powerOff),
                                              ("reboot", "syscon-reboot", TestFinisher.reset)] {
                fdt.beginNode(node)
                fdt.property("value", cells: [value])
                fdt.property("offset", cells: [0])
                fdt.property("regmap", cells: [DeviceTreeContext.finisherPhandle])
                fdt.property("compatible", string: compatible)
                fdt.endNode()
            }
        }) { _ in TestFinisher() },
        virtio(.virtioBlock, slot: 0) { context in
            VirtioBlock(disk: try DiskImage(path: context.backingFile, mode: context.overlay ? .overlay : .readWrite))
        },
        virtio(.virtioEntropy, slot: 1) { context in VirtioRNG(seed: context.entropySeed) },
        DeviceType(kind: .plic, base: 0xc00_0000, size: PLIC.windowSize, source: 0, dma: false, writesWait: true,
                   nodeName: "plic", compatible: ["sifive,plic-1.0.0", "riscv,plic0"], nodeProperties: { fdt, tree in
            fdt.property("phandle", cells: [DeviceTreeContext.plicPhandle])
            fdt.property("riscv,ndev", cells: [PLIC.sourceCount])
            fdt.property("interrupts-extended", cells: tree.harts.flatMap {
                [DeviceTreeContext.intcPhandle($0), InterruptNumber.machineExternal,
                 DeviceTreeContext.intcPhandle($0), InterruptNumber.supervisorExternal]
            })
            fdt.property("interrupt-controller")
            fdt.property("#address-cells", cells: [0])
            fdt.property("#interrupt-cells", cells: [1])
        }) { context in PLIC(harts: context.harts) },
        DeviceType(kind: .clint, base: 0x200_0000, size: 0x1_0000, source: 0, dma: false, writesWait: true,
                   nodeName: "clint", compatible: ["sifive,clint0", "riscv,clint0"], nodeProperties: { fdt, tree in
            fdt.property("interrupts-extended", cells: tree.harts.flatMap {
                [DeviceTreeContext.intcPhandle($0), InterruptNumber.machineSoftware,
                 DeviceTreeContext.intcPhandle($0), InterruptNumber.machineTimer]
            })
        }) { context in CLINT(harts: context.harts) },
    ]

    /// The registry's entry for a kind.
    public static func type(of kind: DeviceKind) -> DeviceType {
        guard let type = all.first(where: { $0.kind == kind }) else { preconditionFailure("\(kind) is not registered") }
        return type
    }

    /// A virtio-mmio transport (version 2) in slot `slot`, around the backend `backend` builds.
    private static func virtio(_ kind: DeviceKind, slot: UInt64,
                               backend: @escaping (DeviceContext) throws -> VirtioBackend) -> DeviceType {
        DeviceType(kind: kind, base: 0x1000_1000 + slot * 0x1000, size: 0x1000, source: 1 + UInt32(slot), dma: true,
                   writesWait: true, nodeName: "virtio_mmio", compatible: ["virtio,mmio"]) { context in
            guard let memory = context.memory else { throw DeviceError("\(kind.name) needs guest RAM (dma)") }
            return VirtioMMIO(backend: try backend(context), memory: memory, source: context.source, name: kind.name)
        }
    }
}
