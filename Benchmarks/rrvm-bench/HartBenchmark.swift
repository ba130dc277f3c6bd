import Glibc
import RRProto
import RRRoles
import RVHart
import RVMachine
import RVPlatform

/// The interpreter alone: a bare-metal RV64 ELF on one hart in a bare loop (no sequencer, no slices),
/// its MMIO accesses answered by the machine's own device models called directly. Returns one line: the
/// outcome, the console output, the instruction count, the seconds and the MIPS. Kept as the loop it
/// always was, so that its figures compare with earlier ones. With `qemu`, QEMU's figures for the same program
/// follow on their own lines.
func runHartBenchmark(elfPath: String, budget: UInt64, breakpoint: UInt64? = nil, qemu: QEMUComparison?) -> String {
    let kernel: BootImage
    let plan: BootPlan
    do {
        kernel = try BootImage.read(path: elfPath)
        plan = try ImageLoader.plan(config: MachineDescription(), firmware: nil, kernel: kernel, initrd: nil)
    } catch {
        return "hart benchmark: \(elfPath): \(error)"
    }
    let machine = plan.config
    let bare: BareHart
    do {
        bare = try BareHart(plan)
    } catch {
        return "hart benchmark: \(elfPath): \(error)"
    }
    defer { bare.release() }
    let hart = bare.hart
    let types = machine.deviceTypes
    let models: [DeviceModel]
    do {
        models = try types.map { try $0.make(DeviceContext(harts: 1, source: $0.source, memory: nil)) }
    } catch {
        return "hart benchmark: \(error)"
    }
    if let breakpoint { hart.addBreakpoint(breakpoint) }

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
    var line = "\(elfPath): \(status); console: \"\(consoleText(console))\"; "
        + figures(instructions: hart.retired, seconds: seconds, cpuSeconds: cpuSeconds)
    // RRVM_STATS=1: where the run left the loop's fast paths (TLB misses, slow steps...), as the boot mode prints.
    if getenv("RRVM_STATS").map({ String(cString: $0) }) == "1" {
        line = ([line] + slowPathReport([hart], devices: types.map { "\($0.kind)" }, instructions: hart.retired))
            .joined(separator: "\n")
    }
    guard let qemu, exitStatus == "exit 0" else { return line }
    let comparison = qemu.compareBareMetal(elfPath: elfPath, instructions: hart.retired,
                                           mips: Double(hart.retired) / seconds / 1e6,
                                           cpuMIPS: Double(hart.retired) / cpuSeconds / 1e6)
    return ([line] + comparison).joined(separator: "\n")
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

let defaultGuestBootargs = "console=ttyS0 earlycon rrvm_poweroff=1"

/// The default guest's machine (OpenSBI, Linux, initramfs, disk from `guestDirectory`; 256 MiB; powering
/// off once booted) on `harts` harts of the in-process machine.
func defaultGuestPlan(guestDirectory: String, harts: Int) throws -> (config: Rrvm_MachineConfig, boot: BootPlan) {
    let image = { (name: String) in try BootImage.read(path: guestDirectory + "/" + name) }
    let machine = MachineDescription(
        harts: harts, ramSize: 256 << 20, bootargs: defaultGuestBootargs,
        devices: MachineDescription.standardDevices.union([.virtioEntropy]),
        startWallTimeNs: 1_700_000_000_000_000_000)
    return try InProcessMachine.plan(
        machine: machine, firmware: try image("fw_jump.bin"), kernel: try image("Image"),
        initrd: try image("initramfs.cpio"), disk: guestDirectory + "/disk.ext2")
}

/// The default guest (OpenSBI, Linux, initramfs, disk from `guestDirectory`, as Benchmarks/boot.sh boots
/// it) from power-on to power-off on `harts` harts of the in-process machine: MIPS over a whole boot,
/// without the cost of the bus between processes. With `qemu`, QEMU's times for the same guest follow.
func runBootBenchmark(guestDirectory: String, harts: Int, qemu: QEMUComparison?) -> String {
    do {
        let (config, boot) = try defaultGuestPlan(guestDirectory: guestDirectory, harts: harts)
        var seconds = 0.0
        let machine = try InProcessMachine(config: config, boot: boot)
        let line = "Linux boot, \(harts) hart(s), in-process: " + run(machine, gLimit: .max, seconds: &seconds)
        let report = slowPathReport((0..<harts).map { machine.hart($0).hart },
                                    devices: config.devices.map { "\($0.kind)" }, instructions: machine.retired)
        guard let qemu, line.contains("exit 0;") else { return ([line] + report).joined(separator: "\n") }
        let comparison = qemu.compareBoot(guestDirectory: guestDirectory, harts: harts,
                                          append: defaultGuestBootargs, seconds: seconds)
        return ([line] + report + comparison).joined(separator: "\n")
    } catch {
        return "boot benchmark: \(guestDirectory): \(error)"
    }
}

private func run(_ machine: InProcessMachine, gLimit: UInt64) -> String {
    var seconds = 0.0
    return run(machine, gLimit: gLimit, seconds: &seconds)
}

private func run(_ machine: InProcessMachine, gLimit: UInt64, seconds: inout Double) -> String {
    let start = monotonicSeconds(), cpuStart = processCPUSeconds()
    let outcome = machine.run(gLimit: gLimit)
    seconds = monotonicSeconds() - start
    let cpuSeconds = processCPUSeconds() - cpuStart
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

func format1(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

func format3(_ value: Double) -> String {
    let thousandths = Int((value * 1000).rounded())
    let fraction = String(thousandths % 1000)
    return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = String(hundredths % 100)
    return "\(hundredths / 100)." + String(repeating: "0", count: 2 - fraction.count) + fraction
}

/// A hart alone at the reset pc on its own RAM holding `plan`'s images, the machine's device windows its MMIO
/// regions (the hart and lockstep modes). The RAM is anonymous memory: it reads as zeros and is faulted in as the
/// guest touches it, as a machine's RAM is. `release` unmaps it.
struct BareHart {
    let hart: Hart
    private let ram: UnsafeMutableRawPointer
    private let ramSize: Int

    init(_ plan: BootPlan, translation: Translation = .fromEnvironment()) throws {
        let machine = plan.config
        ramSize = Int(machine.ramSize)
        guard let mapping = mmap(nil, ramSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else {
            throw BenchmarkFailure(description: "cannot map \(machine.ramSize) bytes of RAM")
        }
        ram = mapping
        do {
            try plan.load(into: GuestMemory(base: ram, guestBase: MemoryMap.ramBase, size: machine.ramSize))
        } catch {
            munmap(ram, ramSize)
            throw error
        }
        var config = HartConfig(ram: ram, ramSize: machine.ramSize, rom: plan.bootROM,
                                mmioRegions: machine.deviceTypes.map { MemoryRegion(base: $0.base, size: $0.size) })
        config.translation = translation
        hart = Hart(config: config)
        hart.pc = MemoryMap.resetPC
    }

    func release() {
        munmap(ram, ramSize)
    }
}
