import Glibc
import RVHart
import RVMachine

/// Runs a bare-metal RV64 ELF on one in-process hart (no bus, no devices but the test finisher at
/// 0x10_0000 and the UART transmit register at 0x1000_0000) and measures the interpreter alone.
/// Returns one line: the console output, the instruction count, the seconds and the MIPS.
func runHartBenchmark(elfPath: String, budget: UInt64) -> String {
    guard let bytes = readWholeFile(elfPath) else { return "hart benchmark: cannot read \(elfPath)" }
    let image: ElfImage
    do {
        image = try ElfImage(bytes: bytes)
    } catch {
        return "hart benchmark: \(elfPath): \(error)"
    }
    let ramBase: UInt64 = 0x8000_0000
    let ramSize: UInt64 = 128 << 20
    let ram = UnsafeMutableRawPointer.allocate(byteCount: Int(ramSize), alignment: 4096)
    defer { ram.deallocate() }
    ram.initializeMemory(as: UInt8.self, repeating: 0, count: Int(ramSize))
    for segment in image.segments {
        guard segment.physicalAddress >= ramBase,
              segment.physicalAddress - ramBase + segment.memorySize <= ramSize else {
            return "hart benchmark: segment at \(hex(segment.physicalAddress)) lies outside RAM"
        }
        segment.data.withUnsafeBytes { data in
            if let base = data.baseAddress {
                (ram + Int(segment.physicalAddress - ramBase)).copyMemory(from: base, byteCount: data.count)
            }
        }
    }
    let finisher: UInt64 = 0x10_0000, uart: UInt64 = 0x1000_0000
    let hart = Hart(config: HartConfig(
        ram: ram, ramBase: ramBase, ramSize: ramSize,
        mmioRegions: [MemoryRegion(base: finisher, size: 0x1000), MemoryRegion(base: uart, size: 0x100)]))
    hart.pc = image.physicalEntry

    var console: [UInt8] = []
    var exitStatus: String?
    let start = monotonicSeconds()
    while exitStatus == nil && hart.retired < budget {
        let slice = min(budget - hart.retired, 100_000_000)
        switch hart.run(budget: slice, globalCount: hart.retired) {
        case .budgetExhausted, .spinHint:
            continue
        case .waitingForInterrupt:
            exitStatus = "waiting for an interrupt that never comes"
        case .breakpoint:
            exitStatus = "breakpoint"
        case .mmio:
            let access = hart.pendingAccess
            var answer: UInt64 = 0
            if access.address == finisher && access.isWrite {
                let value = access.value & 0xffff
                if value == 0x5555 {
                    exitStatus = "exit 0"
                } else if value == 0x3333 {
                    exitStatus = "exit \(access.value >> 16)"
                } else if value == 0x7777 {
                    exitStatus = "reset"
                }
            } else if access.address == uart && access.isWrite {
                console.append(UInt8(truncatingIfNeeded: access.value))
            } else if access.address == uart + 5 && !access.isWrite {
                answer = 0x60  // line status: transmitter empty
            }
            hart.completeMMIO(value: answer)
        }
    }
    let seconds = monotonicSeconds() - start
    let instructions = hart.retired
    let mips = seconds > 0 ? Double(instructions) / seconds / 1e6 : 0
    var text = String(decoding: console, as: UTF8.self)
    while text.last == "\n" { text.removeLast() }
    let status = exitStatus ?? "budget of \(budget) instructions used up"
    let figures = "\(instructions) instructions in \(String(format3(seconds))) s = \(String(format1(mips))) MIPS"
    return "\(elfPath): \(status); console: \"\(text)\"; \(figures)"
}

private func readWholeFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count == 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return bytes
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
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
