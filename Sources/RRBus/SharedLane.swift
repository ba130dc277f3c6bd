import Atomics
import CLibUV
import RVPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A shared-memory lane between the sequencer and one peer on the same host: two single-producer,
/// single-consumer byte rings in a file of the run directory, one per direction, carrying the same
/// length-prefixed frames the socket would. A Unix-socket write and read cost about 2.5 µs here (a
/// pipe 0.9 µs): a polling process sees a frame in the ring without either. The wake-ups ("doorbells",
/// rung only for a process that said it is about to sleep) are futex words: the peer's in the lane's
/// header, the sequencer's in a file of its own (`SequencerBell`) that the peers of all its lanes ring, so
/// that every process sleeps on one word (`EventLoop`). A ring is a store and a FUTEX_WAKE. On one CPU (C,
/// this machine, a wake-up and a sleep per turn) that costs 3.2-6.2 µs a turn against 4.5-7.5 through a
/// named pipe and epoll (the lanes' earlier doorbells: a write, epoll's wake-up, a read to empty the pipe);
/// sleeping on several words at once (futex_waitv) costs more than the pipe: 9 words 7.6-11.7 µs. The
/// socket stays the bus's backbone: the handshake, and noticing a peer that died.
///
/// File layout (little-endian, offsets in bytes):
///   0     magic "RRVMLANE", format version, ring capacity (a power of two)
///   64    the peer's doorbell (32 bits)
///   128   the length (8 bytes) and name (at most 255 bytes, no '/') of the sequencer's doorbell file, in the
///         lane file's directory
///   4096  ring 0 (peer -> sequencer), then ring 1 (sequencer -> peer), each:
///         +0 bytes written so far (producer), +64 consumer asleep flag,
///         +128 bytes read so far (consumer), +192 producer blocked flag (waiting for space),
///         +256 the data
/// The counters only grow; `written - read` is what the ring holds. Each side checks what it reads
/// from the other, so a corrupt peer is a clear error, never a wild copy. A doorbell is only ever a
/// reason to look at the rings again: whatever a peer stores in it, the rings say what there is.
public final class SharedLane {
    public enum Side { case sequencer, peer }

    static let magic: UInt64 = 0x454E_414C_4D56_5252  // "RRVMLANE"
    /// 3: doorbells are futex words (2: named pipes beside the lane file; 1: rung on the socket).
    static let formatVersion: UInt64 = 3
    static let headerSize = 4096
    static let controlSize = 256
    static let peerBellOffset = 64
    static let sequencerBellNameOffset = 128
    static let maximumBellNameLength = 255
    public static let defaultCapacity = 256 << 10

    public let path: String
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private let ownsFile: Bool
    let outgoing: ByteRing
    let incoming: ByteRing
    /// This side's doorbell (what it sleeps on), and the peer's.
    let bell: Doorbell
    private let peerBell: Doorbell
    /// Keeps the sequencer's doorbell mapped while the lane is.
    private let sequencerBell: SequencerBell

    private init(path: String, base: UnsafeMutableRawPointer, size: Int, capacity: Int, side: Side, ownsFile: Bool,
                 sequencerBell: SequencerBell) {
        self.path = path
        self.base = base
        self.size = size
        self.ownsFile = ownsFile
        self.sequencerBell = sequencerBell
        let up = ByteRing(base + Self.headerSize, capacity: capacity)
        let down = ByteRing(base + Self.headerSize + Self.controlSize + capacity, capacity: capacity)
        outgoing = side == .peer ? up : down
        incoming = side == .peer ? down : up
        let peerBell = Doorbell(base + Self.peerBellOffset)
        bell = side == .peer ? peerBell : sequencerBell.doorbell
        self.peerBell = side == .peer ? sequencerBell.doorbell : peerBell
    }

    deinit {
        munmap(base, size)
        if ownsFile { unlink(path) }
    }

    /// Rings the peer's doorbell (it wakes if it sleeps on it; if not, it looks at the rings before it sleeps).
    func ringPeer() { peerBell.ring() }

    static func fileSize(capacity: Int) -> Int { headerSize + 2 * (controlSize + capacity) }

