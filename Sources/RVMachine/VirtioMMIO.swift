/// What a virtio device type adds to the transport.
public protocol VirtioBackend: AnyObject {
    var deviceID: UInt32 { get }
    /// Device-specific feature bits offered (the transport adds VERSION_1 and INDIRECT_DESC).
    var deviceFeatures: UInt64 { get }
    var queueCount: Int { get }
    var maxQueueSize: UInt16 { get }
    /// The device configuration space, little-endian (read-only for the devices here).
    var configSpace: [UInt8] { get }
    /// Handles one chain taken from `queue`; returns the number of bytes written into the chain's
    /// device-writable buffers (the used length), or throws when the queue cannot be used any more.
    func handle(queue: Int, chain: [VirtqBuffer], memory: GuestMemory) throws -> UInt32
    /// The driver reset the device.
    func reset()
    func hashState(into hasher: inout StateHasher)
    /// The driver set DRIVER_OK having negotiated `features` (0 if FEATURES_OK was never accepted).
    func driverReady(features: UInt64)
    /// Whether the backend can use a chain from `queue` now (virtio-net's receive queue waits for a frame).
    func hasWork(queue: Int) -> Bool
    /// Hands over what the chains just handled send out of the machine (virtio-net's frames).
    func takeOutput(into effects: inout DeviceEffects)
    /// The backend's own state, for checkpoints (see `VirtioMMIO.State`).
    func saveBackendState() throws -> VirtioBackendState
    func restoreBackendState(_ state: VirtioBackendState) throws
}

extension VirtioBackend {
    public func driverReady(features: UInt64) {}
    public func hasWork(queue: Int) -> Bool { true }
    public func takeOutput(into effects: inout DeviceEffects) {}
}

/// What a virtio backend holds beyond the transport.
public enum VirtioBackendState: Equatable {
    case block(VirtioBlock.State)
    case entropy(VirtioRNG.State)
    case net(VirtioNet.State)
}

/// The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2), with split virtqueues.
///
/// Requests are handled synchronously during the QueueNotify write: each available chain is processed,
/// put in the used ring, and then the used-buffer interrupt is raised once (unless the driver set
/// VRING_AVAIL_F_NO_INTERRUPT). A malformed queue (rings or descriptors outside RAM, index out of
/// range, loops, bad indirect tables, QueueReady with a bad size or misaligned rings) sets
/// DEVICE_NEEDS_RESET and raises the configuration-change interrupt; nothing more is processed until the
/// driver resets the device by writing 0 to Status. Reads of write-only registers return 0, writes to
/// read-only ones are ignored, and so are non-32-bit accesses to the registers below the config space.
public final class VirtioMMIO: DeviceModel {
    public enum Register: UInt64 {
        case magic = 0x000, version = 0x004, deviceID = 0x008, vendorID = 0x00c
        case deviceFeatures = 0x010, deviceFeaturesSelect = 0x014
        case driverFeatures = 0x020, driverFeaturesSelect = 0x024
        case queueSelect = 0x030, queueSizeMax = 0x034, queueSize = 0x038, queueReady = 0x044
        case queueNotify = 0x050, interruptStatus = 0x060, interruptAck = 0x064, status = 0x070
        case queueDescLow = 0x080, queueDescHigh = 0x084, queueAvailLow = 0x090, queueAvailHigh = 0x094
        case queueUsedLow = 0x0a0, queueUsedHigh = 0x0a4
        case sharedMemorySelect = 0x0ac, sharedMemoryLengthLow = 0x0b0, sharedMemoryLengthHigh = 0x0b4
        case sharedMemoryBaseLow = 0x0b8, sharedMemoryBaseHigh = 0x0bc
        case configGeneration = 0x0fc
    }

    public static let magic: UInt32 = 0x7472_6976  // "virt"
    public static let vendorID: UInt32 = 0x554d_4551  // "QEMU", as QEMU's transports report
    public static let configOffset: UInt64 = 0x100

    public static let featureIndirectDescriptors: UInt64 = 1 << 28
    public static let featureVersion1: UInt64 = 1 << 32

    public static let statusAcknowledge: UInt32 = 1, statusDriver: UInt32 = 2, statusDriverOK: UInt32 = 4
    public static let statusFeaturesOK: UInt32 = 8, statusNeedsReset: UInt32 = 0x40, statusFailed: UInt32 = 0x80

    public static let interruptUsedBuffer: UInt32 = 1, interruptConfigChange: UInt32 = 2

    public let name: String
    public let source: UInt32
    public let backend: VirtioBackend
    private let memory: GuestMemory

