import Foundation
import RRBus
import RRProto
import RVMachine

/// One device process: applies each message the sequencer sends to its device model and answers with
/// exactly one DeviceDone carrying the result and everything the device caused elsewhere.
final class DeviceNode {
    private let loop = EventLoop()
    private let runDirectory: RunDirectory
    private let index: Int
    private var connection: Connection?
    private var ram: SharedRAM?
    private var model: DeviceModel!
    private var icountShift: UInt64 = 0
    private var exitCode: Int32 = 0
    private var stopped = false
    private var lastMessageAt: UInt64 = 0

    init(runDirectory: RunDirectory, index: Int) {
        self.runDirectory = runDirectory
        self.index = index
    }

    func run() -> Int32 {
        joinWithRetry(loop: loop, runDirectory: runDirectory, role: .device, index: index, name: "device \(index)") {
            [unowned self] result in
            switch result {
            case .failure(let error):
                self.stop(1, "device \(self.index) cannot join the cluster: \(error)")
            case .success(let (connection, welcome)):
                do {
                    try self.setUp(welcome.config)
                } catch {
                    return self.stop(1, "device \(self.index): \(error)")
                }
                self.connection = connection
                connection.name = "sequencer"
                connection.onEnvelope { [unowned self] envelope in self.handle(envelope) }
                connection.onClose = { [unowned self] reason in
                    self.stop(1, "device \(self.index) lost the sequencer: \(reason)")
                }
            }
        }
        // Operations come in bursts (a line of console output, a disk request's notifications): poll for
        // a moment after each before sleeping, so that the next one needs no wake-up.
        // RRVM_DEVICE_LINGER_US sets the moment (0: sleep at once).
        let lingerNanoseconds = (UInt64(ProcessInfo.processInfo.environment["RRVM_DEVICE_LINGER_US"] ?? "") ?? 200) * 1000
        while !stopped {
            if EventLoop.monotonicNanoseconds() &- lastMessageAt < lingerNanoseconds {
                loop.poll()
            } else if !loop.runOnce() {
                break
            }
        }
        return exitCode
    }

    private func setUp(_ config: Rrvm_MachineConfig) throws {
        let spec = config.devices[index]
        icountShift = UInt64(config.icountShift)
        var memory: GuestMemory?
        if spec.dma {
            let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
            self.ram = ram
            memory = GuestMemory(base: ram.base, guestBase: 0x8000_0000, size: config.ramSize)
        }
        model = try DeviceCatalog.make(spec: spec, config: config, memory: memory)
    }

    private func handle(_ envelope: Rrvm_Envelope) {
        lastMessageAt = EventLoop.monotonicNanoseconds()
        let clock = DeviceClock(globalCount: envelope.g, mtime: envelope.g >> icountShift)
        var effects = DeviceEffects()
        var done = Rrvm_DeviceDone()
        switch envelope.body {
        case .deviceAccess(let access)?:
            let size = Int(access.size)
            if access.write {
                done.fault = !model.write(offset: access.offset, size: size, value: access.value, clock: clock,
                                          effects: &effects)
            } else if let value = model.read(offset: access.offset, size: size, clock: clock, effects: &effects) {
                done.value = value
            } else {
                done.fault = true
            }
        case .sourceLevel(let level)?:
            guard let plic = model as? PLIC else { return stop(1, "device \(index): a source level sent to \(model.name)") }
            plic.setSource(level.source, level: level.level, effects: &effects)
        case .hostInput(let input)?:
            guard let uart = model as? UART16550 else { return stop(1, "device \(index): console input sent to \(model.name)") }
            uart.receive([UInt8](input.console), clock: clock, effects: &effects)
        case .deviceTick?:
            model.tick(clock: clock, effects: &effects)
        case .shutdown?:
            return stop(0, nil)
        default:
            return stop(1, "device \(index): unexpected \(envelope.kindName) from the sequencer")
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
        switch effects.exit {
        case .powerOff(let code)?:
            done.exit = true
            done.exitCode = code
        case .reset?:
            done.reset = true
        case nil:
            break
        }
        done.stableReads = model.stableReads().map { read in
            .with {
                $0.offset = read.offset
                $0.size = UInt32(read.size)
                $0.value = read.value
                $0.keptByWritesTo = read.keptByWritesTo
            }
        }
        var reply = Rrvm_Envelope()
        reply.g = envelope.g
        reply.body = .deviceDone(done)
        connection?.send(reply)
    }

    private func stop(_ code: Int32, _ message: String?) {
        if let message { report("rrvm-device", message) }
        exitCode = code
        stopped = true
        connection?.onClose = nil
        connection?.close()
        loop.stop()
    }
}

extension InterruptLine {
    /// The mip bit this line drives.
    var mipBit: UInt32 {
        switch self {
        case .machineSoftware: return 3
        case .machineTimer: return 7
        case .supervisorExternal: return 9
        case .machineExternal: return 11
        }
    }
}
