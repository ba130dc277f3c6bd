import ArgumentParser
import Foundation
import RRBus
import RRNode
import RRProto
import RVMachine

/// Everything that decides a machine: what `rrctl up` was asked for, or what a log's header recorded.
struct MachineInputs {
    var harts: Int
    var ramSize: UInt64
    var bios: String?          // nil = none (a bare ELF started in M-mode)
    var kernel: String
    var initrd: String?
    var bootargs: String
    var disk: String?
    var overlayDisk: Bool
    var quantum: UInt64
    var icountShift: UInt32
    var mmu: String
    var entropySeed: UInt64
    var startWallTimeNs: Int64
}

/// The machine configuration plus what to write into guest RAM before the harts start.
struct MachinePlan {
    var config: Rrvm_MachineConfig
    var loads: [(address: UInt64, bytes: [UInt8], what: String)]

    func load(into ram: SharedRAM) throws {
        for load in loads {
            let offset = load.address &- MachineLayout.ramBase
            guard load.address >= MachineLayout.ramBase, offset <= UInt64(ram.size),
                  UInt64(load.bytes.count) <= UInt64(ram.size) - offset else {
                throw ValidationError("\(load.what) (\(load.bytes.count) bytes at 0x\(String(load.address, radix: 16))) "
                                      + "does not fit in \(ram.size >> 20) MiB of RAM at 0x80000000")
            }
            load.bytes.withUnsafeBytes { (ram.base + Int(offset)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }
}

enum MachineBuilder {
    static let defaultFirmware = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"

    /// The machine `rrctl up` describes.
    static func plan(_ options: MachineOptions, overlayDisk: Bool) throws -> MachinePlan {
        guard (1...8).contains(options.smp) else { throw ValidationError("--smp must be 1 to 8, not \(options.smp)") }
        let ramSize = try parseSize(options.memory)
        guard ramSize >= 16 << 20, ramSize <= 8 << 30 else {
            throw ValidationError("--memory must be between 16M and 8G, not \(options.memory)")
        }
        guard ["sv39", "sv48"].contains(options.mmu) else { throw ValidationError("--mmu must be sv39 or sv48") }
        guard options.quantum >= 100 else { throw ValidationError("--quantum must be at least 100 instructions") }
        guard options.icountShift <= 16 else { throw ValidationError("--icount-shift must be 0 to 16") }
        guard let kernel = options.kernel else {
            throw ValidationError("no --kernel given (the default Linux guest arrives with `rrctl guest build`)")
        }
        var generator = SystemRandomNumberGenerator()
        let inputs = MachineInputs(
            harts: options.smp, ramSize: ramSize,
            bios: options.bios == "none" ? nil : (options.bios ?? defaultFirmware),
            kernel: kernel, initrd: options.initrd,
            bootargs: options.append ?? "console=ttyS0 earlycon",
            disk: options.disk, overlayDisk: overlayDisk, quantum: options.quantum,
            icountShift: options.icountShift, mmu: options.mmu,
            // The only host nondeterminism a guest sees at boot; both are recorded in the log header.
            entropySeed: generator.next(),
            startWallTimeNs: Int64(Date().timeIntervalSince1970 * 1e9))
        return try build(inputs)
    }

    /// The machine a log recorded, with every image checked against its recorded hash.
    static func replan(_ recorded: Rrvm_MachineConfig, imageDirectory: String?) throws -> MachinePlan {
        func image(_ role: String) throws -> String? {
            guard let info = recorded.images.first(where: { $0.role == role }) else { return nil }
            let path = imageDirectory.map { "\($0)/\((info.path as NSString).lastPathComponent)" } ?? info.path
            let bytes = try readImage(path, what: role)
            let hash = SHA256.hex(bytes)
            guard hash == info.sha256 else {
                throw ValidationError("\(role) image \(path) has changed since the recording "
                                      + "(sha256 \(hash), recorded \(info.sha256))")
            }
            return path
        }
        guard let kernel = try image("kernel") else { throw ValidationError("the log records no kernel image") }
        let disk = recorded.devices.first { $0.kind == "virtio-blk" }
        let inputs = MachineInputs(
            harts: Int(recorded.harts), ramSize: recorded.ramSize, bios: try image("bios"), kernel: kernel,
            initrd: try image("initrd"), bootargs: recorded.bootargs, disk: disk == nil ? nil : try image("disk"),
            overlayDisk: true, quantum: recorded.quantum, icountShift: recorded.icountShift,
            mmu: recorded.satpMode, entropySeed: recorded.entropySeed, startWallTimeNs: recorded.startWallTimeNs)
        var plan = try build(inputs)
        plan.config.replay = true
        return plan
    }

    static func build(_ inputs: MachineInputs) throws -> MachinePlan {
        let ramBase = MachineLayout.ramBase
        var config = Rrvm_MachineConfig()
        config.harts = UInt32(inputs.harts)
        config.ramSize = inputs.ramSize
        config.icountShift = inputs.icountShift
        config.quantum = inputs.quantum
        config.bootargs = inputs.bootargs
        config.entropySeed = inputs.entropySeed
        config.startWallTimeNs = inputs.startWallTimeNs
        config.satpMode = inputs.mmu
        var loads: [(address: UInt64, bytes: [UInt8], what: String)] = []

        func record(_ role: String, _ path: String, _ bytes: [UInt8], at address: UInt64) {
            config.images.append(.with {
                $0.role = role
                $0.path = absolute(path)
                $0.sha256 = SHA256.hex(bytes)
                $0.loadAddress = address
                $0.size = UInt64(bytes.count)
            })
        }

        let kernelBytes = try readImage(inputs.kernel, what: "kernel")
        if let bios = inputs.bios {
            let firmware = try readImage(bios, what: "firmware")
            try FirmwareCheck.validate(firmware, path: bios)
            loads.append((ramBase, firmware, "firmware \(bios)"))
            record("bios", bios, firmware, at: ramBase)
            config.entry = ramBase
            let kernelAddress = ramBase + MachineLayout.kernelOffsetAfterFirmware
            if ElfImage.hasMagic(kernelBytes) {
                let elf = try elfImage(kernelBytes, path: inputs.kernel)
                loads += elf.segments.map { ($0.physicalAddress, $0.data, "kernel \(inputs.kernel)") }
            } else {
                try FirmwareCheck.validateKernelImage(kernelBytes, path: inputs.kernel)
                loads.append((kernelAddress, kernelBytes, "kernel \(inputs.kernel)"))
            }
            record("kernel", inputs.kernel, kernelBytes, at: kernelAddress)
        } else {
            let elf = try elfImage(kernelBytes, path: inputs.kernel)
            loads += elf.segments.map { ($0.physicalAddress, $0.data, "kernel \(inputs.kernel)") }
            config.entry = elf.entry
            record("kernel", inputs.kernel, kernelBytes, at: elf.entry)
        }

        // The device tree sits in the last 2 MiB of RAM, the initrd right below it (as QEMU places them
        // near the top, out of the kernel's way).
        let fdtAddress = ramBase + inputs.ramSize - (2 << 20)
        config.fdtAddress = fdtAddress
        var initrdRange: Range<UInt64>?
        if let initrd = inputs.initrd {
            let bytes = try readImage(initrd, what: "initrd")
            let start = (fdtAddress - UInt64(bytes.count)) & ~UInt64(0xFFF)
            guard bytes.count < inputs.ramSize / 2, start > ramBase + (64 << 20) || inputs.ramSize < 128 << 20 else {
                throw ValidationError("initrd \(initrd) (\(bytes.count) bytes) is too large for \(inputs.ramSize >> 20) MiB of RAM")
            }
            loads.append((start, bytes, "initrd \(initrd)"))
            record("initrd", initrd, bytes, at: start)
            initrdRange = start..<(start + UInt64(bytes.count))
        }

        config.devices = deviceSpecs(disk: inputs.disk, overlay: inputs.overlayDisk)
        if let disk = inputs.disk {
            let bytes = try readImage(disk, what: "disk")
            record("disk", disk, bytes, at: 0)
        }
        let tree = DeviceTree.build(machineDescription(config, initrd: initrdRange))
        guard tree.count <= 2 << 20 else { throw ValidationError("the device tree is larger than 2 MiB") }
        loads.append((fdtAddress, tree, "device tree"))
        config.bootRom = Data(BootROM.build(entry: config.entry, fdtAddress: fdtAddress))
        return MachinePlan(config: config, loads: loads)
    }

    /// The devices of a run, in the order of their processes: only those the run needs.
    static func deviceSpecs(disk: String?, overlay: Bool) -> [Rrvm_DeviceSpec] {
        func spec(_ kind: String, _ base: UInt64, _ size: UInt64, irq: UInt32 = 0, dma: Bool = false) -> Rrvm_DeviceSpec {
            .with { $0.kind = kind; $0.base = base; $0.size = size; $0.irq = irq; $0.dma = dma }
        }
        var specs = [
            spec("finisher", MachineLayout.finisherBase, MachineLayout.finisherSize),
            spec("rtc", MachineLayout.rtcBase, MachineLayout.rtcSize, irq: MachineLayout.rtcSource),
            spec("clint", MachineLayout.clintBase, MachineLayout.clintSize),
            spec("plic", MachineLayout.plicBase, MachineLayout.plicSize),
            spec("uart", MachineLayout.uartBase, MachineLayout.uartSize, irq: MachineLayout.uartSource),
        ]
        // The disk is always the first virtio transport (where xv6 and QEMU's virtio-mmio-bus.0 put it).
        if let disk {
            var blk = spec("virtio-blk", MachineLayout.virtioBase(slot: 0), MachineLayout.virtioStride,
                           irq: MachineLayout.virtioSource(slot: 0), dma: true)
            blk.path = absolute(disk)
            blk.overlay = overlay
            specs.append(blk)
        }
        specs.append(spec("virtio-rng", MachineLayout.virtioBase(slot: 1), MachineLayout.virtioStride,
                          irq: MachineLayout.virtioSource(slot: 1), dma: true))
        return specs
    }

    private static func elfImage(_ bytes: [UInt8], path: String) throws -> ElfImage {
        do {
            return try ElfImage(bytes: bytes)
        } catch {
            throw ValidationError("\(path): \(error)")
        }
    }
}

/// Reads a whole image, or fails naming the file.
func readImage(_ path: String, what: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ValidationError("\(what) file \(path) does not exist")
    }
    guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("\(what) file \(path) is not a readable file")
    }
    return [UInt8](data)
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}
