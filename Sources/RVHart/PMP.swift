/// An active PMP entry: the bytes it matches and its configuration byte.
struct PMPRule: Equatable {
    var lo: UInt64
    var hi: UInt64
    var config: UInt8
}

extension Hart {
    /// The byte range `lo ..< hi` an entry matches, or nil when it is off.
    func pmpRange(_ index: Int) -> (lo: UInt64, hi: UInt64)? {
        let config = pmpConfig[index]
        let address = pmpAddress[index]
        switch (config >> 3) & 3 {
        case 1:  // TOR
            let lo = index == 0 ? 0 : pmpAddress[index - 1] << 2
            return (lo, address << 2)
        case 2:  // NA4
            return (address << 2, (address << 2) &+ 4)
        case 3:  // NAPOT
            let ones = UInt64((~address).trailingZeroBitCount)
            if ones >= 54 { return (0, 1 << 56) }
            let size: UInt64 = 1 << (ones + 3)
            let lo = (address & ~((1 << ones) - 1)) << 2
            return (lo, lo &+ size)
        default:
            return nil
        }
    }

    /// Recomputes the matching rules after a PMP register was written, and drops the TLBs (filled under the old
    /// rules) when they changed. Firmware writes many that change none: an entry's address while the entry is
    /// off, entries cleared that were off (OpenSBI, on each hart: 160 writes of a 4-hart Linux boot).
    func pmpChanged() {
        let active = pmpConfig.contains { $0 & 0x18 != 0 }
        let rules: [PMPRule] = (0..<16).compactMap { index in
            guard let (lo, hi) = pmpRange(index), lo < hi else { return nil }
            return PMPRule(lo: lo, hi: hi, config: pmpConfig[index])
        }
        guard active != pmpActive || rules != pmpRules else { return }
        pmpActive = active
        pmpRules = rules
        flushAllTLBs()
    }

    /// Whether `size` bytes at `paddr` may be accessed by `privilege` (checks all bytes against the first
    /// matching entry, as the privileged spec 3.7.1 says). With no active entry, everything is allowed.
    func pmpAllows(_ paddr: UInt64, size: UInt64, kind: AccessKind, privilege: PrivilegeMode) -> Bool {
        guard pmpActive else { return true }
        let end = paddr &+ size
        let permission: UInt8 = kind == .fetch ? 4 : kind == .load ? 1 : 2
        for rule in pmpRules {
            if end <= rule.lo || paddr >= rule.hi { continue }
            if paddr < rule.lo || end > rule.hi { return false }
            if privilege == .machine && rule.config & 0x80 == 0 { return true }
            return rule.config & permission != 0
        }
        return privilege == .machine
    }
}
