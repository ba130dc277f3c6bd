/// Debugger watchpoints: physical RAM ranges whose accesses by this hart stop it just before the access
/// (the instruction does not execute; resuming executes it without checking it again).
///
/// They cost the fast path nothing: a TLB entry for a page holding a watched range carries
/// `TLBEntry.watchMarker` in its tag, so the interpreter's inline tag compare misses and the access takes
/// the slow path (`resolve`), where the check is. The entry itself stays (with its translation), so
/// watching changes nothing the guest could see, not even which stale translations a TLB still holds.
public enum WatchKind: UInt8 {
    case write, read, access

    func matches(store: Bool) -> Bool {
        switch self {
        case .write: return store
        case .read: return !store
        case .access: return true
        }
    }
}

public struct Watchpoint: Equatable {
    public var physical: UInt64
    public var length: UInt64
    public var kind: WatchKind

    public init(physical: UInt64, length: UInt64, kind: WatchKind) {
        self.physical = physical
        self.length = length
        self.kind = kind
    }
}

/// A watchpoint that fired: the physical address accessed and the watchpoint's kind.
public struct WatchHit: Equatable {
    public var address: UInt64
    public var kind: WatchKind
}

extension Hart {
    /// The `resolve` fault that means "a watchpoint fired" (not an exception: `raise` turns it into `.watch`).
    static let watchFault: UInt64 = 0xdeb0

    /// Replaces the watched ranges. Pages no longer watched lose the marker; newly watched pages get it.
    public func setWatchpoints(_ list: [Watchpoint]) {
        watchpoints = list
        var pages: Set<UInt64> = []
        for watch in list where watch.length > 0 {
            var page = watch.physical & ~0xfff
            while page <= (watch.physical &+ watch.length &- 1) & ~0xfff {
                pages.insert(page)
                page &+= 0x1000
            }
        }
        watchedPages = pages
        // Re-mark every load and store entry (fetches are not watched).
        for set in 0..<TLBLayout.sets {
            for kind in [AccessKind.load, .store] {
                let entries = tlb + set * TLBLayout.setStride + kind.rawValue * TLBLayout.entries
                // A device's page is never watched (`resolve` goes to the device before any watch).
                for index in 0..<TLBLayout.entries where entries[index].tag != TLBEntry.invalid.tag
                    && entries[index].tag & TLBEntry.deviceMarker == 0 {
                    let page = entries[index].tag & ~0xfff
                    let host = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: page &+ entries[index].hostOffset))!
                    let watched = pages.contains(physicalAddress(ofHost: host))
                    entries[index].tag = watched ? entries[index].tag | TLBEntry.watchMarker
                        : entries[index].tag & ~TLBEntry.watchMarker
                }
            }
        }
    }

    /// The watchpoint an access of `size` bytes at `paddr` fires, if any (called from `resolve` only for
    /// watched pages).
    func watchpointFires(_ paddr: UInt64, size: UInt64, store: Bool) -> Bool {
        guard !watchesSuspended else { return false }
        for watch in watchpoints where watch.kind.matches(store: store)
            && paddr < watch.physical &+ watch.length && watch.physical < paddr &+ size {
            watchHit = WatchHit(address: max(paddr, watch.physical), kind: watch.kind)
            return true
        }
        return false
    }

    public var watchpointList: [Watchpoint] { watchpoints }

    /// The watchpoint that stopped the last `run` with `.watchpoint`.
    public var lastWatchHit: WatchHit? { watchHit }

    /// The next `run` executes one instruction without checking watchpoints: the one a watchpoint stopped,
    /// which the debugger now lets go on.
    public func stepOverWatchpoint() {
        watchesSuspended = true
    }
}
