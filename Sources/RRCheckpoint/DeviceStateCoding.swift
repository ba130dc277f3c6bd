#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto
import RVMachine

// The one place where device models' states meet their messages (proto/rrvm.proto, CHECKPOINT STATE).
// Decoding validates what a message alone can tell (field ranges, the shape of the generator); whether a
// state fits a particular model (its hart and source counts, its queues, its disk) `restoreState` checks.

extension Rrvm_DeviceState {
    /// The message for device `index`'s state.
    public init(device index: Int, _ state: DeviceState) {
        self.init()
        device = UInt32(index)
        switch state {
        case .uart(let s): model = .uart(Rrvm_UartState(s))
        case .plic(let s): model = .plic(Rrvm_PlicState(s))
        case .clint(let s): model = .clint(.with { $0.msip = s.msip; $0.mtimecmp = s.mtimecmp })
        case .rtc(let s): model = .rtc(Rrvm_RtcState(s))
        case .finisher(let s): model = .finisher(Rrvm_FinisherState(s))
        case .virtio(let s): model = .virtio(Rrvm_VirtioState(s))
        }
    }
}

extension DeviceState {
    /// The state a message holds.
    public init(_ m: Rrvm_DeviceState) throws {
        let what = "device \(m.device) state"
        switch m.model {
        case .uart(let s)?: self = .uart(try UART16550.State(s, what))
        case .plic(let s)?: self = .plic(try PLIC.State(s, what))
        case .clint(let s)?: self = .clint(CLINT.State(msip: s.msip, mtimecmp: s.mtimecmp))
        case .rtc(let s)?: self = .rtc(GoldfishRTC.State(s))
        case .finisher(let s)?: self = .finisher(try TestFinisher.State(s, what))
        case .virtio(let s)?: self = .virtio(try VirtioMMIO.State(s, what))
        case nil: throw CheckpointError("\(what): no model state")
        }
    }
}

extension Rrvm_UartState {
    init(_ s: UART16550.State) {
        self.init()
        interruptEnable = UInt32(s.interruptEnable)
        lineControl = UInt32(s.lineControl)
        modemControl = UInt32(s.modemControl)
        scratch = UInt32(s.scratch)
        divisor = UInt32(s.divisor)
        fifoEnabled = s.fifoEnabled
        triggerLevel = UInt32(s.triggerLevel)
        transmitterEmptyInterrupt = s.transmitterEmptyInterrupt
        lineErrors = UInt32(s.lineErrors)
        modemStatusDelta = UInt32(s.modemStatusDelta)
        receiveFifo = Data(s.receiveFifo)
        hostInput = Data(s.hostInput)
        lineLevel = s.lineLevel
    }
}

extension UART16550.State {
    init(_ m: Rrvm_UartState, _ what: String) throws {
        self.init()
        interruptEnable = try narrow(m.interruptEnable, "\(what): IER")
        lineControl = try narrow(m.lineControl, "\(what): LCR")
        modemControl = try narrow(m.modemControl, "\(what): MCR")
        scratch = try narrow(m.scratch, "\(what): SCR")
        divisor = try narrow(m.divisor, "\(what): divisor")
        fifoEnabled = m.fifoEnabled
        triggerLevel = try narrow(m.triggerLevel, "\(what): trigger level")
        transmitterEmptyInterrupt = m.transmitterEmptyInterrupt
        lineErrors = try narrow(m.lineErrors, "\(what): line errors")
        modemStatusDelta = try narrow(m.modemStatusDelta, "\(what): MSR delta")
        receiveFifo = [UInt8](m.receiveFifo)
        hostInput = [UInt8](m.hostInput)
        lineLevel = m.lineLevel
    }
}

extension Rrvm_PlicState {
    init(_ s: PLIC.State) {
        self.init()
        priority = s.priority
        level = s.level
        pending = s.pending
        claimed = s.claimed
        contexts = s.enable.indices.map { context in
            .with {
                $0.enable = s.enable[context]
                $0.threshold = context < s.threshold.count ? s.threshold[context] : 0
                $0.line = context < s.contextLine.count && s.contextLine[context]
            }
        }
    }
}

extension PLIC.State {
    init(_ m: Rrvm_PlicState, _ what: String) throws {
        self.init()
        priority = m.priority
        level = m.level
        pending = m.pending
        claimed = m.claimed
        enable = m.contexts.map(\.enable)
        threshold = m.contexts.map(\.threshold)
        contextLine = m.contexts.map(\.line)
    }
}

extension Rrvm_RtcState {
    init(_ s: GoldfishRTC.State) {
        self.init()
        offsetNs = s.offsetNs
        latchedHigh = s.latchedHigh
        alarmNs = s.alarmNs
        alarmArmed = s.alarmArmed
        irqEnabled = s.irqEnabled
        irqPending = s.irqPending
        lineLevel = s.lineLevel
    }
}

extension GoldfishRTC.State {
    init(_ m: Rrvm_RtcState) {
        self.init()
        offsetNs = m.offsetNs
        latchedHigh = m.latchedHigh
        alarmNs = m.alarmNs
        alarmArmed = m.alarmArmed
        irqEnabled = m.irqEnabled
        irqPending = m.irqPending
        lineLevel = m.lineLevel
    }
}

