#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRCheckpoint
import RRProto
import RVMachine

/// A device model driven by the sequencer's messages: each operation yields exactly one DeviceDone,
/// which depends on nothing but the operations so far. The device process runs one on the bus;
/// `rrvm-device --replay` feeds one the operations a log recorded.
public final class DeviceRunner {
    public let model: DeviceModel
    /// The model when it is the UART: its answers say how much console input it holds (DeviceDone.input_backlog).
    private let uart: UART16550?
    private let icountShift: UInt64
    /// Where the frames the guest sends go (the network card's backend); nil drops them, as replay does.
    public var transmit: (([UInt8]) -> Void)?

    public enum Outcome {
        case done(Rrvm_DeviceDone)
        /// A foretold write (DeviceAccess.foretold) answered as foretold: its answer is owed, and goes with the
        /// others' in one (`takeForetoldAnswers`), which the caller sends before any other answer.
        case asForetold
        /// The answer to a checkpoint message (DeviceState, StateRestored or StateRefused).
        case checkpoint(Rrvm_Envelope.OneOf_Body)
        case shutdown
        case failure(String)
    }

    /// Foretold writes answered as foretold (`Outcome.asForetold`) whose answer has not been taken yet.
    public private(set) var foretoldAnswersOwed: UInt64 = 0

