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
    /// The slice under way per hart: its start G and retired count (its length comes with the yield).
    private var open: [(g: UInt64, retired: UInt64)?]

    init(harts: Int) {
        slices = Array(repeating: [], count: harts)
        open = Array(repeating: nil, count: harts)
    }

    mutating func sliceStarted(hart: Int, g: UInt64, retired: UInt64) {
        guard hart < open.count else { return }
        open[hart] = (g, retired)
    }

    mutating func sliceEnded(hart: Int, executed: UInt64) {
        guard hart < open.count, let started = open[hart] else { return }
        open[hart] = nil
        guard executed > 0 else { return }
        let slice = Slice(startG: started.g, retiredAtStart: started.retired, length: executed)
        // Usually appended at the end; after going back, an interval runs again and its slices are known.
        let index = firstIndex(hart: hart) { $0.startG >= started.g }
        if index < slices[hart].count && slices[hart][index].startG == started.g { return }
        slices[hart].insert(slice, at: index)
    }

    /// The G at which `hart` had retired exactly `retired` instructions and was about to run the next one
    /// (inside one of its slices), if a slice of it known here covers that point.
    func g(hart: Int, beforeInstruction retired: UInt64) -> UInt64? {
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
