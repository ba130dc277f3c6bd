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
/// OpenSBI's generic platform and Linux's drivers find them the same way).
public enum DeviceTree {
    // Interrupt numbers on the per-hart interrupt controller (mip bits).
    static let supervisorExternal: UInt32 = 9, machineSoftware: UInt32 = 3
    static let machineTimer: UInt32 = 7, machineExternal: UInt32 = 11

    public static func build(_ config: MachineConfig) -> [UInt8] {
        precondition(config.harts >= 1, "a machine needs at least one hart")
        // phandles: 1 = PLIC, 2 = test finisher, 3 + 2h = cpu h, 4 + 2h = its interrupt controller.
        let plicPhandle: UInt32 = 1
        let finisherPhandle: UInt32 = 2
        func cpuPhandle(_ hart: Int) -> UInt32 { 3 + 2 * UInt32(hart) }
        func intcPhandle(_ hart: Int) -> UInt32 { 4 + 2 * UInt32(hart) }
        let devices = config.devices
        let harts = 0..<config.harts

        var fdt = FlattenedDeviceTreeWriter()
        fdt.beginNode("")
        fdt.property("#address-cells", cells: [2])
        fdt.property("#size-cells", cells: [2])
        fdt.property("compatible", string: "riscv-virtio")
        fdt.property("model", string: "riscv-virtio,rrvm")

        fdt.beginNode("chosen")
        if !config.bootargs.isEmpty { fdt.property("bootargs", string: config.bootargs) }
        if devices.uart { fdt.property("stdout-path", string: "/soc/serial@\(hexName(MachineLayout.uartBase))") }
        if let initrd = config.initrd {
            fdt.property("linux,initrd-start", pairs: [initrd.lowerBound])
            fdt.property("linux,initrd-end", pairs: [initrd.upperBound])
        }
        // 32 bytes for the kernel's random pool, derived from the recorded seed like every other random number.
        var random = DeterministicRandom(seed: config.entropySeed ^ 0x7264_7473_6565_64)  // "rdtseed"
        fdt.property("rng-seed", cells: (0..<8).map { _ in UInt32(truncatingIfNeeded: random.next()) })
        fdt.endNode()

        if devices.finisher {
            let syscons = [("poweroff", "syscon-poweroff", 0x5555), ("reboot", "syscon-reboot", 0x7777)]
            for (node, compatible, value) in syscons {
                fdt.beginNode(node)
                fdt.property("value", cells: [UInt32(value)])
                fdt.property("offset", cells: [0])
                fdt.property("regmap", cells: [finisherPhandle])
                fdt.property("compatible", string: compatible)
                fdt.endNode()
            }
        }

        fdt.beginNode("memory@\(hexName(MachineLayout.ramBase))")
        fdt.property("device_type", string: "memory")
        fdt.property("reg", pairs: [MachineLayout.ramBase, config.ramSize])
        fdt.endNode()

        fdt.beginNode("cpus")
        fdt.property("#address-cells", cells: [1])
        fdt.property("#size-cells", cells: [0])
        fdt.property("timebase-frequency", cells: [UInt32(MachineLayout.timebaseFrequency)])
        for hart in harts {
            fdt.beginNode("cpu@\(hart)")
            fdt.property("phandle", cells: [cpuPhandle(hart)])
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
            fdt.property("phandle", cells: [intcPhandle(hart)])
            fdt.endNode()
            fdt.endNode()
        }
        fdt.beginNode("cpu-map")
        fdt.beginNode("cluster0")
        for hart in harts {
            fdt.beginNode("core\(hart)")
            fdt.property("cpu", cells: [cpuPhandle(hart)])
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

        func interruptSource(_ source: UInt32) {
            fdt.property("interrupts", cells: [source])
            fdt.property("interrupt-parent", cells: [plicPhandle])
        }
        if devices.rtc {
            fdt.beginNode("rtc@\(hexName(MachineLayout.rtcBase))")
            if devices.plic { interruptSource(MachineLayout.rtcSource) }
            fdt.property("reg", pairs: [MachineLayout.rtcBase, MachineLayout.rtcSize])
            fdt.property("compatible", string: "google,goldfish-rtc")
            fdt.endNode()
        }
        if devices.uart {
            fdt.beginNode("serial@\(hexName(MachineLayout.uartBase))")
            if devices.plic { interruptSource(MachineLayout.uartSource) }
            fdt.property("clock-frequency", cells: [MachineLayout.uartClockFrequency])
            fdt.property("reg", pairs: [MachineLayout.uartBase, MachineLayout.uartSize])
            fdt.property("compatible", string: "ns16550a")
            fdt.endNode()
        }
        if devices.finisher {
            fdt.beginNode("test@\(hexName(MachineLayout.finisherBase))")
            fdt.property("phandle", cells: [finisherPhandle])
            fdt.property("reg", pairs: [MachineLayout.finisherBase, MachineLayout.finisherSize])
            fdt.property("compatible", strings: ["sifive,test1", "sifive,test0", "syscon"])
            fdt.endNode()
        }
        for (slot, _) in config.virtioSlots {
            let base = MachineLayout.virtioBase(slot: slot)
            fdt.beginNode("virtio_mmio@\(hexName(base))")
            if devices.plic { interruptSource(MachineLayout.virtioSource(slot: slot)) }
            fdt.property("reg", pairs: [base, MachineLayout.virtioStride])
            fdt.property("compatible", string: "virtio,mmio")
            fdt.endNode()
        }
        if devices.plic {
            fdt.beginNode("plic@\(hexName(MachineLayout.plicBase))")
            fdt.property("phandle", cells: [plicPhandle])
            fdt.property("riscv,ndev", cells: [MachineLayout.plicSourceCount])
            fdt.property("reg", pairs: [MachineLayout.plicBase, MachineLayout.plicSize])
            fdt.property("interrupts-extended", cells: harts.flatMap {
                [intcPhandle($0), machineExternal, intcPhandle($0), supervisorExternal]
            })
            fdt.property("interrupt-controller")
            fdt.property("compatible", strings: ["sifive,plic-1.0.0", "riscv,plic0"])
            fdt.property("#address-cells", cells: [0])
            fdt.property("#interrupt-cells", cells: [1])
            fdt.endNode()
        }
        if devices.clint {
            fdt.beginNode("clint@\(hexName(MachineLayout.clintBase))")
            fdt.property("interrupts-extended", cells: harts.flatMap {
                [intcPhandle($0), machineSoftware, intcPhandle($0), machineTimer]
            })
            fdt.property("reg", pairs: [MachineLayout.clintBase, MachineLayout.clintSize])
            fdt.property("compatible", strings: ["sifive,clint0", "riscv,clint0"])
            fdt.endNode()
        }
        fdt.endNode()  // soc
        fdt.endNode()  // root
        return fdt.finish()
    }

    private static func hexName(_ address: UInt64) -> String { String(address, radix: 16) }
}
