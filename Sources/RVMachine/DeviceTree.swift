import RVPlatform

/// A flattened device tree (DTB version 17) writer: nodes and properties in the order they are
/// added, names deduplicated in the strings block, an empty memory reservation map.
struct FlattenedDeviceTreeWriter {
    private static let magic: UInt32 = 0xd00d_feed
    private static let beginNode: UInt32 = 1, endNode: UInt32 = 2, property: UInt32 = 3, end: UInt32 = 9

    private var structure: [UInt8] = []
    private var strings: [UInt8] = []
    private var stringOffsets: [String: UInt32] = [:]
    private var depth = 0

    mutating func beginNode(_ name: String) {
        appendWord(FlattenedDeviceTreeWriter.beginNode)
        structure += Array(name.utf8) + [0]
        pad()
        depth += 1
    }

    mutating func endNode() {
        precondition(depth > 0, "endNode without beginNode")
        appendWord(FlattenedDeviceTreeWriter.endNode)
        depth -= 1
    }

    mutating func property(_ name: String, bytes: [UInt8]) {
        appendWord(FlattenedDeviceTreeWriter.property)
        appendWord(UInt32(bytes.count))
        appendWord(nameOffset(name))
        structure += bytes
        pad()
    }

    mutating func property(_ name: String) { property(name, bytes: []) }
    mutating func property(_ name: String, string: String) { property(name, strings: [string]) }
    mutating func property(_ name: String, strings values: [String]) {
        property(name, bytes: values.flatMap { Array($0.utf8) + [0] })
    }
    mutating func property(_ name: String, cells: [UInt32]) {
        property(name, bytes: cells.flatMap { FlattenedDeviceTreeWriter.bigEndian($0) })
    }
    /// A list of 64-bit values, each as two cells (for #address-cells = #size-cells = 2).
    mutating func property(_ name: String, pairs: [UInt64]) {
        property(name, cells: pairs.flatMap { [UInt32($0 >> 32), UInt32(truncatingIfNeeded: $0)] })
    }

    func finish() -> [UInt8] {
        precondition(depth == 0, "unbalanced device tree nodes")
        let headerSize = 40
        let reservationMap = [UInt8](repeating: 0, count: 16)  // one terminating (0, 0) entry
        let structureBlock = structure + FlattenedDeviceTreeWriter.bigEndian(FlattenedDeviceTreeWriter.end)
        let structureOffset = headerSize + reservationMap.count
        let stringsOffset = structureOffset + structureBlock.count
        let total = stringsOffset + strings.count
        var header: [UInt8] = []
        for word in [FlattenedDeviceTreeWriter.magic, UInt32(total), UInt32(structureOffset), UInt32(stringsOffset),
                     UInt32(headerSize), 17, 16, 0, UInt32(strings.count), UInt32(structureBlock.count)] {
            header += FlattenedDeviceTreeWriter.bigEndian(word)
        }
        return header + reservationMap + structureBlock + strings
    }

    private mutating func nameOffset(_ name: String) -> UInt32 {
        if let offset = stringOffsets[name] { return offset }
        let offset = UInt32(strings.count)
        strings += Array(name.utf8) + [0]
        stringOffsets[name] = offset
        return offset
    }

    private mutating func appendWord(_ word: UInt32) { structure += FlattenedDeviceTreeWriter.bigEndian(word) }

    private mutating func pad() {
        while structure.count % 4 != 0 { structure.append(0) }
    }

    static func bigEndian(_ word: UInt32) -> [UInt8] {
        [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8),
         UInt8(truncatingIfNeeded: word)]
    }
}