    /// Creates a new lane file (the sequencer's side); it is removed when the lane is released. `bell`, the
    /// sequencer's doorbell, must be in the same directory.
    public static func create(path: String, capacity: Int = defaultCapacity, bell: SequencerBell) throws -> SharedLane {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "lane capacity must be a power of two")
        let bellName = Array(bell.path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).last ?? [])
        precondition(parentDirectory(of: bell.path) == parentDirectory(of: path) && (1...maximumBellNameLength).contains(bellName.count),
                     "the sequencer's doorbell must be beside its lanes")
        let size = fileSize(capacity: capacity)
        let base = try createMapped(path: path, size: size, what: "shared lane")
        let header = base.assumingMemoryBound(to: UInt64.self)
        header[1] = formatVersion
        header[2] = UInt64(capacity)
        (base + sequencerBellNameOffset).storeBytes(of: UInt64(bellName.count), as: UInt64.self)
        bellName.withUnsafeBytes { (base + sequencerBellNameOffset + 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        header[0] = magic
        let lane = SharedLane(path: path, base: base, size: size, capacity: capacity, side: .sequencer, ownsFile: true,
                              sequencerBell: bell)
        // The peer has not looked yet: the first frames for it always come with a doorbell.
        lane.outgoing.markConsumerAsleep()
        return lane
    }

    /// Maps the lane file the sequencer named in Welcome (the peer's side), checking its header.
    public static func open(path: String) throws -> SharedLane {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw BusError.io("cannot open shared lane \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size >= headerSize, let header = map(fd, headerSize) else {
            throw BusError.io("cannot map shared lane \(path)")
        }
        let words = header.assumingMemoryBound(to: UInt64.self)
        let (magic, version, capacity) = (words[0], words[1], Int(truncatingIfNeeded: words[2]))
        let nameLength = Int(truncatingIfNeeded: min(words[sequencerBellNameOffset / 8], UInt64(maximumBellNameLength + 1)))
        let bellName = [UInt8](UnsafeRawBufferPointer(start: header + sequencerBellNameOffset + 8,
                                                      count: min(nameLength, maximumBellNameLength)))
        munmap(header, headerSize)
        guard magic == Self.magic, version == formatVersion else {
            throw BusError.malformedMessage("\(path) is not a version \(formatVersion) shared lane")
        }
        // The name stays in the lane's directory: one path component, never "." or "..".
        guard (1...maximumBellNameLength).contains(nameLength), !bellName.contains(UInt8(ascii: "/")), !bellName.contains(0),
              bellName != Array(".".utf8), bellName != Array("..".utf8) else {
            throw BusError.malformedMessage("shared lane \(path) names no valid doorbell")
        }
        let bell = try SequencerBell.open(path: parentDirectory(of: path) + "/" + String(decoding: bellName, as: UTF8.self))
        guard capacity > 0, capacity <= 1 << 30, capacity & (capacity - 1) == 0,
              Int(status.st_size) == fileSize(capacity: capacity), let base = map(fd, fileSize(capacity: capacity)) else {
            throw BusError.malformedMessage("shared lane \(path) has a bad size")
        }
        return SharedLane(path: path, base: base, size: fileSize(capacity: capacity), capacity: capacity,
                          side: .peer, ownsFile: false, sequencerBell: bell)
    }

    /// Creates the file `path` (it must not exist: nothing is followed or reused), `size` bytes of zeros, and maps
    /// it shared; `what` names it in errors. A file it cannot size or map is removed.
    static func createMapped(path: String, size: Int, what: String) throws -> UnsafeMutableRawPointer {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BusError.io("cannot create \(what) \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0, let base = map(fd, size) else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw BusError.io("cannot size \(what) \(path): \(reason)")
        }
        return base
    }

    static func map(_ fd: Int32, _ size: Int) -> UnsafeMutableRawPointer? {
        let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return pointer == MAP_FAILED ? nil : pointer
    }
}

/// The sequencer's doorbell, one for all its lanes: a one-page file in the run directory (magic "RRVMBELL",
/// the lane format version, then the futex word at offset 64) that each peer maps beside its lane. The
/// sequencer so sleeps on one word however many lanes it has.
public final class SequencerBell {
    static let magic: UInt64 = 0x4C4C_4542_4D56_5252  // "RRVMBELL"
    static let size = 4096
    static let wordOffset = 64

