import Foundation

// Benchmarks that print figures; run them on a release build:
//   .build/release/rrvm-bench bus [COUNT]         MMIO round trip between real processes, hub throughput,
//                                                 with shared lanes and over the sockets alone
//   .build/release/rrvm-bench hart ELF [BUDGET]   the interpreter alone on a bare-metal program (MIPS), then
//                                                 QEMU on the same program (-icount shift=0 and plain)
//   .build/release/rrvm-bench machine ELF [BUDGET]  the same on the in-process machine (sequencer, devices)
//   .build/release/rrvm-bench boot [GUEST_DIR] [HARTS]  the default Linux guest booted to power-off on the
//                                                 in-process machine (MIPS); GUEST_DIR defaults to cluster/out;
//                                                 then QEMU booting the same guest
//   --no-qemu (with hart or boot)                 rrvm alone (no QEMU runs), e.g. to time the process
//   --breakpoint=HEXPC (with hart)                a debugger breakpoint set throughout (its cost when never hit)
//   .build/release/rrvm-bench checkpoint [GUEST_DIR] [HARTS]  checkpoint size and time (RAM, harts, devices)
//                                                 of the default Linux guest booted in-process
//   .build/release/rrvm-bench lockstep FIRMWARE|- KERNEL [STEP [BUDGET]] [--eager]  an interpreting hart and a
//                                                 translating one in turns of STEP instructions: where they differ
//   .build/release/rrvm-bench codec               protobuf encode + decode per bus message
let breakpointPrefix = "--breakpoint="
let arguments = Array(CommandLine.arguments.dropFirst()).filter {
    $0 != "--no-qemu" && $0 != "--eager" && !$0.hasPrefix(breakpointPrefix)
}
let qemu = CommandLine.arguments.contains("--no-qemu") ? nil : QEMUComparison()
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    .deletingLastPathComponent().path

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: rrvm-bench bus [COUNT] | codec | hart ELF [BUDGET] [--no-qemu] [--breakpoint=HEXPC] | machine ELF [BUDGET] | boot [GUEST_DIR] [HARTS] [--no-qemu] | checkpoint [GUEST_DIR] [HARTS] | lockstep FIRMWARE|- KERNEL [STEP [BUDGET]] [--eager]\n".utf8))
    exit(2)
}

do {
    switch arguments.first {
    case "bus":
        let count = arguments.count > 1 ? Int(arguments[1]) ?? 0 : 20_000
        guard count > 0 else { usage() }
        for sharedLanes in [true, false] {
            print(try runBusBenchmark(binDirectory: binDirectory, count: count, sharedLanes: sharedLanes))
        }
    case "codec":
        print(try runCodecBenchmark(iterations: 200_000))
    case "lockstep":
        guard arguments.count >= 3, let step = arguments.count > 3 ? UInt64(arguments[3]) : 100_000,
              let budget = arguments.count > 4 ? UInt64(arguments[4]) : 100_000_000, step > 0 else { usage() }
        print(runLockstep(firmware: arguments[1] == "-" ? nil : arguments[1], kernel: arguments[2], step: step,
                          budget: budget, eager: CommandLine.arguments.contains("--eager")))
    case "hart":
        guard arguments.count > 1 else { usage() }
        let budget = arguments.count > 2 ? UInt64(arguments[2]) ?? 0 : 5_000_000_000
        var breakpoint: UInt64?
        if let option = CommandLine.arguments.first(where: { $0.hasPrefix(breakpointPrefix) }) {
            let digits = option.dropFirst(breakpointPrefix.count)
            guard let pc = UInt64(digits.hasPrefix("0x") ? digits.dropFirst(2) : digits, radix: 16) else { usage() }
            breakpoint = pc
        }
        print(runHartBenchmark(elfPath: arguments[1], budget: budget, breakpoint: breakpoint, qemu: qemu))
    case "machine":
        guard arguments.count > 1 else { usage() }
        let budget = arguments.count > 2 ? UInt64(arguments[2]) ?? 0 : 5_000_000_000
        print(runMachineBenchmark(elfPath: arguments[1], budget: budget))
    case "boot":
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let guest = arguments.count > 1 ? arguments[1] : root + "/cluster/out"
        guard let harts = arguments.count > 2 ? Int(arguments[2]) : 1, (1...8).contains(harts) else { usage() }
        print(runBootBenchmark(guestDirectory: guest, harts: harts, qemu: qemu))
    case "checkpoint":
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let guest = arguments.count > 1 ? arguments[1] : root + "/cluster/out"
        guard let harts = arguments.count > 2 ? Int(arguments[2]) : 1, (1...8).contains(harts) else { usage() }
        print(try runCheckpointBenchmark(guestDirectory: guest, harts: harts))
    default:
        usage()
    }
} catch {
    FileHandle.standardError.write(Data("rrvm-bench: \(error)\n".utf8))
    exit(1)
}
