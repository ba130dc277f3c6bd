import Glibc
import RRProto
import RRRoles
import RVHart
import RVMachine
import RVPlatform

/// The translating tier against the interpreter on a real image: two harts on copies of the same memory, one
/// interpreting (RRVM_TRANSLATE=0) and one translating (hot, or with `eager` every block), run in turns of `step`
/// instructions; device reads answer 0 (the UART's line status: ready), so both see the same. Returns where they
/// first differ (pc, count, registers, CSRs, the whole architectural state), or how far they agreed.
func runLockstep(firmware: String?, kernel: String, step: UInt64, budget: UInt64, eager: Bool) -> String {
    let plan: BootPlan
    do {
        plan = try ImageLoader.plan(config: MachineDescription(), firmware: try firmware.map { try BootImage.read(path: $0) },
                                    kernel: try BootImage.read(path: kernel), initrd: nil)
    } catch {
        return "lockstep: \(error)"
    }
    var bare: [BareHart] = []
    defer { for each in bare { each.release() } }
    do {
        for translation in [Translation.off, eager ? .eager : .hot] { bare.append(try BareHart(plan, translation: translation)) }
    } catch {
        return "lockstep: \(error)"
    }
    let harts = bare.map(\.hart)
    let csrs: [UInt16] = [0x001, 0x002, 0x100, 0x104, 0x105, 0x141, 0x142, 0x143, 0x144, 0x180, 0x300, 0x302, 0x303,
                          0x304, 0x305, 0x340, 0x341, 0x342, 0x343, 0x344]
    func hex(_ value: UInt64?) -> String { value.map { String($0, radix: 16) } ?? "-" }
    var agreed: UInt64 = 0
    while agreed < budget {
        var reasons: [StopReason] = []
        for hart in harts {
            var reason = hart.run(budget: step, globalCount: hart.retired)
            while reason == .mmio && hart.retired - agreed < step {
                let access = hart.pendingAccess
                hart.completeMMIO(value: access.isWrite ? 0 : access.address & 0xfff == 5 ? 0x60 : 0)
                reason = hart.run(budget: step - (hart.retired - agreed), globalCount: hart.retired)
            }
            reasons.append(reason)
        }
        let (a, b) = (harts[0], harts[1])
        var differences: [String] = []
        if a.pc != b.pc { differences.append("pc \(hex(a.pc)) / \(hex(b.pc))") }
        if a.retired != b.retired { differences.append("count \(a.retired) / \(b.retired)") }
        for r in 1..<32 where a.register(r) != b.register(r) {
            differences.append("x\(r) \(hex(a.register(r))) / \(hex(b.register(r)))")
        }
        for csr in csrs where a.readCSR(csr) != b.readCSR(csr) {
            differences.append("CSR 0x\(String(csr, radix: 16)) \(hex(a.readCSR(csr))) / \(hex(b.readCSR(csr)))")
        }
        if differences.isEmpty && a.stateHash() != b.stateHash() { differences.append("the state hash") }
        if !differences.isEmpty {
            return "lockstep: interpreted / translated differ within \(agreed)..\(agreed + step) (stops \(reasons)): "
                + differences.joined(separator: "; ")
        }
        if reasons[0] == .waitingForInterrupt || reasons[0] == .mmio { break }
        agreed = a.retired
    }
    return "lockstep: equal through \(agreed) instructions (\(harts[1].counters.blocksTranslated) blocks translated, "
        + "\(harts[1].counters.instructionsTranslated) instructions run translated)"
}
