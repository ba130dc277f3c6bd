import RVHart

/// Where a run left the interpreter's fast paths, summed over its harts (HartCounters): a few lines, each
/// count also per million instructions, so runs of different lengths compare. `devices` names the harts'
/// MMIO regions in order.
func slowPathReport(_ harts: [Hart], devices: [String], instructions: UInt64) -> [String] {
    var total = harts.first.map(\.counters) ?? HartCounters(regions: devices.count)
    for hart in harts.dropFirst() { total.add(hart.counters) }
    let millions = max(Double(instructions) / 1e6, 1e-9)
    func count(_ name: String, _ value: UInt64) -> String {
        "\(name) \(value) (\(format1(Double(value) / millions))/M)"
    }
    func listed(_ values: [UInt64], names: (Int) -> String) -> String {
        let entries = values.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }
        return entries.isEmpty ? "none" : entries.map { "\(names($0.offset)) \($0.element)" }.joined(separator: ", ")
    }
    let exceptionNames = ["misaligned fetch", "fetch access", "illegal", "breakpoint", "misaligned load", "load access",
                          "misaligned store", "store access", "U ecall", "S ecall", "H ecall", "M ecall",
                          "fetch page fault", "load page fault", "14", "store page fault"]
    let interruptNames = ["0", "S soft", "2", "M soft", "4", "S timer", "6", "M timer", "8", "S external", "10",
                          "M external", "12", "13", "14", "15"]
    let topCSRs = total.csrAccesses.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(8)
    let kinds = SlowStepKind.allCases.map { "\($0)" }
    return [
        "  traps: " + count("exceptions", total.exceptions.reduce(0, +)) + " ["
            + listed(total.exceptions) { exceptionNames[$0] } + "]; " + count("interrupts", total.interrupts.reduce(0, +))
            + " [" + listed(total.interrupts) { interruptNames[$0] } + "]",
        "  CSR instructions: " + count("all", total.csrAccesses.reduce(0, +)) + ", " + count("writes", total.csrWrites)
            + "; most used: " + topCSRs.map { "0x" + String($0.offset, radix: 16) + " \($0.element)" }.joined(separator: ", ")
            + "; " + count("sstatus set/clear inline", total.statusBitsInline),
        "  MMU: " + count("TLB misses", total.tlbMisses.reduce(0, +)) + " (fetch \(total.tlbMisses[0]), load "
            + "\(total.tlbMisses[1]), store \(total.tlbMisses[2])), " + count("refills", total.tlbRefills) + ", "
            + count("page walks", total.pageWalks) + " (\(total.pteReads) PTE reads), "
            + count("SFENCE.VMA", total.sfences.reduce(0, +)) + " (all \(total.sfences[0]), address "
            + "\(total.sfences[1]), ASID \(total.sfences[2]), both \(total.sfences[3])), "
            + count("satp writes", total.satpWrites) + ", " + count("translation flushes", total.translationFlushes),
        "  code cache: " + count("pages entered", total.pagesEntered) + ", " + count("emptied", total.codePageResets) + ", "
            + count("kept after FENCE.I", total.codePagesKept) + ", " + count("decoding runs", total.decodeRuns)
            + ", " + count("FENCE.I flushes", total.codeFlushes) + ", " + count("pages detached", total.codePagesDetached)
            + ", " + count("blocks translated", total.blocksTranslated) + " ("
            + format1(Double(total.translatedCodeBytes) / 1024) + " KiB of code, "
            + count("arena restarts", total.translatedCodeRestarts) + "; they ran "
            + format1(100 * Double(total.instructionsTranslated) / max(1, Double(instructions))) + "% of the instructions)",
        "  out of line: " + count("slow steps", total.slowSteps.reduce(0, +)) + " [" + listed(total.slowSteps) { kinds[$0] }
            + "], " + count("events", total.events) + ", " + count("WFI waits", total.waits)
            + ", " + count("spin loops left", total.spinLoopsLeft),
        "  MMIO exits: " + count("all", total.mmioExits.reduce(0, +)) + " ["
            + listed(total.mmioExits) { $0 < devices.count ? devices[$0] : "region \($0)" } + "]",
    ]
}
