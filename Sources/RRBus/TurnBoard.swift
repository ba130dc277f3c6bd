import Atomics
import CHostCalls
#if canImport(Glibc)
import Glibc
#endif

/// Whose turn comes next, for harts that take turns on one host CPU while they poll for their slices (a split
/// cluster, see `HostCPU`): a one-page file of the run directory that the sequencer writes and the harts map.
///
/// Why: the harts that wait poll, giving the CPU up with `sched_yield` at each round, so that the next one finds its
/// Run within one process switch. Which poller the kernel runs next is its own choice, though: Linux's EEVDF puts a
/// yielding task behind the others (the rest of its slice charged), so the harts come round in a fixed cyclic
/// order, which only a sleep and a wake-up change. When that order is not the sequencer's round-robin one, every
/// hand-over first passes through the harts in between ("laps", 0.7 of them a hand-over on smp-contend, each a
/// process switch). So a poller that gets the CPU when the board says another hart is next rests (sleeps) instead;
/// the hart whose slice ends wakes the one the board names next if it rests; and the named hart, once the running
/// one has ended its slice, keeps the CPU until its Run comes rather than yielding it (which would put it behind the
/// others). The kernel's order becomes the sequencer's within a few hand-overs (`TurnTaker` is a hart's side;
/// `Benchmarks/handover-floor.c`'s `split` shape with and without turns).
///
/// Nothing here decides anything the guest sees: the board is a hint about host scheduling. A hart that rests
/// is woken by its Run as any sleeping peer is; a stale, wrong or corrupt word costs a lap or a wait of at most
/// `TurnTaker.dueSpinNanoseconds`, never a turn.
///
/// File layout (little-endian, offsets in bytes): 0 magic "RRVMTURN", 8 format version; 64 the slices the sequencer
/// has started, 72 the hart it expects to run after the last one (its index + 1, 0 for none), both written by the
/// sequencer; 128 the slices ended so far (Yields sent), written by the harts; from 256 one 128-byte slot a hart: +0 its
/// doorbell (a futex word), +4 whether it rests, and on a line of its own +64 the Runs sent to it (by the sequencer).
public final class TurnBoard {
    static let magic: UInt64 = 0x4E52_5554_4D56_5252  // "RRVMTURN"
    static let formatVersion: UInt64 = 1
    static let size = 4096
    static let slotsOffset = 256
    static let slotSize = 128
    /// The most harts a board has room for.
    public static let capacity = (size - slotsOffset) / slotSize

    /// Whether a cluster of `harts` harts takes turns on a board: a split one (its harts share a CPU and poll there,
    /// `HostCPU`) of several harts, as many as a board holds. The sequencer and the harts ask alike.
    public static func serves(harts: Int) -> Bool { HostCPU.isSplit && (2...capacity).contains(harts) }

    public let path: String
    private let base: UnsafeMutableRawPointer
    private let ownsFile: Bool
    private let harts: Int
    private let started: UnsafeAtomic<UInt64>
    private let expected: UnsafeAtomic<UInt32>
    private let ended: UnsafeAtomic<UInt64>

    private init(path: String, base: UnsafeMutableRawPointer, harts: Int, ownsFile: Bool) {
        self.path = path
        self.base = base
        self.harts = harts
        self.ownsFile = ownsFile
        started = Self.counter(base + 64)
        expected = Self.word(base + 72)
        ended = Self.counter(base + 128)
    }

    deinit {
        munmap(base, Self.size)
        if ownsFile { unlink(path) }
    }

