import Foundation
import Glibc

/// QEMU beside rrvm's figures, where qemu-system-riscv64 is installed: the same program or guest under QEMU
/// 7.2 TCG, timed as a whole process (its start-up included, so the comparison slightly favours rrvm, whose
/// figures cover the run alone). `-icount shift=0` is QEMU's exact-count mode, the one its record and replay
/// need: the fair yardstick for a deterministic interpreter; plain TCG is printed beside it.
struct QEMUComparison {
    let executable: String

    /// nil when qemu-system-riscv64 is not on PATH.
    init?() {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        guard let found = directories.map({ "\($0)/qemu-system-riscv64" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        executable = found
    }

    struct Timing {
        var seconds: Double
        /// User + system time of QEMU (all its threads).
        var cpuSeconds: Double
    }

    /// Runs QEMU with `arguments` to its exit (input empty, output discarded), at most `timeout` seconds.
    func time(_ arguments: [String], timeout: Double = 300) -> Result<Timing, BenchmarkFailure> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let cpuBefore = childrenCPUSeconds(), start = Date()
        do {
            try process.run()
        } catch {
            return .failure(BenchmarkFailure(description: "cannot start \(executable): \(error)"))
        }
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
        let seconds = Date().timeIntervalSince(start), cpuSeconds = childrenCPUSeconds() - cpuBefore
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            return .failure(BenchmarkFailure(description: "QEMU ended with status \(process.terminationStatus)"
                                             + (seconds >= timeout ? " (killed after \(Int(timeout)) s)" : "")))
        }
        return .success(Timing(seconds: seconds, cpuSeconds: cpuSeconds))
    }

    /// One line per QEMU mode for a bare-metal ELF that ran `instructions` instructions in rrvm at `mips`
    /// (wall) and `cpuMIPS` (process CPU time): QEMU's MIPS over the same instruction count and the ratios.
    func compareBareMetal(elfPath: String, instructions: UInt64, mips: Double, cpuMIPS: Double) -> [String] {
        let base = ["-M", "virt", "-bios", "none", "-kernel", elfPath, "-nographic"]
        return [("-icount shift=0", ["-icount", "shift=0"]), ("plain", [])].map { name, extra in
            switch time(base + extra) {
            case .failure(let failure):
                return "QEMU \(name): \(failure.description)"
            case .success(let timing):
                let qemuMIPS = Double(instructions) / timing.seconds / 1e6
                let qemuCPUMIPS = Double(instructions) / timing.cpuSeconds / 1e6
                return "QEMU \(name) (whole process): \(format3(timing.seconds)) s = \(format1(qemuMIPS)) MIPS"
                    + " (\(format3(timing.cpuSeconds)) s on CPU = \(format1(qemuCPUMIPS)) MIPS);"
                    + " rrvm/QEMU \(format2(mips / qemuMIPS))x wall, \(format2(cpuMIPS / qemuCPUMIPS))x CPU"
            }
        }
    }

    /// The default guest booted to power-off under QEMU on `harts` CPUs (plain, and with -icount shift=0 on one
    /// CPU, the only count QEMU records), beside rrvm's `seconds` for the same boot (its run, without loading the
    /// images). QEMU's instruction count is its own (a boot's count depends on timing), so the comparison is in
    /// seconds.
    func compareBoot(guestDirectory: String, harts: Int, append: String, seconds: Double) -> [String] {
        let base = ["-M", "virt", "-m", "256M", "-nographic", "-smp", String(harts),
                    "-bios", guestDirectory + "/fw_jump.bin", "-kernel", guestDirectory + "/Image",
                    "-initrd", guestDirectory + "/initramfs.cpio", "-append", append,
                    "-global", "virtio-mmio.force-legacy=false",
                    "-drive", "file=\(guestDirectory)/disk.ext2,format=raw,if=none,id=d0,snapshot=on",
                    "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device"]
        var modes = [("plain", [String]())]
        if harts == 1 { modes.insert(("-icount shift=0", ["-icount", "shift=0"]), at: 0) }
        return modes.map { name, extra in
            switch time(base + extra) {
            case .failure(let failure):
                return "QEMU \(name): \(failure.description)"
            case .success(let timing):
                return "QEMU \(name), \(harts) CPU(s), boot to power-off (whole process): \(format3(timing.seconds)) s"
                    + " (\(format3(timing.cpuSeconds)) s on CPU); rrvm's run / QEMU's process time"
                    + " \(format2(seconds / timing.seconds))"
            }
        }
    }

    private func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
}