    public private(set) var status: UInt32 = 0
    public private(set) var interruptStatus: UInt32 = 0
    /// Why the device last entered DEVICE_NEEDS_RESET (for diagnostics; nil when it has not).
    public private(set) var fault: VirtqueueFault?
    private var deviceFeaturesSelect: UInt32 = 0
    private var driverFeaturesSelect: UInt32 = 0
    private var driverFeatures: UInt64 = 0
    private var queueSelect: UInt32 = 0
    private var queues: [SplitVirtqueue]
    private var lineLevel = false

    public init(backend: VirtioBackend, memory: GuestMemory, source: UInt32, name: String) {
        self.name = name
        self.source = source
        self.backend = backend
        self.memory = memory
        queues = Array(repeating: SplitVirtqueue(size: backend.maxQueueSize), count: backend.queueCount)
    }

    public var offeredFeatures: UInt64 {
        backend.deviceFeatures | VirtioMMIO.featureVersion1 | VirtioMMIO.featureIndirectDescriptors
    }

    public var negotiatedFeatures: UInt64 { status & VirtioMMIO.statusFeaturesOK != 0 ? driverFeatures : 0 }

    public func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        if offset >= VirtioMMIO.configOffset { return readConfig(offset - VirtioMMIO.configOffset, size: size) }
        guard size == 4, let register = Register(rawValue: offset) else { return 0 }
        return value(of: register)
    }

    /// The transport's registers that Linux reads (identification, features, queue size and readiness, interrupt
    /// status, status, config generation): a read has no side effect, and they change only with an operation of
    /// this device (a write, a notification, a frame received), whose answer declares them anew. So a hart answers
    /// its reads of them (the probe's, and the interrupt handler's of InterruptStatus) itself. Writes still wait:
    /// the device writes guest memory.
    public func stableReads() -> [StableRead] {
        [StableRead(array: Register.magic.rawValue, size: 4, stride: 4,
                    values: [Register.magic, .version, .deviceID, .vendorID].map(value(of:)))]
        + [Register.deviceFeatures, .queueSizeMax, .queueReady, .interruptStatus, .status, .configGeneration].map {
            StableRead(offset: $0.rawValue, size: 4, value: value(of: $0))
        }
    }

    private func value(of register: Register) -> UInt64 {
        let queue = selectedQueue
        switch register {
        case .magic: return UInt64(VirtioMMIO.magic)
        case .version: return 2
        case .deviceID: return UInt64(backend.deviceID)
        case .vendorID: return UInt64(VirtioMMIO.vendorID)
        case .deviceFeatures:
            guard deviceFeaturesSelect < 2 else { return 0 }
            return (offeredFeatures >> (32 * UInt64(deviceFeaturesSelect))) & 0xffff_ffff
        case .queueSizeMax: return queue == nil ? 0 : UInt64(backend.maxQueueSize)
        case .queueReady: return queue.map { queues[$0].ready ? 1 : 0 } ?? 0
        case .interruptStatus: return UInt64(interruptStatus)
        case .status: return UInt64(status)
        case .sharedMemoryLengthLow, .sharedMemoryLengthHigh, .sharedMemoryBaseLow, .sharedMemoryBaseHigh:
            return 0xffff_ffff  // no shared memory regions: length ~0
        case .configGeneration: return 0  // the config spaces here never change
        default: return 0  // write-only
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock,
                      effects: inout DeviceEffects) -> Bool {
        guard offset < VirtioMMIO.configOffset, size == 4, let register = Register(rawValue: offset) else {
            return true  // the config spaces here are read-only; odd accesses are ignored
        }
        let value = UInt32(truncatingIfNeeded: value)
        switch register {
        case .deviceFeaturesSelect: deviceFeaturesSelect = value
        case .driverFeaturesSelect: driverFeaturesSelect = value
        case .driverFeatures:
            guard status & VirtioMMIO.statusFeaturesOK == 0, driverFeaturesSelect < 2 else { break }
            let shift = 32 * UInt64(driverFeaturesSelect)
            driverFeatures = (driverFeatures & ~(0xffff_ffff << shift)) | (UInt64(value) << shift)
        case .queueSelect: queueSelect = value
        case .queueSize: updateSelectedQueue { $0.size = UInt16(truncatingIfNeeded: min(value, 0xffff)) }
        case .queueDescLow: updateSelectedQueue { $0.descriptorTable = replaceLow($0.descriptorTable, value) }
        case .queueDescHigh: updateSelectedQueue { $0.descriptorTable = replaceHigh($0.descriptorTable, value) }
        case .queueAvailLow: updateSelectedQueue { $0.availRing = replaceLow($0.availRing, value) }
        case .queueAvailHigh: updateSelectedQueue { $0.availRing = replaceHigh($0.availRing, value) }
        case .queueUsedLow: updateSelectedQueue { $0.usedRing = replaceLow($0.usedRing, value) }
        case .queueUsedHigh: updateSelectedQueue { $0.usedRing = replaceHigh($0.usedRing, value) }
        case .queueReady: setQueueReady(value & 1 != 0, effects: &effects)
        case .queueNotify: notify(queue: Int(value & 0xffff), effects: &effects)
        case .interruptAck:
            interruptStatus &= ~value
            updateLine(&effects)
        case .status: writeStatus(value, effects: &effects)
        case .sharedMemorySelect: break
        default: break  // read-only
        }
        return true
    }

    public func tick(clock: DeviceClock, effects: inout DeviceEffects) {}

    /// The backend has new work for `queue` (virtio-net: a frame arrived): serves it as a notification would.
    public func serviceQueue(_ index: Int, effects: inout DeviceEffects) { notify(queue: index, effects: &effects) }

    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        hasher.combine(status)
        hasher.combine(interruptStatus)
        hasher.combine(deviceFeaturesSelect)
        hasher.combine(driverFeaturesSelect)
        hasher.combine(driverFeatures)
        hasher.combine(queueSelect)
        hasher.combine(lineLevel)
        for queue in queues { queue.hash(into: &hasher) }
        backend.hashState(into: &hasher)
        return hasher.value
    }

    // MARK: - Checkpoints

    /// The transport's registers, every queue's configuration and ring positions, and the backend's state.
    public struct State: Equatable {
        public var status: UInt32 = 0
        public var interruptStatus: UInt32 = 0
        /// Why the device entered DEVICE_NEEDS_RESET, if it did.
        public var fault: String?
        public var deviceFeaturesSelect: UInt32 = 0
        public var driverFeaturesSelect: UInt32 = 0
        public var driverFeatures: UInt64 = 0
        public var queueSelect: UInt32 = 0
        public var queues: [SplitVirtqueue] = []
        public var lineLevel = false
        public var backend: VirtioBackendState

        public init(backend: VirtioBackendState) { self.backend = backend }
    }

    public func saveState() throws -> DeviceState {
        var state = State(backend: try backend.saveBackendState())
        state.status = status
        state.interruptStatus = interruptStatus
        state.fault = fault?.message
        state.deviceFeaturesSelect = deviceFeaturesSelect
        state.driverFeaturesSelect = driverFeaturesSelect
        state.driverFeatures = driverFeatures
        state.queueSelect = queueSelect
        state.queues = queues
        state.lineLevel = lineLevel
        return .virtio(state)
    }

    public func restoreState(_ saved: DeviceState) throws {
        guard case .virtio(let state) = saved else { throw DeviceStateError.wrongKind(saved, into: name) }
        guard state.queues.count == backend.queueCount else {
            throw DeviceStateError(
                "\(name): the saved state has \(state.queues.count) queues, the device \(backend.queueCount)")
        }
        // A live queue must be one QueueReady would have accepted: the transport relies on its size.
        for queue in state.queues where queue.ready {
            if let problem = queue.validate(maxSize: backend.maxQueueSize, memory: memory) {
                throw DeviceStateError("\(name): saved queue: \(problem)")
            }
        }
        try backend.restoreBackendState(state.backend)
        status = state.status
        interruptStatus = state.interruptStatus
        fault = state.fault.map { VirtqueueFault($0) }
        deviceFeaturesSelect = state.deviceFeaturesSelect
        driverFeaturesSelect = state.driverFeaturesSelect
        driverFeatures = state.driverFeatures
        queueSelect = state.queueSelect
        queues = state.queues
        lineLevel = state.lineLevel
    }

    // MARK: - Internals

    private var selectedQueue: Int? { queueSelect < UInt32(queues.count) ? Int(queueSelect) : nil }

    /// Queue configuration registers are ignored for a missing queue and while the queue is live.
    private func updateSelectedQueue(_ change: (inout SplitVirtqueue) -> Void) {
        guard let index = selectedQueue, !queues[index].ready else { return }
        change(&queues[index])
    }

    private func readConfig(_ offset: UInt64, size: Int) -> UInt64 {
        guard [1, 2, 4, 8].contains(size) else { return 0 }
        let config = backend.configSpace
        var value: UInt64 = 0
        for index in 0..<UInt64(size) where offset + index < UInt64(config.count) {
            value |= UInt64(config[Int(offset + index)]) << (8 * index)
        }
        return value
    }

    private func writeStatus(_ value: UInt32, effects: inout DeviceEffects) {
        if value == 0 {
            reset(effects: &effects)
            return
        }
        var newStatus = (value & 0xff & ~VirtioMMIO.statusNeedsReset) | (status & VirtioMMIO.statusNeedsReset)
        let settingFeaturesOK = newStatus & VirtioMMIO.statusFeaturesOK != 0
            && status & VirtioMMIO.statusFeaturesOK == 0
        if settingFeaturesOK {
            // The device refuses (leaves FEATURES_OK clear) a set it did not offer. A set without VERSION_1
            // is accepted, as QEMU 7.2 does on a version-2 transport: some drivers (teaching kernels such as
            // xv6) negotiate only the low 32 feature bits. The device then follows the legacy rules where they
            // differ from version 1, and for the devices here they do not: legacy means guest-endian
            // (RISC-V is little-endian, as version 1 is), virtio-blk's request header and virtio-rng are the
            // same, and the queue layout is given by these registers either way. (virtio-net's header would
            // lose num_buffers without VERSION_1; there is no virtio-net here.)
            let acceptable = driverFeatures & ~offeredFeatures == 0
            if !acceptable { newStatus &= ~VirtioMMIO.statusFeaturesOK }
        }
        let becomingLive = newStatus & VirtioMMIO.statusDriverOK != 0 && status & VirtioMMIO.statusDriverOK == 0
        status = newStatus
        // Buffers made available (and notified) before DRIVER_OK waited; serve them now.
        if becomingLive {
            backend.driverReady(features: negotiatedFeatures)
            for index in queues.indices where queues[index].ready { notify(queue: index, effects: &effects) }
        }
    }

    private func reset(effects: inout DeviceEffects) {
        status = 0
        interruptStatus = 0
        fault = nil
        deviceFeaturesSelect = 0
        driverFeaturesSelect = 0
        driverFeatures = 0
        queueSelect = 0
        queues = Array(repeating: SplitVirtqueue(size: backend.maxQueueSize), count: backend.queueCount)
        backend.reset()
        updateLine(&effects)
    }

    private func setQueueReady(_ ready: Bool, effects: inout DeviceEffects) {
        guard let index = selectedQueue else { return }
        guard ready else {
            queues[index].ready = false
            return
        }
        guard !queues[index].ready else { return }
        if let problem = queues[index].validate(maxSize: backend.maxQueueSize, memory: memory) {
            needsReset(problem, effects: &effects)
            return
        }
        queues[index].ready = true
        queues[index].lastAvailIndex = 0
        queues[index].usedIndex = 0
    }

    private func notify(queue index: Int, effects: inout DeviceEffects) {
        guard index < queues.count, queues[index].ready, status & VirtioMMIO.statusDriverOK != 0,
              status & VirtioMMIO.statusNeedsReset == 0 else { return }
        let indirectAllowed = negotiatedFeatures & VirtioMMIO.featureIndirectDescriptors != 0
        var completed = 0
        defer { backend.takeOutput(into: &effects) }
        do {
            while backend.hasWork(queue: index),
                  let (head, chain) = try queues[index].nextAvailable(memory: memory, indirectAllowed: indirectAllowed) {
                let used = try backend.handle(queue: index, chain: chain, memory: memory)
                try queues[index].putUsed(head: head, length: used, memory: memory)
                completed += 1
            }
        } catch {
            needsReset(error as? VirtqueueFault ?? VirtqueueFault("\(error)"), effects: &effects)
            return
        }
        if completed > 0 && !queues[index].interruptSuppressed(memory: memory) {
            interruptStatus |= VirtioMMIO.interruptUsedBuffer
            updateLine(&effects)
        }
    }

    private func needsReset(_ problem: VirtqueueFault, effects: inout DeviceEffects) {
        fault = problem
        status |= VirtioMMIO.statusNeedsReset
        interruptStatus |= VirtioMMIO.interruptConfigChange
        updateLine(&effects)
    }

    private func updateLine(_ effects: inout DeviceEffects) {
        let newLevel = interruptStatus != 0
        if newLevel != lineLevel {
            lineLevel = newLevel
            effects.sourceLevels.append((source, newLevel))
        }
    }
}

private func replaceLow(_ value: UInt64, _ low: UInt32) -> UInt64 { (value & ~0xffff_ffff) | UInt64(low) }
private func replaceHigh(_ value: UInt64, _ high: UInt32) -> UInt64 { (value & 0xffff_ffff) | UInt64(high) << 32 }