    private static func word(_ address: UnsafeMutableRawPointer) -> UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: address.bindMemory(to: UInt32.AtomicRepresentation.self, capacity: 1))
    }

    private static func counter(_ address: UnsafeMutableRawPointer) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: address.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1))
    }

    /// Creates the board for `harts` harts (the sequencer's side); the file is removed when the board is released.
    public static func create(path: String, harts: Int) throws -> TurnBoard {
        precondition((1...capacity).contains(harts), "a turn board has room for \(capacity) harts")
        let base = try SharedLane.createMapped(path: path, size: size, what: "turn board")
        let header = base.assumingMemoryBound(to: UInt64.self)
        header[1] = formatVersion
        header[0] = magic
        return TurnBoard(path: path, base: base, harts: harts, ownsFile: true)
    }

    /// Maps the board the sequencer made for `harts` harts (a hart's side): a regular file of the right size and
    /// header, not followed through a symlink.
    public static func open(path: String, harts: Int) throws -> TurnBoard {
        guard (1...capacity).contains(harts) else { throw BusError.malformedMessage("a turn board has no room for \(harts) harts") }
        let base = try SharedLane.openMapped(path: path, size: size, magic: magic, version: formatVersion,
                                             what: "the turn board", notIt: "is not a version \(formatVersion) turn board")
        return TurnBoard(path: path, base: base, harts: harts, ownsFile: false)
    }

    // MARK: The sequencer's side

    /// The sequencer starts `hart`'s slice and expects `next` to run after it (nil: no other hart can).
    public func sliceStarts(hart: Int, next: Int?) {
        let sent = runsSent(hart)
        sent.store(sent.load(ordering: .relaxed) &+ 1, ordering: .releasing)
        expected.store(next.map { UInt32($0 + 1) } ?? 0, ordering: .relaxed)
        started.store(started.load(ordering: .relaxed) &+ 1, ordering: .releasing)
    }

    // MARK: A hart's side

    /// A hart's slice has ended: it sends its Yield.
    func sliceEnded() {
        ended.wrappingIncrement(ordering: .releasing)
    }

    /// Whether `hart`, which has had `runsReceived` Runs, gets its next within a moment: one more has been sent, or it
    /// is the hart expected next and the running one has yielded (the sequencer is choosing). It then polls without
    /// letting the CPU go: a hart that yields the CPU is put behind the others, which then lap.
    func runIsDue(_ hart: Int, runsReceived: UInt64) -> Bool {
        if runsSent(hart).load(ordering: .acquiring) != runsReceived { return true }
        return expected.load(ordering: .relaxed) == UInt32(hart + 1)
            && ended.load(ordering: .acquiring) == started.load(ordering: .acquiring)
    }

    /// Whether `hart` should rest rather than poll: the board names another hart next (and no turn of its own is
    /// under way: see `runIsDue`, asked first).
    func shouldRest(_ hart: Int) -> Bool {
        let next = expected.load(ordering: .relaxed)
        return next != 0 && next != UInt32(hart + 1)
    }

    /// Fetches the sequencer's line (`expectedHart`) into this CPU's cache ahead of its use, off the hand-over's path:
    /// a hart's Run follows the sequencer's writes to it, and nothing writes it again before the hart's slice ends.
    func prefetchExpected() { rrvm_prefetch(base + 64) }

    /// The hart the sequencer expects after the slice it started last, if any: read by a hart as its slice ends
    /// (before its Yield goes), it is the one to wake (`wake`).
    var expectedHart: Int? {
        let next = Int(expected.load(ordering: .relaxed))
        return next == 0 || next > harts ? nil : next - 1
    }

    /// Wakes `hart` if it rests.
    func wake(_ hart: Int) {
        // Looked at first: the exchange would take the line from the hart that owns it even when it is awake.
        let flag = resting(hart)
        guard flag.load(ordering: .relaxed) != 0, flag.exchange(0, ordering: .sequentiallyConsistent) != 0 else { return }
        doorbell(hart).ring()
    }

    func doorbell(_ hart: Int) -> Doorbell { Doorbell(slot(hart)) }

    private func resting(_ hart: Int) -> UnsafeAtomic<UInt32> { Self.word(slot(hart) + 4) }

    private func runsSent(_ hart: Int) -> UnsafeAtomic<UInt64> { Self.counter(slot(hart) + 64) }

    private func slot(_ hart: Int) -> UnsafeMutableRawPointer {
        precondition(hart >= 0 && hart < harts, "hart \(hart) is not on the board")
        return base + Self.slotsOffset + hart * Self.slotSize
    }

    /// `hart` rests: marked so (after its doorbell is lowered, so that a ring from now on is not lost), and `loop`'s
    /// next sleep ends when its doorbell rings, as well as for what would end it anyway (its Run).
    func beginRest(_ hart: Int, on loop: EventLoop) {
        doorbell(hart).lower()
        resting(hart).store(1, ordering: .sequentiallyConsistent)
        loop.restingDoorbell = doorbell(hart)
    }

    /// `hart` is awake again.
    func endRest(_ hart: Int, on loop: EventLoop) {
        resting(hart).store(0, ordering: .relaxed)
        loop.restingDoorbell = nil
    }
}
