import RRBus
import RRProto

/// The machines rrvm runs. One set of rules for what `rrctl up` accepts and for what a log's header may
/// describe: a log is untrusted input, and its machine must be one `rrctl up` could have started.
public enum MachineLimits {
    public static let harts = 1...8
    public static let ramSize: ClosedRange<UInt64> = (16 << 20)...(8 << 30)
    public static let mmuModes = ["sv39", "sv48"]
    public static let minimumQuantum: UInt64 = 100
    public static let icountShift: ClosedRange<UInt32> = 0...16

    /// A broken rule: `option` names it as `rrctl up` spells it, `field` as the log header does.
    public struct Violation: Equatable {
        public var option: String
        public var field: String
        public var rule: String
        public var value: String

        /// "--smp must be 1 to 8, not 0"
        public var asOption: String { "--\(option) \(rule), not \(value)" }
    }

    /// The first rule the machine breaks, or nil when rrvm runs it.
    public static func violation(harts: Int, ramSize: UInt64, mmu: String, quantum: UInt64,
                                 icountShift: UInt32) -> Violation? {
        if !Self.harts.contains(harts) {
            return Violation(option: "smp", field: "harts", rule: "must be \(Self.harts.lowerBound) to \(Self.harts.upperBound)",
                             value: "\(harts)")
        }
        if !Self.ramSize.contains(ramSize) {
            return Violation(option: "memory", field: "ram_size",
                             rule: "must be between \(sizeText(Self.ramSize.lowerBound)) and \(sizeText(Self.ramSize.upperBound))",
                             value: sizeText(ramSize))
        }
        if !mmuModes.contains(mmu) {
            return Violation(option: "mmu", field: "satp_mode", rule: "must be sv39 or sv48", value: "'\(mmu)'")
        }
        if quantum < minimumQuantum {
            return Violation(option: "quantum", field: "quantum", rule: "must be at least \(minimumQuantum) instructions",
                             value: "\(quantum)")
        }
        if !Self.icountShift.contains(icountShift) {
            return Violation(option: "icount-shift", field: "icount_shift",
                             rule: "must be \(Self.icountShift.lowerBound) to \(Self.icountShift.upperBound)", value: "\(icountShift)")
        }
        return nil
    }

    /// Checks the machine a log's header describes (the same rules as `rrctl up`), naming the log's field.
    public static func check(recorded config: Rrvm_MachineConfig) throws {
        let harts = config.harts > UInt32(Int32.max) ? Int(Int32.max) : Int(config.harts)
        if let violation = violation(harts: harts, ramSize: config.ramSize, mmu: config.satpMode,
                                     quantum: config.quantum, icountShift: config.icountShift) {
            throw NodeError("the log describes a machine rrvm does not run: \(violation.field) \(violation.rule), not \(violation.value)")
        }
    }

    /// 16M, 8G, or a plain number of bytes.
    static func sizeText(_ bytes: UInt64) -> String {
        for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }
}
