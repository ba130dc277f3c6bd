import Glibc
import RRProto
import RRRoles
import RVHart
import RVMachine
import RVPlatform

/// The interpreter alone: a bare-metal RV64 ELF on one hart in a bare loop (no sequencer, no slices),
/// its MMIO accesses answered by the machine's own device models called directly. Returns one line: the
/// outcome, the console output, the instruction count, the seconds and the MIPS. Kept as the loop it
/// always was, so that its figures compare with earlier ones.
func runHartBenchmark(elfPath: String, budget: UInt64) -> String {
    let kernel: BootImage
    let plan: BootPlan
    do {
        kernel = try BootImage.read(path: elfPath)
        plan = try ImageLoader.plan(config: MachineDescription(), firmware: nil, kernel: kernel, initrd: nil)
    } catch {
        return "hart benchmark: \(elfPath): \(error)"
    }
    let machine = plan.config
    let ram = UnsafeMutableRawPointer.allocate(byteCount: Int(machine.ramSize), alignment: 4096)
    defer { ram.deallocate() }
    ram.initializeMemory(as: UInt8.self, repeating: 0, count: Int(machine.ramSize))
    do {
        try plan.load(into: GuestMemory(base: ram, guestBase: MemoryMap.ramBase, size: machine.ramSize))
    } catch {
        return "hart benchmark: \(elfPath): \(error)"
    }
    let types = machine.deviceTypes
    let models: [DeviceModel]
    do {
        models = try types.map { try $0.make(DeviceContext(harts: 1, source: $0.source, memory: nil)) }
    } catch {
        return "hart benchmark: \(error)"
    }
    let hart = Hart(config: HartConfig(
        ram: ram, ramSize: machine.ramSize, rom: plan.bootROM,
        mmioRegions: types.map { MemoryRegion(base: $0.base, size: $0.size) }))
    hart.pc = MemoryMap.resetPC

    var console: [UInt8] = []
    var exitStatus: String?
    let start = monotonicSeconds(), cpuStart = processCPUSeconds()
    while exitStatus == nil && hart.retired < budget {
        let slice = min(budget - hart.retired, 100_000_000)
        switch hart.run(budget: slice, globalCount: hart.retired) {
        case .budgetExhausted, .spinHint:
            continue
        case .waitingForInterrupt:
            exitStatus = "waiting for an interrupt that never comes"
        case .breakpoint, .watchpoint:
            exitStatus = "a debugger's breakpoint or watchpoint"
        case .mmio:
            let access = hart.pendingAccess
            guard let index = types.firstIndex(where: { $0.contains(access.address) }) else {
                hart.failMMIO()
                continue
            }
            let clock = DeviceClock(globalCount: hart.retired, mtime: hart.retired >> 4)
            let offset = access.address - types[index].base
            var effects = DeviceEffects()
            if access.isWrite {
                _ = models[index].write(offset: offset, size: access.size, value: access.value, clock: clock,
                                        effects: &effects)
                hart.completeMMIO(value: 0)
            } else if let value = models[index].read(offset: offset, size: access.size, clock: clock, effects: &effects) {
                hart.completeMMIO(value: value)
            } else {
                hart.failMMIO()
            }
            console += effects.console
            switch effects.exit {
            case .powerOff(let code)?: exitStatus = "exit \(code)"
            case .reset?: exitStatus = "reset"
            case nil: break
            }
        }
    }
    let seconds = monotonicSeconds() - start, cpuSeconds = processCPUSeconds() - cpuStart
    let status = exitStatus ?? "budget of \(budget) instructions used up"
    return "\(elfPath): \(status); console: \"\(consoleText(console))\"; "
        + figures(instructions: hart.retired, seconds: seconds, cpuSeconds: cpuSeconds)
}

