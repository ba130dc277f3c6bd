import CLibUV

/// One framed, ordered, bidirectional connection over a libuv stream (Unix socket or TCP).
/// Frames arrive through `onFrame` in the order they were sent; `onClose` is called once, with the reason.
public final class Connection {
    private let box = HandleBox<uv_stream_t>(
        byteCount: max(MemoryLayout<uv_pipe_t>.size, MemoryLayout<uv_tcp_t>.size))
    private let loop: EventLoop
    private var decoder = FrameDecoder()
    /// Set once the handshake has moved the frames to shared memory (local peers).
    private var lane: SharedLane?
    /// The lane's incoming ring, for the look at every polling round (`serviceLane`): a plain value, read without
    /// retaining the lane (the retains and releases of a round over a dozen lanes were most of the sequencer's
    /// polling). Valid while `lane` holds the mapping.
    private var laneIncoming: ByteRing?
    private var laneDecoder = FrameDecoder()
    /// Bytes for the lane that did not fit in its ring yet, in order.
    private var laneBacklog: [UInt8] = []
    /// Where `send(_:wakingPeer:)` frames a message: one buffer reused, not an array allocated (and grown) per message.
    var sendBuffer: [UInt8] = []
    /// Where the lane's frames are decoded (see `serviceLane`), reused likewise.
    private var laneFrame: [UInt8] = []
    /// A reused buffer grown beyond this by a large message (a burst of console output, a declaration) is not kept.
    static let keptBufferBytes = 64 << 10
    private var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
    private var closed = false
    /// What the connection was for, in error messages (e.g. "hart 2").
    public var name: String

    public var onFrame: (([UInt8]) -> Void)?
    /// When set, what arrives is delivered as it comes, without framing (a peer that is not on the bus,
    /// such as a GDB remote-protocol client); answer it with `sendUnframed`.
    public var onBytes: (([UInt8]) -> Void)?
    public var onClose: ((BusError) -> Void)?
    /// Called after frames were delivered through `onFrame`, once none is left to deliver for now (what the socket's
    /// read or the lane's ring held is handled): where a receiver sends what it gathers over several.
    public var onDrained: (() -> Void)?

    /// The stream's handle as libuv initialised it (`kind` says which init was used).
    init(loop: EventLoop, kind: BusAddressKind, name: String) {
        self.name = name
        self.loop = loop
        switch kind {
        case .unix: uv_pipe_init(loop.raw, box.raw(as: uv_pipe_t.self), 0)
        case .tcp: uv_tcp_init(loop.raw, box.raw(as: uv_tcp_t.self))
        }
        box.attach(self)
    }

    deinit { readBuffer.deallocate() }

    var stream: UnsafeMutablePointer<uv_stream_t> { box.asStream }

    public var isOpen: Bool { !closed }

    /// The largest frame accepted on the socket (lowered until a peer has been admitted).
    public var maximumFrameSize: Int {
        get { decoder.maximumFrameSize }
        set { decoder.maximumFrameSize = newValue }
    }

    func startReading() {
        if case .tcp = kindOfHandle { uv_tcp_nodelay(box.raw(as: uv_tcp_t.self), 1) }
        uv_read_start(stream, { handle, _, buf in
            guard let connection = owner(of: handle, as: Connection.self), let buf else { return }
            buf.pointee.base = connection.readBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = connection.readBuffer.count
        }, { stream, nread, _ in
            guard let connection = owner(of: stream, as: Connection.self) else { return }
            connection.didRead(nread)
        })
    }

    private var kindOfHandle: BusAddressKind {
        box.asHandle.pointee.type == UV_TCP ? .tcp : .unix
    }

    private func didRead(_ count: Int) {
        if count < 0 {
            // What the peer put in the lane before it closed (its last words, a Shutdown) still counts.
            serviceLane(beforeSleeping: false)
            close(count == Int(UV_EOF.rawValue) ? .peerClosed : .io("read from \(name): \(uvErrorName(Int32(count)))"))
            return
        }
        if let onBytes {
            onBytes(Array(readBuffer[0..<count]))
            return
        }
        decoder.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
        do {
            var delivered = false
            while !closed, let frame = try decoder.next() {
                if lane == nil {
                    delivered = true
                    onFrame?(frame)
                } else {
                    // Once a lane carries the frames (and its futexes the doorbells), the socket carries nothing.
                    throw BusError.malformedMessage("a \(frame.count)-byte frame on the socket of \(name)'s shared lane")
                }
            }
            if delivered && !closed { onDrained?() }
        } catch let error as BusError {
            close(error)
        } catch {
            close(.io("\(error)"))
        }
    }

