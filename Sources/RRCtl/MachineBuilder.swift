import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRNet
import RRNode
import RRProto
import RRRoles
import RVMachine
import RVPlatform

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
    /// The --net option in canonical form ("none": no network card).
    var net: String
    /// Whether to put each image's sha256 into the configuration: only a recording's header needs them.
    var fingerprintImages: Bool
    var quantum: UInt64
    var schedule: Rrvm_SchedulePolicy
    var icountShift: UInt32
    var mmu: String
    var entropySeed: UInt64
    var startWallTimeNs: Int64
}

/// The machine configuration plus what to write into guest RAM before the harts start.
struct MachinePlan {
    var config: Rrvm_MachineConfig
    var boot: BootPlan

    /// Every file the run reads as an image or a disk (what --record must never overwrite).
    var imagePaths: [String] {
        config.images.map(\.path) + config.devices.map(\.path).filter { !$0.isEmpty }
    }

    func load(into ram: SharedRAM) throws {
        try boot.load(into: GuestMemory(base: ram.base, guestBase: MemoryMap.ramBase, size: UInt64(ram.size)))
    }
}

enum MachineBuilder {
    static let defaultFirmware = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"

    /// The machine `rrctl up` describes; a recording keeps the disk image unchanged and fingerprints the images.
    /// `eval` (--eval) adds its commands to the kernel command line.
    static func plan(_ options: MachineOptions, recording: Bool, eval: String? = nil) throws -> MachinePlan {
        let ramSize = try parseSize(options.memory)
        if let violation = MachineLimits.violation(harts: options.smp, ramSize: ramSize, mmu: options.mmu,
                                                   quantum: options.quantum, icountShift: options.icountShift) {
            throw ValidationError(violation.asOption)
        }
        let net: NetOption
        do {
            // The default guest is networked, as QEMU's default machine is; a kernel of one's own asks.
            net = try NetOption(parsing: options.net ?? (options.kernel == nil ? "user" : "none"))
            if case .user(let user) = net { try user.checkHostPortsAreFree() }
        } catch {
            throw ValidationError("\(error)")
        }
        var options = options
        if options.kernel == nil {
            guard options.bios == nil else { throw ValidationError("--bios needs a --kernel") }
            let guest = try DefaultGuest.images()
            options.bios = guest.bios
            options.kernel = guest.kernel
            options.initrd = options.initrd ?? guest.initrd
            options.disk = options.disk ?? guest.disk
            options.append = options.append ?? guest.append
        }
        guard let kernel = options.kernel else { throw ValidationError("no --kernel given") }
        var generator = SystemRandomNumberGenerator()
        let inputs = MachineInputs(
            harts: options.smp, ramSize: ramSize,
            bios: options.bios == "none" ? nil : (options.bios ?? defaultFirmware),
            kernel: kernel, initrd: options.initrd,
            bootargs: try GuestEval.commandLine(options.append ?? "console=ttyS0 earlycon", adding: eval,
                                                firmwareBoots: options.bios != "none"),
            disk: options.disk, overlayDisk: recording, net: net.description, fingerprintImages: recording,
            quantum: options.quantum, schedule: options.schedule.policy,
            icountShift: options.icountShift, mmu: options.mmu,
            // The only host nondeterminism a guest sees at boot; both are recorded in the log header.
            entropySeed: generator.next(),
            startWallTimeNs: Int64(Date().timeIntervalSince1970 * 1e9))
        return try build(inputs)
    }

    /// The machine a log recorded, with every image checked against its recorded hash.
    static func replan(_ recorded: Rrvm_MachineConfig, imageDirectory: String?) throws -> MachinePlan {
        try MachineLimits.check(recorded: recorded)
        func image(_ role: String) throws -> String? {
            guard let info = recorded.images.first(where: { $0.role == role }) else { return nil }
            let path = imageDirectory.map { "\($0)/\(lastPathComponent(of: info.path))" } ?? info.path
            let hash = try FingerprintCache.sha256(path: path) { try readImage(path, what: role) }
            guard hash == info.sha256 else {
                throw NodeError("\(role) image \(path) has changed since the recording "
                                      + "(sha256 \(hash), recorded \(info.sha256))")
            }
            return path
        }
        guard let kernel = try image("kernel") else { throw NodeError("the log records no kernel image") }
        let disk = recorded.devices.first { $0.kind == .virtioBlock }
        let inputs = MachineInputs(
            harts: Int(recorded.harts), ramSize: recorded.ramSize, bios: try image("bios"), kernel: kernel,
            initrd: try image("initrd"), bootargs: recorded.bootargs, disk: disk == nil ? nil : try image("disk"),
            overlayDisk: true, net: recorded.devices.first { $0.kind == .virtioNet }?.net ?? "none",
            fingerprintImages: false, quantum: recorded.quantum, schedule: recorded.schedule,
            icountShift: recorded.icountShift,
            mmu: recorded.satpMode, entropySeed: recorded.entropySeed, startWallTimeNs: recorded.startWallTimeNs)
        var plan = try build(inputs)
        // Where the images go is decided again, not read from the log: a plan that changed since the recording
        // (another rrctl) would replay another machine, so it is refused before anything starts.
        for image in plan.config.images {
            guard let logged = recorded.images.first(where: { $0.role == image.role }),
                  logged.loadAddress != image.loadAddress else { continue }
            throw NodeError("the log's \(image.role) was loaded at 0x\(String(logged.loadAddress, radix: 16)); "
                + "this rrctl places it at 0x\(String(image.loadAddress, radix: 16)): record the run again")
        }
        plan.config.replay = true
        return plan
    }

