import Foundation
import RRBus
import RRProto
import RRSequencer
import RVMachine

/// `rrvm-device --replay LOG --device N`: one device process on its own, fed the operations a recording
/// sent it, each answer compared with the recorded one. Its inputs are exactly those logged messages, so
/// this re-runs the device as it ran, under a debugger if wanted, without the rest of the cluster.
/// Devices that read guest memory (virtio) cannot: the log does not hold the memory.
enum DeviceReplay {
    /// Exit status: 0 all answers as recorded, ReplayExit.diverged at the first difference, 1 if it
    /// cannot run (no such device, a DMA device, an unreadable log).
    static func run(logPath: String, index: Int) -> Int32 {
        let log: LogFile
        do { log = try LogFile(path: logPath) } catch {
            report("rrvm-device", "\(error)")
            return 1
        }
        let config = log.header.config
        do { try MachineLimits.check(recorded: config) } catch {
            report("rrvm-device", "\(error)")
            return 1
        }
        guard index < config.devices.count else {
            report("rrvm-device", "the recorded machine has \(config.devices.count) devices: no device \(index)")
            return 1
        }
        let endpoint = Endpoint.device(index)
        let name = Endpoint.describe(endpoint, config: config)
        guard !config.devices[index].dma else {
            report("rrvm-device", "\(name) reads and writes guest memory, which a log does not hold: "
                   + "replay the whole run (rrctl replay \(logPath))")
            return 1
        }
        let runner: DeviceRunner
        do {
            runner = DeviceRunner(model: try DeviceCatalog.make(spec: config.devices[index], config: config, memory: nil),
                                  icountShift: config.icountShift)
        } catch {
            report("rrvm-device", "\(name): \(error)")
            return 1
        }
        // Answers produced, waiting for the recorded answer they must equal (writes sent ahead of their
        // turn are answered before the log lists their answers).
        var answers: [(operation: Rrvm_Envelope, done: Rrvm_DeviceDone)] = []
        var matched = 0
        for (position, record) in log.records.enumerated() {
            guard case .event(let event)? = record.body else { continue }
            if event.to == endpoint && DeviceRunner.isOperation(event) {
                switch runner.apply(event) {
                case .done(let done): answers.append((event, done))
                case .shutdown: break
                case .failure(let reason):
                    report("rrvm-device", "\(name) at G=\(event.g): \(reason)")
                    return 1
                }
            } else if event.from == endpoint, case .deviceDone(let recorded)? = event.body {
                guard !answers.isEmpty else {
                    report("rrvm-device", "the log records an answer from \(name) at G=\(event.g) (byte "
                           + "\(log.offsets[position])) to no operation")
                    return ReplayExit.diverged
                }
                let (operation, found) = answers.removeFirst()
                guard found == recorded else {
                    report("rrvm-device", "\(name) diverged at G=\(event.g) (record #\(event.seq), byte "
                           + "\(log.offsets[position])) answering \(operation.kindName) "
                           + "\(operation.deviceAccess.offset): recorded \(recorded.textFormatString()) but now "
                           + "\(found.textFormatString())")
                    return ReplayExit.diverged
                }
                matched += 1
            }
        }
        print("\(name): \(matched) operations replayed, every answer as recorded")
        return 0
    }
}