extension Rrvm_FinisherState {
    init(_ s: TestFinisher.State) {
        self.init()
        switch s.lastExit {
        case nil: lastExit = .none
        case .powerOff(let code)?:
            lastExit = .powerOff
            exitCode = code
        case .reset?: lastExit = .reset
        }
    }
}

extension TestFinisher.State {
    init(_ m: Rrvm_FinisherState, _ what: String) throws {
        switch m.lastExit {
        case .none: self.init(lastExit: nil)
        case .powerOff: self.init(lastExit: .powerOff(code: m.exitCode))
        case .reset: self.init(lastExit: .reset)
        case .UNRECOGNIZED(let value): throw CheckpointError("\(what): unknown exit kind \(value)")
        }
    }
}

extension Rrvm_VirtioState {
    init(_ s: VirtioMMIO.State) {
        self.init()
        status = s.status
        interruptStatus = s.interruptStatus
        if let fault = s.fault { self.fault = fault }
        deviceFeaturesSelect = s.deviceFeaturesSelect
        driverFeaturesSelect = s.driverFeaturesSelect
        driverFeatures = s.driverFeatures
        queueSelect = s.queueSelect
        queues = s.queues.map { queue in
            .with {
                $0.size = UInt32(queue.size)
                $0.ready = queue.ready
                $0.descriptorTable = queue.descriptorTable
                $0.availRing = queue.availRing
                $0.usedRing = queue.usedRing
                $0.lastAvailIndex = UInt32(queue.lastAvailIndex)
                $0.usedIndex = UInt32(queue.usedIndex)
            }
        }
        lineLevel = s.lineLevel
        switch s.backend {
        case .block(let block):
            backend = .block(.with {
                $0.requestCount = block.requestCount
                $0.writeDigest = block.overlay.writeDigest
                // Ascending chunk order: the same state always encodes to the same bytes.
                $0.overlay = block.overlay.chunks.keys.sorted().map { index in
                    .with { $0.index = index; $0.data = Data(block.overlay.chunks[index]!) }
                }
            })
        case .entropy(let rng):
            backend = .rng(.with { $0.bytesProduced = rng.bytesProduced; $0.generator = rng.random.words })
        case .net(let net):
            backend = .net(.with {
                $0.negotiatedFeatures = net.negotiatedFeatures
                $0.receivedFrames = net.receivedFrames
                $0.droppedFrames = net.droppedFrames
                $0.sentFrames = net.sentFrames
                $0.pending = net.pending.map { Data($0) }
                $0.receiveDigest = net.receiveDigest
                $0.sendDigest = net.sendDigest
            })
        }
    }
}

extension VirtioMMIO.State {
    init(_ m: Rrvm_VirtioState, _ what: String) throws {
        let backend: VirtioBackendState
        switch m.backend {
        case .block(let block)?:
            var chunks: [UInt64: [UInt8]] = [:]
            for chunk in block.overlay {
                guard chunks.updateValue([UInt8](chunk.data), forKey: chunk.index) == nil else {
                    throw CheckpointError("\(what): disk chunk \(chunk.index) appears twice")
                }
            }
            backend = .block(VirtioBlock.State(
                requestCount: block.requestCount,
                overlay: DiskImage.Overlay(chunks: chunks, writeDigest: block.writeDigest)))
        case .rng(let rng)?:
            guard let random = DeterministicRandom(words: rng.generator) else {
                throw CheckpointError("\(what): the generator needs four state words, not all zero")
            }
            backend = .entropy(VirtioRNG.State(bytesProduced: rng.bytesProduced, random: random))
        case .net(let net)?:
            backend = .net(VirtioNet.State(
                negotiatedFeatures: net.negotiatedFeatures, receivedFrames: net.receivedFrames,
                droppedFrames: net.droppedFrames, sentFrames: net.sentFrames, pending: net.pending.map { [UInt8]($0) },
                receiveDigest: net.receiveDigest, sendDigest: net.sendDigest))
        case nil:
            throw CheckpointError("\(what): no virtio backend state")
        }
        self.init(backend: backend)
        status = m.status
        interruptStatus = m.interruptStatus
        fault = m.hasFault ? m.fault : nil
        deviceFeaturesSelect = m.deviceFeaturesSelect
        driverFeaturesSelect = m.driverFeaturesSelect
        driverFeatures = m.driverFeatures
        queueSelect = m.queueSelect
        queues = try m.queues.map { queue in
            var restored = SplitVirtqueue(size: try narrow(queue.size, "\(what): queue size"))
            restored.ready = queue.ready
            restored.descriptorTable = queue.descriptorTable
            restored.availRing = queue.availRing
            restored.usedRing = queue.usedRing
            restored.lastAvailIndex = try narrow(queue.lastAvailIndex, "\(what): last available index")
            restored.usedIndex = try narrow(queue.usedIndex, "\(what): used index")
            return restored
        }
        lineLevel = m.lineLevel
    }
}