    // MARK: - Shared lane

    /// From now on frames travel through `lane` in both directions. The sequencer attaches right after
    /// sending Welcome, the peer right after receiving it, so no frame is in flight on the socket.
    public func attachLane(_ lane: SharedLane) {
        precondition(self.lane == nil, "a connection has one lane")
        self.lane = lane
        laneIncoming = lane.incoming
        loop.addLaneConnection(self)
    }

    /// The doorbell the loop sleeps on for this lane (the peer rings it).
    var doorbell: Doorbell? { closed ? nil : lane?.bell }

    /// Whether some of what was sent has not left yet (waiting for room in the lane or the socket).
    public var hasPendingOutput: Bool {
        !closed && (!laneBacklog.isEmpty || uv_stream_get_write_queue_size(stream) > 0)
    }

    /// Whether the lane holds frames from the peer not delivered yet.
    var hasLaneInput: Bool { !closed && (!laneDecoder.isDrained || laneIncoming?.holdsUnread == true) }

    /// Whether some of what was sent has not been read by the peer yet (as `hasPendingOutput`, and through a lane
    /// until the peer has taken it from the ring).
    public var hasUnreadOutput: Bool { hasPendingOutput || (!closed && lane?.outgoing.holdsUnread == true) }

    /// The lane's file while frames travel through one.
    public var sharedLanePath: String? { lane?.path }

    /// Whether the peer is on this host (a Unix socket), so that it can share a lane.
    public var isLocal: Bool { kindOfHandle == .unix }

    /// Delivers what the lane holds and moves the backlog on. Before the loop sleeps, also asks the
    /// producer for a doorbell, checking once more that nothing slipped in meanwhile; awake, withdraws such a
    /// request that no doorbell took (`ByteRing.consumerIsAwake`). Returns whether it delivered frames.
    @discardableResult
    func serviceLane(beforeSleeping: Bool) -> Bool {
        guard !closed, let incoming = laneIncoming else { return false }
        var delivered = false
        if !beforeSleeping { incoming.consumerIsAwake() }
        // Nothing arrived and nothing waits to leave, as for most lanes at most looks (the sequencer looks at all its
        // lanes, a dozen, a few times a slice): the look costs two loads, and before a sleep the request for a doorbell.
        if laneBacklog.isEmpty && laneDecoder.isDrained && !incoming.holdsUnread
            && (!beforeSleeping || incoming.consumerWillSleep()) { return false }
        guard let lane else { return false }
        // The frames are decoded into one array, taken out meanwhile (a handler that comes back here gets a fresh one).
        var frame = laneFrame
        laneFrame = []
        defer { if frame.capacity <= Self.keptBufferBytes { laneFrame = frame } }
        do {
            try flushLaneBacklog(lane)
            while !closed {
                let count = try incoming.drain(into: &laneDecoder)
                if count > 0 && incoming.producerNeedsWaking() { ringDoorbell() }
                while !closed, try laneDecoder.next(into: &frame) {
                    delivered = true
                    onFrame?(frame)
                }
                if count == 0 && (!beforeSleeping || incoming.consumerWillSleep()) { break }
            }
            if delivered && !closed { onDrained?() }
        } catch let error as BusError {
            close(error)
        } catch {
            close(.io("\(error)"))
        }
        return delivered
    }

    private func sendThroughLane(_ lane: SharedLane, _ bytes: [UInt8], wakingPeer: Bool) {
        do {
            if laneBacklog.isEmpty {
                let written = try bytes.withUnsafeBytes { try lane.outgoing.write($0) }
                if written < bytes.count { laneBacklog.append(contentsOf: bytes[written...]) }
            } else {
                laneBacklog.append(contentsOf: bytes)
            }
            try flushLaneBacklog(lane)
            // Without a wake-up a peer asleep takes the frame when it is next woken; a full ring always wakes it.
            if (wakingPeer || !laneBacklog.isEmpty) && lane.outgoing.consumerNeedsWaking() { ringDoorbell() }
        } catch let error as BusError {
            close(error)
        } catch {
            close(.io("\(error)"))
        }
    }

