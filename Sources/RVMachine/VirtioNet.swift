import RVPlatform

/// virtio-net (device id 1) with one receive queue (0) and one transmit queue (1), no control queue and no
/// offloads: the guest computes its own checksums and sends whole Ethernet frames.
///
/// Offered: VIRTIO_NET_F_MAC (the configuration's address) and VIRTIO_NET_F_STATUS (the link is up). Each
/// buffer starts with a virtio_net_hdr: 12 bytes (with num_buffers) when VERSION_1 was negotiated, the
/// legacy 10 bytes when it was not (MRG_RXBUF is never offered).
///
/// Frames from outside the machine (`receive(frame:)`) wait in a bounded queue until the driver has made a
/// receive buffer available; the transport then serves queue 0 (`VirtioMMIO.serviceQueue`). Frames the guest
/// sends leave through `DeviceEffects.frames`. The model never touches the host: whoever wraps it decides
/// where frames come from (a backend, or a log in replay) and where sent ones go.
///
/// Guest mistakes are device errors (DEVICE_NEEDS_RESET, as QEMU's virtio_error): a transmit chain with a
/// device-writable buffer, a header missing or outside RAM, a frame shorter than an Ethernet header or longer
/// than the largest frame without offloads (1518 bytes: 1500 + header + VLAN tag), a GSO request that was
/// not offered, and a receive chain that is device-readable or too small for the frame at hand.
public final class VirtioNet: VirtioBackend {
    public static let featureMAC: UInt64 = 1 << 5
    public static let featureStatus: UInt64 = 1 << 16
    public static let statusLinkUp: UInt16 = 1
    public static let receiveQueue = 0, transmitQueue = 1
    public static var frameSizes: ClosedRange<Int> { EthernetFrame.sizes }
    /// QEMU's default address for its first NIC.
    public static let defaultMAC: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
    public static let legacyHeaderSize = 10, headerSize = 12

    public var deviceID: UInt32 { 1 }
    public var deviceFeatures: UInt64 { VirtioNet.featureMAC | VirtioNet.featureStatus }
    public var queueCount: Int { 2 }
    public let maxQueueSize: UInt16
    public let mac: [UInt8]
    /// Received frames kept while the driver has no receive buffer; later ones are dropped (counted).
    public let pendingLimit: Int
    public private(set) var receivedFrames: UInt64 = 0
    public private(set) var droppedFrames: UInt64 = 0
    public private(set) var sentFrames: UInt64 = 0

    private var negotiated: UInt64 = 0
    private var pending: [[UInt8]] = []
    private var pendingHead = 0
    private var outbox: [[UInt8]] = []
    /// Digests of every frame delivered to and sent by the guest, in order, for the state hash.
    private var receiveDigest = StateHasher()
    private var sendDigest = StateHasher()

    public init(mac: [UInt8] = VirtioNet.defaultMAC, maxQueueSize: UInt16 = 256, pendingLimit: Int = 256) {
        precondition(mac.count == 6, "a MAC address has 6 bytes")
        self.mac = mac
        self.maxQueueSize = maxQueueSize
        self.pendingLimit = pendingLimit
    }

    /// struct virtio_net_config: mac[6], status, max_virtqueue_pairs (the link never goes down here).
    public var configSpace: [UInt8] { mac + [UInt8(VirtioNet.statusLinkUp), 0, 1, 0] }

    /// The header size the driver expects with the features it negotiated.
    public var currentHeaderSize: Int {
        negotiated & VirtioMMIO.featureVersion1 != 0 ? VirtioNet.headerSize : VirtioNet.legacyHeaderSize
    }

    public var pendingFrames: Int { pending.count - pendingHead }

    /// A frame from outside the machine. Returns false (and keeps nothing) for a frame of a size no Ethernet
    /// link carries; a frame that finds the waiting queue full is dropped, as a NIC without buffers does.
    public func receive(frame: [UInt8]) -> Bool {
        guard VirtioNet.frameSizes.contains(frame.count) else { return false }
        if pendingFrames >= pendingLimit {
            droppedFrames += 1
        } else {
            pending.append(frame)
        }
        return true
    }

    public func driverReady(features: UInt64) { negotiated = features }

    public func hasWork(queue: Int) -> Bool { queue != VirtioNet.receiveQueue || pendingFrames > 0 }

    public func handle(queue: Int, chain: [VirtqBuffer], memory: GuestMemory) throws -> UInt32 {
        switch queue {
        case VirtioNet.receiveQueue: return try deliver(into: chain, memory: memory)
        case VirtioNet.transmitQueue: try transmit(chain, memory: memory); return 0
        default: throw VirtqueueFault("virtio-net has no queue \(queue)")
        }
    }

    public func takeOutput(into effects: inout DeviceEffects) {
        guard !outbox.isEmpty else { return }
        effects.frames += outbox
        outbox.removeAll()
    }

    /// Frames waiting for the driver are dropped with the queues they were meant for.
    public func reset() {
        negotiated = 0
        pending.removeAll()
        pendingHead = 0
        outbox.removeAll()
    }

