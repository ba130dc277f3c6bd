#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRNet
import RRProto
import RRRoles
import RVMachine
import RVPlatform

/// One device process: applies each message the sequencer sends to its device model and answers with
/// exactly one DeviceDone carrying the result and everything the device caused elsewhere.
final class DeviceNode {
    private let loop = EventLoop()
    private let runDirectory: RunDirectory
    private let index: Int
    private var connection: Connection?
    private var ram: SharedRAM?
    private var runner: DeviceRunner!
    private var network: UserNetwork?
    private var exitCode: Int32 = 0
    private var stopped = false
    private var lastMessageAt: UInt64 = 0
    /// The G of the last foretold write answered as foretold: that of their answer.
    private var lastForetoldG: UInt64 = 0

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
                HostCPU.settle()
                HostCPU.useShortSlices()
                self.connection = connection
                connection.name = "sequencer"
                connection.onMessage { [unowned self] header, body in self.handle(header, body) }
                // Foretold writes answered as foretold are answered together once the messages that came are handled.
                connection.onDrained = { [unowned self] in self.answerForetoldWrites() }
                connection.onClose = { [unowned self] reason in
                    self.stop(1, isSupervised ? nil : "device \(self.index) lost the sequencer: \(reason)")
                }
                do {
                    try self.startNetwork(welcome.config)
                } catch {
                    self.stop(1, "device \(self.index): \(error)")
                }
            }
        }
        // Operations come in bursts (a line of console output, a disk request's notifications): poll for
        // a moment after each before sleeping, so that the next one needs no wake-up.
        // RRVM_DEVICE_LINGER_US sets the moment (0: sleep at once).
        // Kept to one host CPU with the rest of the cluster (`HostCPU`), it sleeps at once: polling would only
        // keep the CPU from the process with the next message.
        loop.defersDoorbells = HostCPU.isAlone
        let lingerNanoseconds = loop.defersDoorbells ? 0
            : (UInt64(ProcessInfo.processInfo.environment["RRVM_DEVICE_LINGER_US"] ?? "") ?? 200) * 1000
        loop.run(pollingWhile: { EventLoop.monotonicNanoseconds() &- lastMessageAt < lingerNanoseconds },
                 until: { stopped })
        return exitCode
    }

    private func setUp(_ config: Rrvm_MachineConfig) throws {
        let spec = config.devices[index]
        var memory: GuestMemory?
        if spec.dma {
            let ram = try SharedRAM.open(path: config.ramPath, size: Int(config.ramSize))
            self.ram = ram
            memory = GuestMemory(base: ram.base, guestBase: MemoryMap.ramBase, size: config.ramSize)
        }
        runner = DeviceRunner(model: try DeviceCatalog.make(spec: spec, config: config, memory: memory),
                              icountShift: config.icountShift)
    }

    /// The network card's backend, in live runs: what libslirp receives goes to the sequencer as host input
    /// (which stamps, logs and hands it back at its G), what the guest sends goes to libslirp. In replay no
    /// backend starts: the frames come from the log, and those the guest sends are dropped.
    private func startNetwork(_ config: Rrvm_MachineConfig) throws {
        let spec = config.devices[index]
        guard spec.kind == .virtioNet, !config.replay, case .user(let options) = try NetOption(parsing: spec.net) else {
            return
        }
        let network = try UserNetwork(loop: loop, options: options) { [unowned self] frame in
            var envelope = Rrvm_Envelope()
            envelope.body = .hostInput(.with { $0.frame = Data(frame) })
            self.connection?.send(envelope)
        }
        self.network = network
        runner.transmit = { [weak self] frame in self?.network?.send(frame: frame) }
    }

    private func handle(_ header: EnvelopeHeader, _ body: Rrvm_Envelope.OneOf_Body) {
        lastMessageAt = EventLoop.monotonicNanoseconds()
        // An operation of a recording's past, re-executed under a debugger: its frames left for the host then.
        let transmit = runner.transmit
        if header.past { runner.transmit = nil }
        defer { runner.transmit = transmit }
        switch runner.apply(header, body) {
        case .asForetold:
            lastForetoldG = header.g
        case .done(let done):
            answerForetoldWrites()
            answer(g: header.g, .deviceDone(done))
        case .checkpoint(let body):
            answerForetoldWrites()
            answer(g: header.g, body)
        case .shutdown:
            stop(0, nil)
        case .failure(let reason):
            stop(1, "device \(index): \(reason)")
        }
    }

    /// Sends the answer the runner owes for the foretold writes it answered as foretold, if any (in order: before any
    /// later answer).
    private func answerForetoldWrites() {
        if let done = runner.takeForetoldAnswers() { answer(g: lastForetoldG, .deviceDone(done)) }
    }

    private func answer(g: UInt64, _ body: Rrvm_Envelope.OneOf_Body) {
        connection?.send(EnvelopeHeader(g: g), body)
    }

    private func stop(_ code: Int32, _ message: String?) {
        if let message { report("rrvm-device", message) }
        exitCode = code
        stopped = true
        network?.shutDown()
        network = nil
        connection?.onClose = nil
        connection?.close()
        loop.stop()
    }
}
