/// Which slices each hart ran, in G order: where a hart had retired a given number of instructions, as a G
/// (what going back to "hart N had retired one fewer" needs). Replay is deterministic, so running the same
/// interval again (after going back) finds the same slices: a slice already known is not added twice.
struct SliceHistory {
    struct Slice {
        var startG: UInt64
        /// The hart's retired instructions when the slice began.
        var retiredAtStart: UInt64
        var length: UInt64
    }
    private var slices: [[Slice]]

    init(harts: Int) {
        slices = Array(repeating: [], count: harts)
    }

    /// A slice that ended (its yield).
    mutating func record(hart: Int, _ slice: Slice) {
        guard hart < slices.count, slice.length > 0 else { return }
        // Usually appended at the end; after going back, an interval runs again and its slices are known.
        let index = firstIndex(hart: hart) { $0.startG >= slice.startG }
        if index < slices[hart].count && slices[hart][index].startG == slice.startG { return }
        slices[hart].insert(slice, at: index)
    }

    /// The G at which `hart` had retired exactly `retired` instructions and was about to run the next one
    /// (inside one of its slices, or inside `current`, the slice it is running, whose end is not known yet).
    func g(hart: Int, beforeInstruction retired: UInt64, current: (startG: UInt64, retiredAtStart: UInt64)? = nil) -> UInt64? {
        if let current, retired >= current.retiredAtStart { return current.startG &+ (retired &- current.retiredAtStart) }
        guard hart < slices.count else { return nil }
        let index = firstIndex(hart: hart) { $0.retiredAtStart &+ $0.length > retired }
        guard index < slices[hart].count, slices[hart][index].retiredAtStart <= retired else { return nil }
        let slice = slices[hart][index]
        return slice.startG &+ (retired &- slice.retiredAtStart)
    }

    /// Binary search: the first slice of `hart` for which `isAtOrAfter` holds (it is monotonic in G).
    private func firstIndex(hart: Int, where isAtOrAfter: (Slice) -> Bool) -> Int {
        var low = 0, high = slices[hart].count
        while low < high {
            let middle = (low + high) / 2
            if isAtOrAfter(slices[hart][middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
