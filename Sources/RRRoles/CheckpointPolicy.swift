#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RVPlatform

/// When a replay takes checkpoints by itself, and how much memory they may hold (`rrctl replay
/// --checkpoint-budget`). With a checkpoint every `interval` of G, reaching any point costs at most
/// `interval` of replay while they are all kept; over the budget, older ones are thinned
/// (`CheckpointThinning`), so the replay needed grows with the distance from the present, as rr does.
public struct CheckpointPolicy: Equatable {
    /// Bytes the automatic checkpoints may hold together (RAM pages, each shared page counted once, and the
    /// processes' states).
    public var budget: Int
    /// G between two automatic checkpoints.
    public var interval: UInt64

    /// 512 MiB: on the default 4-hart Linux guest (256 MiB of RAM, about half of it ever written), the first
    /// checkpoint holds every written page and the next ones only their changes.
    public static let defaultBudget = 512 << 20
    /// 20 million G: about 0.3 s of replay of the 4-hart Linux guest on this interpreter (its whole boot is
    /// about 96 million G), for a checkpoint of about 50 ms (a comparison of all of RAM).
    public static let defaultInterval: UInt64 = 20_000_000
    /// Under gdb (unless --checkpoint-interval says otherwise): denser, so that going back a little replays little.
    public static let debuggerInterval: UInt64 = 10_000_000

    public init(budget: Int = CheckpointPolicy.defaultBudget, interval: UInt64 = CheckpointPolicy.defaultInterval) {
        self.budget = budget
        self.interval = max(interval, 1)
    }
}

/// Which automatic checkpoint to drop when they hold more than the budget.
public enum CheckpointThinning {
    /// Among checkpoints at G `gs` (ascending) with the machine at `present`, the index of the one whose
    /// removal leaves the smallest gap for its distance from the present: old checkpoints go first, and the
    /// survivors end up spaced roughly in proportion to their age (denser near the present). The oldest and the
    /// newest are always kept (the one nearest the start bounds every backward seek: nothing goes back before
    /// it), except that of two the newest goes (the oldest is the one that cannot be replaced). Nil for one.
    public static func victim(gs: [UInt64], present: UInt64) -> Int? {
        guard gs.count >= 3 else { return gs.count == 2 ? 1 : nil }
        var best: (index: Int, score: Double)?
        for index in 1..<(gs.count - 1) {
            let gap = Double(gs[index + 1] &- gs[index - 1])
            let age = Double(max(1, present > gs[index] ? present - gs[index] : 1))
            let score = gap / age
            if best.map({ score < $0.score }) ?? true { best = (index, score) }
        }
        return best?.index
    }
}

/// "512 MiB", "3.2 GiB", "812 KiB", "96 bytes".
public func formatBytes(_ bytes: Int) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) bytes" }
    return fixedPoint(value, decimals: value < 10 ? 1 : 0) + " " + units[unit]
}

/// Parses a size such as "512M", "2G", "800k" or "1048576" (bytes); nil if it is not one.
public func parseByteSize(_ text: String) -> Int? {
    let lowered = text.lowercased().replacing("ib", with: "").replacing("b", with: "")
    let multipliers: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
    var digits = Substring(lowered)
    var multiplier = 1
    if let last = digits.last, let found = multipliers[last] {
        multiplier = found
        digits = digits.dropLast()
    }
    guard let value = Int(digits), value >= 0 else { return nil }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
}