    /// Everything above, for checkpoints.
    public struct State: Equatable {
        public var negotiatedFeatures: UInt64
        public var receivedFrames, droppedFrames, sentFrames: UInt64
        public var pending: [[UInt8]]
        public var receiveDigest, sendDigest: UInt64

        public init(negotiatedFeatures: UInt64, receivedFrames: UInt64, droppedFrames: UInt64, sentFrames: UInt64,
                    pending: [[UInt8]], receiveDigest: UInt64, sendDigest: UInt64) {
            self.negotiatedFeatures = negotiatedFeatures
            self.receivedFrames = receivedFrames
            self.droppedFrames = droppedFrames
            self.sentFrames = sentFrames
            self.pending = pending
            self.receiveDigest = receiveDigest
            self.sendDigest = sendDigest
        }
    }

    public func saveBackendState() throws -> VirtioBackendState {
        .net(State(negotiatedFeatures: negotiated, receivedFrames: receivedFrames, droppedFrames: droppedFrames,
                   sentFrames: sentFrames, pending: Array(pending[pendingHead...]), receiveDigest: receiveDigest.value,
                   sendDigest: sendDigest.value))
    }

    public func restoreBackendState(_ state: VirtioBackendState) throws {
        guard case .net(let saved) = state else { throw DeviceStateError("only a virtio-net state restores into virtio-net") }
        guard saved.pending.count <= pendingLimit, saved.pending.allSatisfy({ VirtioNet.frameSizes.contains($0.count) }) else {
            throw DeviceStateError("virtio-net state with more than \(pendingLimit) waiting frames or one of an impossible size")
        }
        negotiated = saved.negotiatedFeatures
        receivedFrames = saved.receivedFrames
        droppedFrames = saved.droppedFrames
        sentFrames = saved.sentFrames
        pending = saved.pending
        pendingHead = 0
        outbox = []
        receiveDigest = StateHasher(value: saved.receiveDigest)
        sendDigest = StateHasher(value: saved.sendDigest)
    }

    public func hashState(into hasher: inout StateHasher) {
        hasher.combine(negotiated)
        hasher.combine(receivedFrames)
        hasher.combine(droppedFrames)
        hasher.combine(sentFrames)
        hasher.combine(pendingFrames)
        for frame in pending[pendingHead...] { hasher.combine(bytes: frame) }
        hasher.combine(receiveDigest.value)
        hasher.combine(sendDigest.value)
    }

    // MARK: - Internals

    private func deliver(into chain: [VirtqBuffer], memory: GuestMemory) throws -> UInt32 {
        let frame = pending[pendingHead]
        guard chain.allSatisfy(\.deviceWritable) else {
            throw VirtqueueFault("virtio-net receive buffer that is not device-writable")
        }
        let buffers = ScatterList(chain)
        let header = currentHeaderSize
        let total = header + frame.count
        guard buffers.totalLength >= UInt64(total) else {
            throw VirtqueueFault("virtio-net receive buffer of \(buffers.totalLength) bytes for a \(total)-byte packet")
        }
        // flags 0, gso_type NONE, lengths 0; num_buffers 1 in the modern header.
        var packet = [UInt8](repeating: 0, count: header)
        if header == VirtioNet.headerSize { packet[10] = 1 }
        packet += frame
        var copied = 0
        let written = buffers.forEachPiece(from: 0, count: UInt64(total), memory: memory) { pointer, length in
            packet[copied..<(copied + length)].withUnsafeBytes {
                pointer.copyMemory(from: $0.baseAddress!, byteCount: length)
            }
            copied += length
            return true
        }
        guard written else { throw VirtqueueFault("virtio-net receive buffer outside RAM") }
        pendingHead += 1
        if pendingHead == pending.count || pendingHead >= 64 {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        receivedFrames += 1
        receiveDigest.combine(bytes: frame)
        return UInt32(total)
    }

    private func transmit(_ chain: [VirtqBuffer], memory: GuestMemory) throws {
        guard !chain.contains(where: \.deviceWritable) else {
            throw VirtqueueFault("virtio-net transmit chain with a device-writable buffer")
        }
        let buffers = ScatterList(chain)
        let header = UInt64(currentHeaderSize)
        let total = buffers.totalLength
        guard total >= header else {
            throw VirtqueueFault("virtio-net transmit chain of \(total) bytes, shorter than its \(header)-byte header")
        }
        let length = total - header
        guard length <= UInt64(VirtioNet.frameSizes.upperBound), VirtioNet.frameSizes.contains(Int(length)) else {
            throw VirtqueueFault("virtio-net frame of \(length) bytes (an Ethernet frame has "
                                 + "\(VirtioNet.frameSizes.lowerBound)-\(VirtioNet.frameSizes.upperBound))")
        }
        guard let bytes = buffers.read(from: 0, count: total, memory: memory) else {
            throw VirtqueueFault("virtio-net transmit buffer outside RAM")
        }
        guard bytes[1] == 0 else { throw VirtqueueFault("virtio-net GSO type \(bytes[1]) was not offered") }
        let frame = Array(bytes[Int(header)...])
        sentFrames += 1
        sendDigest.combine(bytes: frame)
        outbox.append(frame)
    }
}