    public let path: String
    private let base: UnsafeMutableRawPointer
    private let ownsFile: Bool
    let doorbell: Doorbell

    private init(path: String, base: UnsafeMutableRawPointer, ownsFile: Bool) {
        self.path = path
        self.base = base
        self.ownsFile = ownsFile
        doorbell = Doorbell(base + Self.wordOffset)
    }

    deinit {
        munmap(base, Self.size)
        if ownsFile { unlink(path) }
    }

    /// Creates the sequencer's doorbell file; it is removed when released.
    public static func create(path: String) throws -> SequencerBell {
        let base = try SharedLane.createMapped(path: path, size: size, what: "the sequencer's doorbell")
        let header = base.assumingMemoryBound(to: UInt64.self)
        header[1] = SharedLane.formatVersion
        header[0] = magic
        return SequencerBell(path: path, base: base, ownsFile: true)
    }

    /// Maps the doorbell a lane names (a peer's side), refusing anything but a regular file of the right
    /// size and header (a symlink is not followed).
    static func open(path: String) throws -> SequencerBell {
        let base = try SharedLane.openMapped(path: path, size: size, magic: magic, version: SharedLane.formatVersion,
                                             what: "the sequencer's doorbell", notIt: "is not the sequencer's doorbell")
        return SequencerBell(path: path, base: base, ownsFile: false)
    }
}

extension SharedLane {
    /// Maps the one-page file `path` another process of the cluster made (`createMapped`): a regular file of exactly
    /// `size` bytes whose header holds `magic` and `version` (a symlink is not followed). `what` names it in the error
    /// when it cannot be opened, `notIt` ends the one when it is not such a file.
    static func openMapped(path: String, size: Int, magic: UInt64, version: UInt64, what: String, notIt: String) throws
        -> UnsafeMutableRawPointer {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw BusError.io("cannot open \(what) \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, Int(status.st_size) == size,
              let base = map(fd, size) else {
            throw BusError.malformedMessage("\(path) \(notIt)")
        }
        let header = base.assumingMemoryBound(to: UInt64.self)
        guard header[0] == magic, header[1] == version else {
            munmap(base, size)
            throw BusError.malformedMessage("\(path) \(notIt)")
        }
        return base
    }
}

/// One side's doorbell: a 32-bit futex word in the lane's header. The side about to sleep lowers it
/// (`lower`), then looks at its rings, then sleeps while it is still low; a peer raises it and wakes it
/// (`ring`). So a ring between the look and the sleep is not lost: the sleep does not begin.
struct Doorbell {
    let word: UnsafeMutablePointer<UInt32>
    private let atomic: UnsafeAtomic<UInt32>

    init(_ address: UnsafeMutableRawPointer) {
        word = address.bindMemory(to: UInt32.self, capacity: 1)
        atomic = UnsafeAtomic(at: UnsafeMutableRawPointer(word).bindMemory(to: UInt32.AtomicRepresentation.self, capacity: 1))
    }

    /// The value a sleeper expects while nobody has rung.
    static let quiet: UInt32 = 0

    func lower() { atomic.store(Self.quiet, ordering: .sequentiallyConsistent) }

    var hasRung: Bool { atomic.load(ordering: .acquiring) != Self.quiet }

    func ring() {
        atomic.store(1, ordering: .sequentiallyConsistent)
        _ = rrvm_futex_wake(word)
    }
}

/// One direction of a lane. The producer and the consumer each call only their own half.
struct ByteRing {
    private let written: UnsafeAtomic<UInt64>
    private let consumerAsleep: UnsafeAtomic<UInt64>
    private let read: UnsafeAtomic<UInt64>
    private let producerBlocked: UnsafeAtomic<UInt64>
    private let data: UnsafeMutableRawPointer
    private let capacity: UInt64

    init(_ control: UnsafeMutableRawPointer, capacity: Int) {
        func counter(_ offset: Int) -> UnsafeAtomic<UInt64> {
            UnsafeAtomic(at: (control + offset).bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1))
        }
        written = counter(0)
        consumerAsleep = counter(64)
        read = counter(128)
        producerBlocked = counter(192)
        data = control + SharedLane.controlSize
        self.capacity = UInt64(capacity)
    }

