import Foundation

// Benchmarks that print figures; run them on a release build:
//   .build/release/rrvm-bench bus [COUNT]         MMIO round trip between real processes, hub throughput,
//                                                 with shared lanes and over the sockets alone
//   .build/release/rrvm-bench hart ELF [BUDGET]   the interpreter alone on a bare-metal program (MIPS)
//   .build/release/rrvm-bench codec               protobuf encode + decode per bus message
let arguments = Array(CommandLine.arguments.dropFirst())
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    .deletingLastPathComponent().path

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: rrvm-bench bus [COUNT] | codec | hart ELF [BUDGET]\n".utf8))
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
    case "hart":
        guard arguments.count > 1 else { usage() }
        let budget = arguments.count > 2 ? UInt64(arguments[2]) ?? 0 : 5_000_000_000
        print(runHartBenchmark(elfPath: arguments[1], budget: budget))
    default:
        usage()
    }
} catch {
    FileHandle.standardError.write(Data("rrvm-bench: \(error)\n".utf8))
    exit(1)
}