/// The device tree of the machine, with the nodes QEMU's `virt` emits for the same devices (so that
/// OpenSBI's generic platform and Linux's drivers find them the same way). Each device's node comes from
/// its entry in the device registry.
public enum DeviceTree {
    public static func build(_ config: MachineDescription) -> [UInt8] {
        precondition(config.harts >= 1, "a machine needs at least one hart")
        typealias Context = DeviceTreeContext
        let devices = config.deviceTypes
        let tree = Context(harts: 0..<config.harts, hasPLIC: config.devices.contains(.plic))

        var fdt = FlattenedDeviceTreeWriter()
        fdt.beginNode("")
        fdt.property("#address-cells", cells: [2])
        fdt.property("#size-cells", cells: [2])
        fdt.property("compatible", string: "riscv-virtio")
        fdt.property("model", string: "riscv-virtio,rrvm")

        fdt.beginNode("chosen")
        if !config.bootargs.isEmpty { fdt.property("bootargs", string: config.bootargs) }
        if let console = devices.first(where: { $0.kind == .uart }) {
            fdt.property("stdout-path", string: "/soc/\(console.nodeUnitName)")
        }
        if let initrd = config.initrd {
            fdt.property("linux,initrd-start", pairs: [initrd.lowerBound])
            fdt.property("linux,initrd-end", pairs: [initrd.upperBound])
        }
        // 32 bytes for the kernel's random pool, derived from the recorded seed like every other random number.
        var random = DeterministicRandom(seed: config.entropySeed ^ 0x7264_7473_6565_64)  // "rdtseed"
        fdt.property("rng-seed", cells: (0..<8).map { _ in UInt32(truncatingIfNeeded: random.next()) })
        fdt.endNode()

        for device in devices { device.rootNodes(&fdt) }

        fdt.beginNode("memory@\(String(MemoryMap.ramBase, radix: 16))")
        fdt.property("device_type", string: "memory")
        fdt.property("reg", pairs: [MemoryMap.ramBase, config.ramSize])
        fdt.endNode()

        fdt.beginNode("cpus")
        fdt.property("#address-cells", cells: [1])
        fdt.property("#size-cells", cells: [0])
        fdt.property("timebase-frequency", cells: [UInt32(Timebase.frequency)])
        for hart in tree.harts {
            fdt.beginNode("cpu@\(hart)")
            fdt.property("phandle", cells: [Context.cpuPhandle(hart)])
            fdt.property("device_type", string: "cpu")
            fdt.property("reg", cells: [UInt32(hart)])
            fdt.property("status", string: "okay")
            fdt.property("compatible", string: "riscv")
            fdt.property("riscv,isa", string: config.isa)
            fdt.property("mmu-type", string: config.mmuType)
            fdt.beginNode("interrupt-controller")
            fdt.property("#interrupt-cells", cells: [1])
            fdt.property("interrupt-controller")
            fdt.property("compatible", string: "riscv,cpu-intc")
            fdt.property("phandle", cells: [Context.intcPhandle(hart)])
            fdt.endNode()
            fdt.endNode()
        }
        fdt.beginNode("cpu-map")
        fdt.beginNode("cluster0")
        for hart in tree.harts {
            fdt.beginNode("core\(hart)")
            fdt.property("cpu", cells: [Context.cpuPhandle(hart)])
            fdt.endNode()
        }
        fdt.endNode()
        fdt.endNode()
        fdt.endNode()

        fdt.beginNode("soc")
        fdt.property("#address-cells", cells: [2])
        fdt.property("#size-cells", cells: [2])
        fdt.property("compatible", string: "simple-bus")
        fdt.property("ranges")
        for device in devices {
            fdt.beginNode(device.nodeUnitName)
            if device.source != 0 && tree.hasPLIC {
                fdt.property("interrupts", cells: [device.source])
                fdt.property("interrupt-parent", cells: [Context.plicPhandle])
            }
            device.nodeProperties(&fdt, tree)
            fdt.property("reg", pairs: [device.base, device.size])
            fdt.property("compatible", strings: device.compatible)
            fdt.endNode()
        }
        fdt.endNode()  // soc
        fdt.endNode()  // root
        return fdt.finish()
    }
}
