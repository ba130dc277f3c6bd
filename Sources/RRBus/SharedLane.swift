import Atomics
#if canImport(Glibc)
import Glibc
#endif

/// A shared-memory lane between the sequencer and one peer on the same host: two single-producer,
/// single-consumer byte rings in a file of the run directory, one per direction, carrying the same
/// length-prefixed frames the socket would. A Unix-socket write and read cost about 2.5 µs here (a
/// pipe 0.9 µs): a polling process sees a frame in the ring without either. The wake-ups ("doorbells",
/// rung only for a process that said it is about to sleep) are one byte in a named pipe beside the lane
/// file, one per direction (`LANE.bell-sequencer`, `LANE.bell-peer`): a process pinned to one CPU with its
/// peers wakes one for every hand-over, and a pipe costs about half what the socket did (a wake-up with
/// epoll, one CPU, C: 3.0 µs against 4.9-6.8). The socket stays the bus's backbone: the handshake, and
/// noticing a peer that died.
///
/// File layout (little-endian, offsets in bytes):
///   0     magic "RRVMLANE", format version, ring capacity (a power of two)
///   4096  ring 0 (peer -> sequencer), then ring 1 (sequencer -> peer), each:
///         +0 bytes written so far (producer), +64 consumer asleep flag,
///         +128 bytes read so far (consumer), +192 producer blocked flag (waiting for space),
///         +256 the data
/// The counters only grow; `written - read` is what the ring holds. Each side checks what it reads
/// from the other, so a corrupt peer is a clear error, never a wild copy.
public final class SharedLane {
    public enum Side { case sequencer, peer }

    static let magic: UInt64 = 0x454E_414C_4D56_5252  // "RRVMLANE"
    /// 2: doorbells in named pipes beside the lane file (1 rang on the socket).
    static let formatVersion: UInt64 = 2
    static let headerSize = 4096
    static let controlSize = 256
    public static let defaultCapacity = 256 << 10

    public let path: String
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private let ownsFile: Bool
    let outgoing: ByteRing
    let incoming: ByteRing
    /// The read end of this side's doorbell pipe (watched by the event loop), and the write end of the peer's.
    let bell: Int32
    private let peerBell: Int32

    private init(path: String, base: UnsafeMutableRawPointer, size: Int, capacity: Int, side: Side, ownsFile: Bool,
                 bells: (sequencer: Int32, peer: Int32)) {
        self.path = path
        self.base = base
        self.size = size
        self.ownsFile = ownsFile
        let up = ByteRing(base + Self.headerSize, capacity: capacity)
        let down = ByteRing(base + Self.headerSize + Self.controlSize + capacity, capacity: capacity)
        outgoing = side == .peer ? up : down
        incoming = side == .peer ? down : up
        bell = side == .peer ? bells.peer : bells.sequencer
        peerBell = side == .peer ? bells.sequencer : bells.peer
    }

    deinit {
        munmap(base, size)
        close(bell)
        close(peerBell)
        if ownsFile {
            unlink(path)
            for name in Self.bellNames(path) { unlink(name) }
        }
    }

    /// The doorbell pipes of the lane at `path`: the sequencer's, then the peer's.
    static func bellNames(_ path: String) -> [String] { [path + ".bell-sequencer", path + ".bell-peer"] }

    /// Opens both doorbell pipes, read and write (a pipe opened so neither blocks nor fails for want of the
    /// other end), refusing anything that is not a pipe (a symlink is not followed). -1s on failure, errno set.
    private static func openBells(_ path: String) -> (sequencer: Int32, peer: Int32)? {
        var descriptors: [Int32] = []
        for name in bellNames(path) {
            let fd = Glibc.open(name, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
            var status = stat()
            guard fd >= 0, fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFIFO else {
                let saved = errno
                if fd >= 0 { close(fd) }
                for open in descriptors { close(open) }
                errno = fd >= 0 ? EINVAL : saved
                return nil
            }
            descriptors.append(fd)
        }
        return (descriptors[0], descriptors[1])
    }

    /// Rings the peer's doorbell. A full pipe already holds a ring the peer has not taken: nothing is lost.
    func ringPeer() {
        var byte: UInt8 = 1
        _ = write(peerBell, &byte, 1)
    }

    /// Takes the rings waiting in this side's doorbell (the frames themselves are in the ring).
    func takeRings() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { read(bell, $0.baseAddress, $0.count) }) == MemoryLayout.size(ofValue: buffer) {}
    }

    static func fileSize(capacity: Int) -> Int { headerSize + 2 * (controlSize + capacity) }

    /// Creates a new lane file (the sequencer's side); it is removed when the lane is released.
    public static func create(path: String, capacity: Int = defaultCapacity) throws -> SharedLane {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "lane capacity must be a power of two")
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BusError.io("cannot create shared lane \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let size = fileSize(capacity: capacity)
        guard ftruncate(fd, off_t(size)) == 0, let base = map(fd, size) else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw BusError.io("cannot size shared lane \(path): \(reason)")
        }
        let bells = bellNames(path)
        guard mkfifo(bells[0], 0o600) == 0, mkfifo(bells[1], 0o600) == 0, let descriptors = openBells(path) else {
            let reason = String(cString: strerror(errno))
            munmap(base, size)
            for name in [path] + bells { unlink(name) }
            throw BusError.io("cannot make the doorbells of shared lane \(path): \(reason)")
        }
        let header = base.assumingMemoryBound(to: UInt64.self)
        header[1] = formatVersion
        header[2] = UInt64(capacity)
        header[0] = magic
        let lane = SharedLane(path: path, base: base, size: size, capacity: capacity, side: .sequencer, ownsFile: true,
                              bells: descriptors)
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
        munmap(header, headerSize)
        guard magic == Self.magic, version == formatVersion else {
            throw BusError.malformedMessage("\(path) is not a version \(formatVersion) shared lane")
        }
        guard capacity > 0, capacity <= 1 << 30, capacity & (capacity - 1) == 0,
              Int(status.st_size) == fileSize(capacity: capacity), let base = map(fd, fileSize(capacity: capacity)) else {
            throw BusError.malformedMessage("shared lane \(path) has a bad size")
        }
        guard let bells = openBells(path) else {
            let reason = String(cString: strerror(errno))
            munmap(base, fileSize(capacity: capacity))
            throw BusError.io("cannot open the doorbells of shared lane \(path): \(reason)")
        }
        return SharedLane(path: path, base: base, size: fileSize(capacity: capacity), capacity: capacity,
                          side: .peer, ownsFile: false, bells: bells)
    }

    private static func map(_ fd: Int32, _ size: Int) -> UnsafeMutableRawPointer? {
        let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return pointer == MAP_FAILED ? nil : pointer
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