    private static let corrupt = BusError.malformedMessage("shared lane counters are inconsistent")

    // MARK: Producer

    /// Copies as much of `bytes` as fits; returns how many bytes went in.
    func write(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        let end = written.load(ordering: .relaxed)
        let used = end &- read.load(ordering: .acquiring)
        guard used <= capacity else { throw Self.corrupt }
        let count = Int(min(UInt64(bytes.count), capacity - used))
        guard count > 0, let source = bytes.baseAddress else { return 0 }
        let offset = Int(end & (capacity - 1))
        let first = min(count, Int(capacity) - offset)
        (data + offset).copyMemory(from: source, byteCount: first)
        if first < count { data.copyMemory(from: source + first, byteCount: count - first) }
        written.store(end &+ UInt64(count), ordering: .releasing)
        return count
    }

    /// After a write: whether the consumer said it would sleep (it then needs a doorbell, exactly one).
    func consumerNeedsWaking() -> Bool { takeWakeRequest(consumerAsleep) }

    /// With bytes left over, before waiting: asks the consumer for a doorbell once it frees space.
    /// Returns false if space appeared meanwhile (write again instead of waiting).
    func producerWillWait() -> Bool {
        requestWake(producerBlocked) { written.load(ordering: .relaxed) &- read.load(ordering: .relaxed) >= capacity }
    }

    func markConsumerAsleep() { consumerAsleep.store(1, ordering: .relaxed) }

    /// Whether the consumer has not read everything written yet.
    var holdsUnread: Bool { written.load(ordering: .relaxed) != read.load(ordering: .acquiring) }

    // MARK: Consumer

    /// Moves everything the ring holds into `decoder`; returns the number of bytes.
    func drain(into decoder: inout FrameDecoder) throws -> Int {
        let start = read.load(ordering: .relaxed)
        let available = written.load(ordering: .acquiring) &- start
        guard available <= capacity else { throw Self.corrupt }
        guard available > 0 else { return 0 }
        let offset = Int(start & (capacity - 1))
        let first = min(Int(available), Int(capacity) - offset)
        decoder.feed(UnsafeRawBufferPointer(start: data + offset, count: first))
        if first < Int(available) { decoder.feed(UnsafeRawBufferPointer(start: data, count: Int(available) - first)) }
        read.store(start &+ available, ordering: .releasing)
        return Int(available)
    }

    /// After a drain: whether the producer is waiting for space (it then needs a doorbell).
    func producerNeedsWaking() -> Bool { takeWakeRequest(producerBlocked) }

    /// Before sleeping: tells the producer to ring. Returns false if bytes arrived meanwhile (drain again).
    func consumerWillSleep() -> Bool {
        requestWake(consumerAsleep) { written.load(ordering: .relaxed) == read.load(ordering: .relaxed) }
    }

    /// Awake: withdraws a request to ring that no doorbell took (the sequencer sleeps for all its lanes and is
    /// woken through one of them; the others' producers would each ring once for nothing, a FUTEX_WAKE in a
    /// hart's turn on most slices). The consumer asks again before it next sleeps (`consumerWillSleep`); a
    /// producer that took the request meanwhile only rings once more.
    func consumerIsAwake() {
        if consumerAsleep.load(ordering: .relaxed) != 0 { consumerAsleep.store(0, ordering: .relaxed) }
    }

    // MARK: Wake-ups
    // Each side raises its flag, fences, then looks at the counters; the other side moves a counter,
    // fences, then looks at the flag. The two fences make at least one of them see the other, so no
    // wake-up is lost (and the exchange makes sure only one doorbell rings for it).

    private func takeWakeRequest(_ flag: UnsafeAtomic<UInt64>) -> Bool {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return flag.load(ordering: .relaxed) != 0 && flag.exchange(0, ordering: .acquiringAndReleasing) != 0
    }

    /// Raises `flag` if, once it is visible, `stillWaiting` holds; otherwise lowers it and returns false.
    private func requestWake(_ flag: UnsafeAtomic<UInt64>, while stillWaiting: () -> Bool) -> Bool {
        flag.store(1, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if stillWaiting() { return true }
        flag.store(0, ordering: .relaxed)
        return false
    }
}
