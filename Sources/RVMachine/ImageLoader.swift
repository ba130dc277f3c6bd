#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RVPlatform

/// A guest image read from a file (its path is kept for error messages).
public struct BootImage: Equatable {
    public var path: String
    public var bytes: [UInt8]

    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    /// Reads a whole file; the error names the path.
    public static func read(path: String) throws -> BootImage {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw BootError("cannot open \(path): \(errnoText())") }
        defer { close(descriptor) }
        guard let bytes = readToEnd(descriptor) else { throw BootError("cannot read \(path): \(errnoText())") }
        return BootImage(path: path, bytes: bytes)
    }
}

/// The file's bytes, read straight into an array of its size (an image is megabytes: growing an array chunk by
/// chunk copied it several times over, into freshly faulted memory); a file that turns out longer than its size
/// said (or has none, as a pipe) is read on to its end.
private func readToEnd(_ descriptor: Int32) -> [UInt8]? {
    var status = stat()
    let expected = fstat(descriptor, &status) == 0 ? max(0, Int(status.st_size)) : 0
    var failed = false
    var bytes = [UInt8](unsafeUninitializedCapacity: expected) { buffer, count in
        let got = readUpTo(descriptor, into: UnsafeMutableRawBufferPointer(buffer))
        failed = got == nil
        count = got ?? 0
    }
    guard !failed else { return nil }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        guard let count = chunk.withUnsafeMutableBytes({ readUpTo(descriptor, into: $0) }) else { return nil }
        bytes += chunk[0..<count]
        if count < chunk.count { return bytes }
    }
}

