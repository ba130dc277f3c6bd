import Foundation
import RRCheckpoint
import RRProto
import RVMachine

/// A device model driven by the sequencer's messages: each operation yields exactly one DeviceDone,
/// which depends on nothing but the operations so far. The device process runs one on the bus;
/// `rrvm-device --replay` feeds one the operations a log recorded.
public final class DeviceRunner {
    public let model: DeviceModel
    private let icountShift: UInt64
    /// Where the frames the guest sends go (the network card's backend); nil drops them, as replay does.
    public var transmit: (([UInt8]) -> Void)?

    public enum Outcome {
        case done(Rrvm_DeviceDone)
        /// The answer to a checkpoint message (DeviceState, StateRestored or StateRefused).
        case checkpoint(Rrvm_Envelope.OneOf_Body)
        case shutdown
        case failure(String)
    }

    public init(model: DeviceModel, icountShift: UInt32) {
        self.model = model
        self.icountShift = UInt64(icountShift)
    }

    /// Whether the sequencer sends `envelope` to a device as an operation (the others it logs are its own
    /// answers to reads a hart or the cache served).
    public static func isOperation(_ envelope: Rrvm_Envelope) -> Bool {
        switch envelope.body {
        case .deviceAccess(let access)?: return !access.cached
        case .sourceLevel?, .hostInput?, .deviceTick?: return true
        default: return false
        }
    }

    public func apply(_ envelope: Rrvm_Envelope) -> Outcome {
        guard let body = envelope.body else { return .failure("an envelope without a body from the sequencer") }
        return apply(EnvelopeHeader(envelope), body)
    }

    /// As `apply(_:)` for the envelope of `header` and `body` (see `Connection.onMessage`).
    public func apply(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body) -> Outcome {
        let clock = DeviceClock(globalCount: header.g, mtime: header.g >> icountShift)
        var effects = DeviceEffects()
        var done = Rrvm_DeviceDone()
        // For a foretold write (DeviceAccess.foretold): the declaration it foretells.
        var foretoldDeclaration: [Rrvm_StableRead]?
        switch body {
        case .deviceAccess(let access):
            let size = Int(access.size)
            if access.foretold { foretoldDeclaration = Self.declaration(declarationOnTheBus(), after: access) }
            if access.write {
                done.fault = !model.write(offset: access.offset, size: size, value: access.value, clock: clock,
                                          effects: &effects)
            } else if let value = model.read(offset: access.offset, size: size, clock: clock, effects: &effects) {
                done.value = value
            } else {
                done.fault = true
            }
        case .sourceLevel(let level):
            guard let plic = model as? PLIC else { return .failure("a source level sent to \(model.name)") }
            plic.setSource(level.source, level: level.level, effects: &effects)
        case .hostInput(let input) where !input.frame.isEmpty:
            guard let card = model as? VirtioMMIO, let net = card.backend as? VirtioNet else {
                return .failure("a network frame sent to \(model.name)")
            }
            if net.receive(frame: [UInt8](input.frame)) {
                card.serviceQueue(VirtioNet.receiveQueue, effects: &effects)
            }
        case .hostInput(let input):
            guard let uart = model as? UART16550 else { return .failure("console input sent to \(model.name)") }
            uart.receive([UInt8](input.console), clock: clock, effects: &effects)
        case .deviceTick:
            model.tick(clock: clock, effects: &effects)
        case .shutdown:
            return .shutdown
        case .saveState:
            do {
                return .checkpoint(.deviceState(Rrvm_DeviceState(device: Endpoint.deviceIndex(header.to), try model.saveState())))
            } catch {
                return .checkpoint(.stateRefused(.with { $0.reason = "\(model.name): \(error)" }))
            }
        case .restoreState(let restore):
            do {
                guard case .device(let state)? = restore.state else { throw CheckpointError("not a device's state") }
                try model.restoreState(try DeviceState(state))
                return .checkpoint(.stateRestored(Rrvm_StateRestored()))
            } catch {
                return .checkpoint(.stateRefused(.with { $0.reason = "\(model.name): \(error)" }))
            }
        default:
            return .failure("unexpected \(header.envelope(body).kindName) from the sequencer")
        }
        done.sourceLevels = effects.sourceLevels.map { level in .with { $0.source = level.source; $0.level = level.level } }
        done.hartLines = effects.hartLines.map { line in
            .with { $0.hart = UInt32(line.hart); $0.mipBit = line.line.mipBit; $0.level = line.level }
        }
        done.timerCompares = effects.timerCompares.map { compare in
            .with { $0.hart = UInt32(compare.hart); $0.mtimecmp = compare.mtimecmp }
        }
        if let wakeAt = effects.wakeAt {
            done.wantsWake = true
            done.wakeAt = wakeAt
        }
        if !effects.console.isEmpty { done.console = Data(effects.console) }
        if let transmit { effects.frames.forEach(transmit) }
        switch effects.exit {
        case .powerOff(let code)?:
            done.exit = true
            done.exitCode = code
        case .reset?:
            done.reset = true
        case nil:
            break
        }
        // Every answer carries the device's state hash: the sequencer keeps the last one for the log's checks.
        done.stateHash = model.stateHash()
        let declaration = declarationOnTheBus()
        // The sequencer already holds a foretold declaration: the answer leaves it out (it is checked here).
        if let foretoldDeclaration, declaration == foretoldDeclaration { return .done(done) }
        done.stableReads = declaration
        return .done(done)
    }

    /// The model's declaration when last asked (or its version, for a model that numbers them: then the runner holds
    /// no reference to the model's arrays, which the model changes in place), and as it went on the bus: most
    /// operations leave it as it was, and a foretold write asks for it before and after.
    private var lastDeclaration: (model: [StableRead], version: UInt64?, bus: [Rrvm_StableRead])?

    /// The model's declaration as it goes on the bus.
    private func declarationOnTheBus() -> [Rrvm_StableRead] {
        let version = model.declarationVersion
        if let version, let last = lastDeclaration, last.version == version { return last.bus }
        let declaration = model.stableReads()
        if version == nil, let last = lastDeclaration, last.version == nil, last.model == declaration { return last.bus }
        let bus = declaration.map { read in
            Rrvm_StableRead.with {
                $0.offset = read.offset
                $0.size = UInt32(read.size)
                $0.value = read.value
                $0.keptByWritesTo = read.keptByWritesTo
                $0.outputWritesTo = read.outputWritesTo
                $0.setByWriteMask = read.setByWriteMask
                $0.moreValues = read.moreValues
                $0.stride = read.stride
                if let line = read.line {
                    $0.lineHart = UInt32(line.hart)
                    $0.lineMipBit = line.mipBit
                    $0.lineIsTimerCompare = read.lineIsTimerCompare
                }
            }
        }
        lastDeclaration = (version == nil ? declaration : [], version, bus)
        return bus
    }

    /// `declaration` once `write` has set the register it declares set by writes, one of an array too (nil if it
    /// declares none there).
    static func declaration(_ declaration: [Rrvm_StableRead], after write: Rrvm_DeviceAccess) -> [Rrvm_StableRead]? {
        guard write.write, let (entry, index) = declaration.register(offset: write.offset, size: write.size),
              declaration[entry].setByWriteMask != 0 else { return nil }
        var after = declaration
        after[entry].setRegisterValue(write.value & after[entry].setByWriteMask, at: index)
        return after
    }
}