    /// Writes the backlog while the ring has room; what is left waits for the consumer's doorbell.
    private func flushLaneBacklog(_ lane: SharedLane) throws {
        while !laneBacklog.isEmpty {
            let written = try laneBacklog.withUnsafeBytes { try lane.outgoing.write($0) }
            laneBacklog.removeFirst(written)
            if written > 0 && lane.outgoing.consumerNeedsWaking() { ringDoorbell() }
            if !laneBacklog.isEmpty && lane.outgoing.producerWillWait() { return }
        }
    }

    /// Tells the peer to look at the lane (now, or when the loop comes round: see `EventLoop.defersDoorbells`).
    private func ringDoorbell() {
        if loop.defersDoorbells { return loop.oweDoorbell(self) }
        lane?.ringPeer()
    }

    func ringOwedDoorbell() {
        guard !closed else { return }
        lane?.ringPeer()
    }

    /// Sends one frame. Small frames usually leave at once; the rest is queued in order. `wakingPeer: false`: a
    /// peer that sleeps is not woken for it (through a lane), but takes it when it is next woken (`wakePeer`).
    public func send(_ payload: [UInt8], wakingPeer: Bool = true) {
        sendUnframed(FrameCodec.encode(payload), wakingPeer: wakingPeer)
    }

    /// Wakes the peer if it sleeps, for frames sent without waking it.
    public func wakePeer() {
        guard !closed, let lane else { return }
        if lane.outgoing.consumerNeedsWaking() { ringDoorbell() }
    }

    /// Writes bytes as they are, without a frame header: for tests and tools that must produce broken input.
    public func sendUnframed(_ bytes: [UInt8], wakingPeer: Bool = true) {
        guard !closed else { return }
        if let lane {
            sendThroughLane(lane, bytes, wakingPeer: wakingPeer)
        } else {
            writeToSocket(bytes)
        }
    }

    private func writeToSocket(_ bytes: [UInt8]) {
        var framed = bytes
        let written: Int32 = framed.withUnsafeMutableBytes { bytes in
            var buf = uv_buf_init(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
            return uv_try_write(stream, &buf, 1)
        }
        if written == Int32(framed.count) { return }
        if written > 0 { framed.removeFirst(Int(written)) } else if written != Int32(UV_EAGAIN.rawValue) {
            close(.io("write to \(name): \(uvErrorName(written))"))
            return
        }
        queueWrite(framed)
    }

    private func queueWrite(_ bytes: [UInt8]) {
        // The request owns a copy of the bytes until libuv calls back.
        let storage = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        request.pointee.data = storage
        var buf = uv_buf_init(storage.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let status = uv_write(request, stream, &buf, 1) { request, status in
            guard let request else { return }
            request.pointee.data?.deallocate()
            let handle = request.pointee.handle
            request.deallocate()
            if status < 0, status != Int32(UV_ECANCELED.rawValue),
               let connection = owner(of: handle, as: Connection.self) {
                connection.close(.io("write to \(connection.name): \(uvErrorName(status))"))
            }
        }
        if status < 0 {
            storage.deallocate()
            request.deallocate()
            close(.io("write to \(name): \(uvErrorName(status))"))
        }
    }

    /// Closes the connection; `onClose` hears `reason` (once).
    public func close(_ reason: BusError = .peerClosed) {
        guard !closed else { return }
        closed = true
        if lane != nil {
            loop.removeLaneConnection(self)
            laneIncoming = nil
            lane = nil
        }
        let callback = onClose
        onClose = nil
        onFrame = nil
        onDrained = nil
        onBytes = nil
        box.close()
        callback?(reason)
    }
}

enum BusAddressKind { case unix, tcp }

extension BusAddress {
    var kind: BusAddressKind {
        switch self {
        case .unix: return .unix
        case .tcp: return .tcp
        }
    }
}