public struct BootError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Bytes to place in RAM: `data` at `address`, then zeros up to `size` (an ELF segment's .bss).
public struct LoadRegion: Equatable {
    public var name: String
    public var address: UInt64
    public var data: [UInt8]
    public var size: UInt64

    public var range: Range<UInt64> { address..<(address + size) }
}

/// Where everything goes, decided before any process starts.
public struct BootPlan: Equatable {
    /// Where every hart jumps from the boot ROM (the firmware, else the kernel).
    public var entry: UInt64
    /// Where the kernel was placed (fw_jump jumps to 0x8020_0000), nil without a kernel.
    public var kernelEntry: UInt64?
    public var fdtAddress: UInt64
    public var initrd: Range<UInt64>?
    /// The machine configuration with the initrd range filled in (what the device tree describes).
    public var config: MachineDescription
    public var deviceTree: [UInt8]
    /// The boot ROM for 0x1000.
    public var bootROM: [UInt8]
    /// Everything for RAM, the device tree included.
    public var regions: [LoadRegion]

    /// Copies every region into RAM (bounds-checked again: `memory` must be the configured RAM).
    public func load(into memory: GuestMemory) throws {
        for region in regions {
            let dataEnd = region.address + UInt64(region.data.count)
            guard memory.write(region.address, bytes: region.data),
                  memory.fill(dataEnd, count: region.size - UInt64(region.data.count))
            else { throw BootError("\(region.name) at \(hex(region.address)) does not fit in guest RAM") }
        }
    }
}

/// Places firmware, kernel, initrd and device tree the way QEMU's `virt` does:
/// - a firmware (raw at 0x8000_0000, or an ELF at its physical addresses) is the entry;
/// - the kernel follows the firmware at the next 2 MiB boundary (0x8020_0000 after fw_jump.bin) when
///   it is raw, or goes to its physical addresses when it is an ELF; without firmware (`-bios none`) a
///   raw kernel goes to 0x8000_0000 and the kernel is the entry;
/// - the initrd goes at kernel + min(RAM / 2, 128 MiB), or just below the device tree if it does not
///   fit there;
/// - the device tree goes at the highest 2 MiB boundary where it fits below min(RAM end, 3 GiB).
/// Every region must lie in RAM and none may overlap; errors name the file. Unlike QEMU, the plan also keeps
/// clear the place where OpenSBI's fw_jump copies the device tree (`deviceTreeCopy`): QEMU puts the initrd there
/// with 64 MiB of RAM, and below 36 MiB fw_jump writes outside RAM and hangs before printing anything.
public enum ImageLoader {
    static let twoMiB: UInt64 = 2 << 20
    static let pageSize: UInt64 = 4096

    /// Where a firmware copies the device tree before it starts the kernel, when it is one that does:
    /// OpenSBI's fw_jump (`fw_jump.bin` or `fw_jump.elf`; Debian's generic build, as upstream's, returns
    /// FW_JUMP_FDT_ADDR = 0x8220_0000 from `fw_next_arg1`) moves the tree there and hands Linux that address.
    /// A 2 MiB block is kept, as for the tree's own place: OpenSBI grows the tree in place with its fix-ups.
    public static func deviceTreeCopy(firmware: BootImage?) -> Range<UInt64>? {
        guard let firmware else { return nil }
        let name = firmware.path.split(separator: "/").last.map(String.init) ?? firmware.path
        guard name.hasPrefix("fw_jump") else { return nil }
        return 0x8220_0000..<(0x8220_0000 + twoMiB)
    }

    public static func plan(config: MachineDescription, firmwarePath: String?, kernelPath: String?,
                            initrdPath: String?) throws -> BootPlan {
        try plan(config: config, firmware: firmwarePath.map(BootImage.read), kernel: kernelPath.map(BootImage.read),
                 initrd: initrdPath.map(BootImage.read))
    }

    public static func plan(config: MachineDescription, firmware: BootImage?, kernel: BootImage?,
                            initrd: BootImage?) throws -> BootPlan {
        guard firmware != nil || kernel != nil else { throw BootError("nothing to boot: give a firmware or a kernel") }
        let ram = config.ramRange
        var regions: [LoadRegion] = []
        var entry: UInt64?
        var kernelEntry: UInt64?
        var nextFree = ram.lowerBound

        if let firmware {
            let (placed, imageEntry) = try place(firmware, role: "firmware", rawAddress: ram.lowerBound)
            regions += placed
            entry = imageEntry
            nextFree = alignUp(placed.map(\.range.upperBound).max()!, twoMiB)
        }
        if let kernel {
            let (placed, imageEntry) = try place(kernel, role: "kernel", rawAddress: nextFree)
            regions += placed
            kernelEntry = imageEntry
            if entry == nil { entry = imageEntry }
        }
        try checkInRAM(regions, ram: ram)
        // Regions that firmware writes on its own, which nothing of ours may share.
        var keptClear: [LoadRegion] = []
        if let copy = deviceTreeCopy(firmware: firmware), let firmware {
            let name = "the device tree's copy by \(firmware.path)"
            guard copy.upperBound <= ram.upperBound else {
                throw BootError("\(firmware.path) copies the device tree to \(hex(copy.lowerBound)), outside "
                    + "\(config.ramSize >> 20) MiB of RAM: give the machine more RAM")
            }
            if let clash = regions.first(where: { $0.range.overlaps(copy) }) {
                throw BootError("\(clash.name) overlaps \(hex(copy.lowerBound))..<\(hex(copy.upperBound)), where "
                    + "\(firmware.path) copies the device tree")
            }
            keptClear.append(LoadRegion(name: name, address: copy.lowerBound, data: [], size: UInt64(copy.count)))
        }

        // The device tree's size does not depend on the initrd's addresses, only on whether there is one.
        var finalConfig = config
        if initrd != nil { finalConfig.initrd = 0..<0 }
        let fdtSize = UInt64(DeviceTree.build(finalConfig).count)
        let fdtCeiling = min(ram.upperBound, 0xc000_0000)
        guard fdtCeiling >= ram.lowerBound + fdtSize else { throw BootError("the device tree does not fit in RAM") }
        let fdtAddress = alignDown(fdtCeiling - fdtSize, twoMiB)
        guard fdtAddress >= ram.lowerBound else { throw BootError("the device tree does not fit in RAM") }

        if let initrd {
            guard let kernelStart = kernelEntry else {
                throw BootError("an initrd (\(initrd.path)) needs a kernel")
            }
            let size = UInt64(initrd.bytes.count)
            var start = kernelStart + min(config.ramSize / 2, 128 << 20)
            if start + size > fdtAddress || keptClear.contains(where: { $0.range.overlaps(start..<(start + size)) }) {
                start = alignDown(fdtAddress - min(size, fdtAddress), pageSize)
            }
            let region = LoadRegion(name: "initrd \(initrd.path)", address: start, data: initrd.bytes, size: size)
            guard start >= ram.lowerBound,
                  !(regions + keptClear).contains(where: { $0.range.overlaps(region.range) }) else {
                throw BootError("initrd \(initrd.path) (\(size) bytes) does not fit in "
                    + "\(config.ramSize >> 20) MiB of RAM beside the firmware and kernel")
            }
            regions.append(region)
            finalConfig.initrd = region.range
        }

        let deviceTree = DeviceTree.build(finalConfig)
        let fdtRegion = LoadRegion(name: "device tree", address: fdtAddress, data: deviceTree,
                                   size: UInt64(deviceTree.count))
        if let clash = (regions + keptClear).first(where: { $0.range.overlaps(fdtRegion.range) }) {
            throw BootError("\(clash.name) overlaps the device tree at \(hex(fdtAddress)): give the machine more RAM")
        }
        regions.append(fdtRegion)
        let bootEntry = entry!
        return BootPlan(entry: bootEntry, kernelEntry: kernelEntry, fdtAddress: fdtAddress, initrd: finalConfig.initrd,
                        config: finalConfig, deviceTree: deviceTree,
                        bootROM: BootROM.build(entry: bootEntry, fdtAddress: fdtAddress), regions: regions)
    }

    /// An ELF at its physical addresses, or a checked raw image at `rawAddress`.
    private static func place(_ image: BootImage, role: String, rawAddress: UInt64) throws -> ([LoadRegion], UInt64) {
        let name = "\(role) \(image.path)"
        if ElfImage.hasMagic(image.bytes) {
            let elf: ElfImage
            do {
                elf = try ElfImage(bytes: image.bytes)
            } catch {
                throw BootError("\(name) is not a RISC-V image: \(error)")
            }
            let regions = elf.segments.map {
                LoadRegion(name: name, address: $0.physicalAddress, data: $0.data, size: $0.memorySize)
            }
            for (index, region) in regions.enumerated() {
                for other in regions[(index + 1)...] where region.range.overlaps(other.range) {
                    throw BootError("\(name) has overlapping segments at \(hex(region.address)) "
                        + "and \(hex(other.address))")
                }
            }
            return (regions, elf.physicalEntry)
        }
        if let problem = RISCVImageCheck.problem(withRawImage: image.bytes) {
            throw BootError("\(name) is not a RISC-V image: \(problem)")
        }
        return ([LoadRegion(name: name, address: rawAddress, data: image.bytes, size: UInt64(image.bytes.count))],
                rawAddress)
    }

    private static func checkInRAM(_ regions: [LoadRegion], ram: Range<UInt64>) throws {
        for (index, region) in regions.enumerated() {
            guard region.address >= ram.lowerBound, region.range.upperBound <= ram.upperBound else {
                throw BootError("\(region.name) needs \(hex(region.address))..<\(hex(region.range.upperBound)), "
                    + "outside RAM \(hex(ram.lowerBound))..<\(hex(ram.upperBound))")
            }
            for other in regions[..<index] where other.name != region.name && other.range.overlaps(region.range) {
                throw BootError("\(region.name) overlaps \(other.name) at \(hex(max(region.address, other.address)))")
            }
        }
    }

    static func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
        (value + alignment - 1) / alignment * alignment
    }
    static func alignDown(_ value: UInt64, _ alignment: UInt64) -> UInt64 { value / alignment * alignment }
}
