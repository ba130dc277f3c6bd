/// virtio-rng (device id 4, one request queue): fills every device-writable buffer of a chain with bytes
/// from a deterministic generator seeded from the recorded entropy seed. Device-readable buffers are
/// skipped; a writable buffer outside RAM breaks the queue (there is no status to report it in).
public final class VirtioRNG: VirtioBackend {
    public var deviceID: UInt32 { 4 }
    public var deviceFeatures: UInt64 { 0 }
    public var queueCount: Int { 1 }
    public let maxQueueSize: UInt16
    public var configSpace: [UInt8] { [] }
    public private(set) var bytesProduced: UInt64 = 0
    private var random: DeterministicRandom

    public init(seed: UInt64, maxQueueSize: UInt16 = 64) {
        random = DeterministicRandom(seed: seed)
        self.maxQueueSize = maxQueueSize
    }

    public func handle(queue: Int, chain: [VirtqBuffer], memory: GuestMemory) throws -> UInt32 {
        let writable = ScatterList(chain.filter { $0.deviceWritable })
        let total = writable.totalLength
        let filled = writable.forEachPiece(from: 0, count: total, memory: memory) { pointer, length in
            random.fill(UnsafeMutableRawBufferPointer(start: pointer, count: length))
            return true
        }
        guard filled else { throw VirtqueueFault("virtio-rng buffer outside RAM") }
        bytesProduced += total
        return UInt32(truncatingIfNeeded: total)
    }

    /// The generator keeps running across a driver reset so that bytes are never handed out twice.
    public func reset() {}

    /// The bytes handed out so far and the generator's position.
    public struct State: Equatable {
        public var bytesProduced: UInt64
        public var random: DeterministicRandom

        public init(bytesProduced: UInt64, random: DeterministicRandom) {
            self.bytesProduced = bytesProduced
            self.random = random
        }
    }

    public func saveBackendState() throws -> VirtioBackendState {
        .entropy(State(bytesProduced: bytesProduced, random: random))
    }

    public func restoreBackendState(_ state: VirtioBackendState) throws {
        guard case .entropy(let saved) = state else {
            throw DeviceStateError("a virtio-blk state cannot be restored into virtio-rng")
        }
        bytesProduced = saved.bytesProduced
        random = saved.random
    }

    public func hashState(into hasher: inout StateHasher) {
        hasher.combine(bytesProduced)
        random.hash(into: &hasher)
    }
}