    static func build(_ inputs: MachineInputs) throws -> MachinePlan {
        let kernel = try readImage(inputs.kernel, what: "kernel")
        let firmware = try inputs.bios.map { try readImage($0, what: "firmware") }
        let initrd = try inputs.initrd.map { try readImage($0, what: "initrd") }
        var devices = MachineDescription.standardDevices.union([.virtioEntropy])
        if inputs.disk != nil { devices.insert(.virtioBlock) }
        if inputs.net != "none" { devices.insert(.virtioNet) }
        let machine = MachineDescription(
            harts: inputs.harts, ramSize: inputs.ramSize, bootargs: inputs.bootargs,
            mmuType: "riscv,\(inputs.mmu)", devices: devices,
            entropySeed: inputs.entropySeed, startWallTimeNs: UInt64(max(0, inputs.startWallTimeNs)))
        let boot: BootPlan
        do {
            boot = try ImageLoader.plan(
                config: machine, firmware: firmware.map { BootImage(path: inputs.bios!, bytes: $0) },
                kernel: BootImage(path: inputs.kernel, bytes: kernel),
                initrd: initrd.map { BootImage(path: inputs.initrd!, bytes: $0) })
        } catch {
            throw NodeError("\(error)")
        }

        var config = Rrvm_MachineConfig(machine: machine, boot: boot, quantum: inputs.quantum,
                                        icountShift: inputs.icountShift, disk: inputs.disk.map(absolute),
                                        overlayDisk: inputs.overlayDisk, net: inputs.net)
        config.schedule = inputs.schedule

        func record(_ role: String, _ path: String?, size: Int?, sha256: () throws -> String, at address: UInt64?) rethrows {
            guard let path, let size else { return }
            let hash = inputs.fingerprintImages ? try sha256() : nil
            config.images.append(.with {
                $0.role = role
                $0.path = absolute(path)
                if let hash { $0.sha256 = hash }
                $0.loadAddress = address ?? 0
                $0.size = UInt64(size)
            })
        }
        func record(_ role: String, _ path: String?, _ bytes: [UInt8]?, at address: UInt64?) {
            guard let path, let bytes else { return }
            record(role, path, size: bytes.count, sha256: { FingerprintCache.sha256(path: path, bytes: bytes) }, at: address)
        }
        record("bios", inputs.bios, firmware, at: firmware == nil ? nil : boot.entry)
        record("kernel", inputs.kernel, kernel, at: boot.kernelEntry)
        record("initrd", inputs.initrd, initrd, at: boot.initrd?.lowerBound)
        if let disk = inputs.disk {
            // The disk is only read here to fingerprint it, and only when the fingerprint cache does not know this
            // version of it; otherwise its device process opens it.
            try record("disk", disk, size: imageSize(disk, what: "disk"),
                       sha256: { try FingerprintCache.sha256(path: disk) { try readImage(disk, what: "disk") } }, at: nil)
        }
        return MachinePlan(config: config, boot: boot)
    }
}

/// Reads a whole image, or fails naming the file.
func readImage(_ path: String, what: String) throws -> [UInt8] {
    try checkImageFile(path, what: what)
    guard let data = FileManager.default.contents(atPath: path) else {
        throw NodeError("\(what) file \(path) is not a readable file")
    }
    return [UInt8](data)
}

/// The size of an image file, with the same errors as `readImage` for a missing or unreadable one, and what the disk
/// device would refuse once started (a character device such as /dev/zero, a pipe) refused here.
func imageSize(_ path: String, what: String) throws -> Int {
    try checkImageFile(path, what: what)
    guard access(path, R_OK) == 0, let status = fileStatus(path) else {
        throw NodeError("\(what) file \(path) is not a readable file")
    }
    let type = status.st_mode & S_IFMT
    guard type == S_IFREG || type == S_IFBLK else {
        throw NodeError("\(what) file \(path) is not a regular file or block device")
    }
    return Int(status.st_size)
}

/// What stat(2) says of `path` (a symlink followed), or nil.
func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return stat(path, &status) == 0 ? status : nil
}

private func checkImageFile(_ path: String, what: String) throws {
    guard let status = fileStatus(path) else { throw NodeError("\(what) file \(path) does not exist") }
    guard status.st_mode & S_IFMT != S_IFDIR else { throw NodeError("\(what) file \(path) is not a readable file") }
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}