    public init(model: DeviceModel, icountShift: UInt32) {
        self.model = model
        uart = model as? UART16550
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
        // What a foretold write (DeviceAccess.foretold) foretells, when the declaration declares its register (see
        // `foretell`), and whether the operation changed the declaration on the bus (nil: not looked at yet).
        var foretold: ForetoldChange?
        var declarationChanged: Bool?
        switch body {
        case .deviceAccess(let access):
            let size = Int(access.size)
            if access.foretold { foretold = foretell(access) }
            if access.write {
                let written = model.write(offset: access.offset, size: size, value: access.value, clock: clock,
                                          effects: &effects)
                if let foretold, written {
                    // Most foretold writes (a hart's IPIs and timer programming) end here, no answer built.
                    declarationChanged = updateDeclarationOnTheBus()
                    if declarationChanged == false && ForetoldChange(effects) == foretold {
                        foretoldAnswersOwed += 1
                        return .asForetold
                    }
                }
                done.fault = !written
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
            guard let uart else { return .failure("console input sent to \(model.name)") }
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
        if !effects.sourceLevels.isEmpty {
            done.sourceLevels = effects.sourceLevels.map { level in .with { $0.source = level.source; $0.level = level.level } }
        }
        if !effects.hartLines.isEmpty {
            done.hartLines = effects.hartLines.map { line in
                .with { $0.hart = UInt32(line.hart); $0.mipBit = line.line.mipBit; $0.level = line.level }
            }
        }
        if !effects.timerCompares.isEmpty {
            done.timerCompares = effects.timerCompares.map { compare in
                .with { $0.hart = UInt32(compare.hart); $0.mtimecmp = compare.mtimecmp }
            }
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
        if let uart { done.inputBacklog = UInt32(clamping: uart.pendingInputCount) }
        // The sequencer already holds a foretold declaration: the answer leaves it out, unless the model's differs.
        if !(declarationChanged ?? updateDeclarationOnTheBus()) && foretold != nil { return .done(done) }
        done.stableReads = busDeclaration
        return .done(done)
    }

    /// The answer to the foretold writes answered as foretold since the last call (DeviceDone.foretold_answers), or nil
    /// if there were none: it goes to the sequencer before any other answer.
    public func takeForetoldAnswers() -> Rrvm_DeviceDone? {
        guard foretoldAnswersOwed != 0 else { return nil }
        var done = Rrvm_DeviceDone()
        done.foretoldAnswers = foretoldAnswersOwed
        done.stateHash = model.stateHash()
        foretoldAnswersOwed = 0
        return done
    }

    /// The model's declaration as it went on the bus last. It is kept up to date in place, entry by entry and field by
    /// field (most operations leave it as it was, and most changes set one register): building it anew, and comparing
    /// it with a foretold one, had cost more than the rest of a foretold write.
    private var busDeclaration: [Rrvm_StableRead] = []
    /// What `busDeclaration` was last brought up to date with: the model's declaration version, or for a model that
    /// numbers none, its declaration (then the runner holds on to it; a model that numbers its declarations changes
    /// them in place, and the runner holds no reference to its arrays). nil: to be compared with the model's (not built
    /// yet, or a foretold write set a register in it).
    private var busDeclarationSource: (version: UInt64?, declaration: [StableRead])?

    /// Brings `busDeclaration` up to date with the model's declaration; returns whether that changed it.
    @discardableResult
    private func updateDeclarationOnTheBus() -> Bool {
        let version = model.declarationVersion
        if let version, let source = busDeclarationSource, source.version == version { return false }
        let declaration = model.stableReads()
        if version == nil, let source = busDeclarationSource, source.version == nil, source.declaration == declaration {
            return false
        }
        busDeclarationSource = (version, version == nil ? declaration : [])
        guard busDeclaration.count == declaration.count else {
            busDeclaration = declaration.map(Rrvm_StableRead.init)
            return true
        }
        // (The model's entries are read in place: its array's subscript would copy each, retaining its arrays.)
        return declaration.withUnsafeBufferPointer { reads in
            busDeclaration.withUnsafeMutableBufferPointer { entries in
                var changed = false
                for index in reads.indices where entries[index].update(from: reads[index]) { changed = true }
                return changed
            }
        }
    }

    /// For a foretold write: sets the register it declares set by writes (one of an array too) in the declaration on
    /// the bus, as the hart and the sequencer did. Returns what the write foretells, or nil if there is no such
    /// register (then the write foretells nothing).
    private func foretell(_ write: Rrvm_DeviceAccess) -> ForetoldChange? {
        updateDeclarationOnTheBus()
        guard write.write, let (entry, index) = busDeclaration.register(offset: write.offset, size: write.size),
              busDeclaration[entry].setByWriteMask != 0 else { return nil }
        let change = ForetoldChange(writing: write.value, to: busDeclaration.declaredRegister(at: (entry, index)))
        busDeclaration[entry].setRegisterValue(write.value & busDeclaration[entry].setByWriteMask, at: index)
        busDeclarationSource = nil
        return change
    }
}

extension ForetoldChange {
    /// What `effects` hold if they are a foretold write's (nil: more, or more than one change).
    init?(_ effects: DeviceEffects) {
        guard effects.sourceLevels.isEmpty, effects.wakeAt == nil, effects.console.isEmpty, effects.exit == nil,
              effects.frames.isEmpty else { return nil }
        switch (effects.hartLines.count, effects.timerCompares.count) {
        case (0, 0):
            self = .none
        case (0, 1):
            let compare = effects.timerCompares[0]
            self = .timerCompare(hart: UInt32(compare.hart), mtimecmp: compare.mtimecmp)
        case (1, 0):
            let line = effects.hartLines[0]
            self = .line(hart: UInt32(line.hart), mipBit: line.line.mipBit, level: line.level)
        default:
            return nil
        }
    }
}

extension Rrvm_StableRead {
    /// A model's declared register (or array of them) as it goes on the bus.
    init(_ read: StableRead) {
        self.init()
        update(from: read)
    }

    /// Makes this entry `read` as it goes on the bus; returns whether that changed it. An array of the same length is
    /// copied into this entry's own: sharing the model's would make the model copy it on its next change. (Inlined: a
    /// call would take a copy of `read`, retaining and releasing its arrays, where the caller reads it in place.)
    @discardableResult @inline(__always)
    mutating func update(from read: StableRead) -> Bool {
        var changed = false
        func set<Field: Equatable>(_ field: inout Field, _ value: Field) {
            guard field != value else { return }
            field = value
            changed = true
        }
        func set(_ field: inout [UInt64], _ values: [UInt64]) {
            guard field != values else { return }
            field.replaceSubrange(field.indices, with: values)
            changed = true
        }
        set(&offset, read.offset)
        set(&size, UInt32(read.size))
        set(&value, read.value)
        set(&keptByWritesTo, read.keptByWritesTo)
        set(&outputWritesTo, read.outputWritesTo)
        set(&setByWriteMask, read.setByWriteMask)
        set(&moreValues, read.moreValues)
        set(&stride, read.stride)
        set(&lineHart, read.line.map { UInt32($0.hart) } ?? 0)
        set(&lineMipBit, read.line?.mipBit ?? 0)
        set(&lineIsTimerCompare, read.line != nil && read.lineIsTimerCompare)
        return changed
    }
}