/// The same kind of program on the in-process machine: the cluster's sequencer, hart side and device
/// models in one process, so the cost of slices, device operations and the in-memory bus shows beside
/// the bare loop's figure.
func runMachineBenchmark(elfPath: String, budget: UInt64) -> String {
    do {
        let (config, boot) = try InProcessMachine.plan(machine: MachineDescription(), firmware: nil,
                                                       kernel: try BootImage.read(path: elfPath), initrd: nil)
        return "\(elfPath) in-process: " + run(try InProcessMachine(config: config, boot: boot), gLimit: budget)
    } catch {
        return "machine benchmark: \(elfPath): \(error)"
    }
}

/// The default guest's machine (OpenSBI, Linux, initramfs, disk from `guestDirectory`; 256 MiB; powering
/// off once booted) on `harts` harts of the in-process machine.
func defaultGuestPlan(guestDirectory: String, harts: Int) throws -> (config: Rrvm_MachineConfig, boot: BootPlan) {
    let image = { (name: String) in try BootImage.read(path: guestDirectory + "/" + name) }
    let machine = MachineDescription(
        harts: harts, ramSize: 256 << 20, bootargs: "console=ttyS0 earlycon rrvm_poweroff=1",
        devices: MachineDescription.standardDevices.union([.virtioEntropy]),
        startWallTimeNs: 1_700_000_000_000_000_000)
    return try InProcessMachine.plan(
        machine: machine, firmware: try image("fw_jump.bin"), kernel: try image("Image"),
        initrd: try image("initramfs.cpio"), disk: guestDirectory + "/disk.ext2")
}

/// The default guest (OpenSBI, Linux, initramfs, disk from `guestDirectory`, as Benchmarks/boot.sh boots
/// it) from power-on to power-off on `harts` harts of the in-process machine: MIPS over a whole boot,
/// without the cost of the bus between processes.
func runBootBenchmark(guestDirectory: String, harts: Int) -> String {
    do {
        let (config, boot) = try defaultGuestPlan(guestDirectory: guestDirectory, harts: harts)
        return "Linux boot, \(harts) hart(s), in-process: " + run(try InProcessMachine(config: config, boot: boot), gLimit: .max)
    } catch {
        return "boot benchmark: \(guestDirectory): \(error)"
    }
}

private func run(_ machine: InProcessMachine, gLimit: UInt64) -> String {
    let start = monotonicSeconds(), cpuStart = processCPUSeconds()
    let outcome = machine.run(gLimit: gLimit)
    let seconds = monotonicSeconds() - start, cpuSeconds = processCPUSeconds() - cpuStart
    let stats = machine.statistics
    let status = outcome.exitCode == 0 ? "exit 0" : "status \(outcome.exitCode) (\(outcome.reason))"
    let text = consoleText(machine.console)
    let lastLine = text.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
    let console = text.count > 200 ? "\(machine.console.count) bytes ending \"\(lastLine)\"" : "\"\(text)\""
    return "\(status); console: \(console); \(stats.slices) slices, \(stats.deviceOperations) device operations; "
        + figures(instructions: machine.retired, seconds: seconds, cpuSeconds: cpuSeconds)
}

private func consoleText(_ bytes: [UInt8]) -> String {
    var text = String(decoding: bytes, as: UTF8.self)
    while text.last == "\n" { text.removeLast() }
    return text
}

/// Wall-clock MIPS, and MIPS over the CPU time the process used meanwhile: on a busy host the second is
/// the steadier figure.
private func figures(instructions: UInt64, seconds: Double, cpuSeconds: Double) -> String {
    let mips = seconds > 0 ? Double(instructions) / seconds / 1e6 : 0
    let cpuMIPS = cpuSeconds > 0 ? Double(instructions) / cpuSeconds / 1e6 : 0
    return "\(instructions) instructions in \(format3(seconds)) s = \(format1(mips)) MIPS"
        + " (\(format3(cpuSeconds)) s on CPU = \(format1(cpuMIPS)) MIPS)"
}

private func processCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func format1(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

private func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
