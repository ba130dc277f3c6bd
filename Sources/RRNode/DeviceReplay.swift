#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RRProto
import RRRoles
import RRSequencer
import RVMachine

/// `rrvm-device --replay LOG --device N`: one device process on its own, fed the operations a recording
/// sent it, each answer compared with the recorded one. Its inputs are exactly those logged messages, so
/// this re-runs the device as it ran, under a debugger if wanted, without the rest of the cluster.
/// It needs a full-detail log (or a full stream from G=0 written by `rrctl replay --full-stream`), read as
/// it goes. Devices that read guest memory (virtio) cannot: the log does not hold the memory.
enum DeviceReplay {
    /// Exit status: 0 all answers as recorded, ReplayExit.diverged at the first difference, 1 if it
    /// cannot run (no such device, a DMA device, a compact or unreadable log).
    static func run(logPath: String, index: Int) -> Int32 {
        do {
            return try replay(LogReader(path: logPath), index: index)
        } catch {
            report("rrvm-device", "\(error)")
            return 1
        }
    }

    private static func replay(_ log: LogReader, index: Int) throws -> Int32 {
        let config = log.header.config
        try MachineLimits.check(recorded: config)
        guard log.isFull else {
            throw LogError("'\(log.name)' is a compact log: it holds no device messages. Record with --log-detail full, "
                           + "or write them with rrctl replay \(log.name) --full-stream FILE")
        }
        guard !log.header.excerpt || log.header.excerptFrom == 0 else {
            throw LogError("'\(log.name)' holds the messages from G=\(log.header.excerptFrom) on: replaying a device "
                           + "needs them from G=0")
        }
        guard index < config.devices.count else {
            throw LogError("the recorded machine has \(config.devices.count) devices: no device \(index)")
        }
        let endpoint = Endpoint.device(index)
        let name = Endpoint.describe(endpoint, config: config)
        guard !config.devices[index].dma else {
            throw LogError("\(name) reads and writes guest memory, which a log does not hold: "
                           + "replay the whole run (rrctl replay \(log.name))")
        }
        let runner: DeviceRunner
        do {
            runner = DeviceRunner(model: try DeviceCatalog.make(spec: config.devices[index], config: config, memory: nil),
                                  icountShift: config.icountShift)
        } catch {
            throw LogError("\(name): \(error)")
        }
        // Answers produced, waiting for the recorded answer they must equal (writes sent ahead of their
        // turn are answered before the log lists their answers).
        var answers: [(operation: Rrvm_Envelope, done: Rrvm_DeviceDone)] = []
        var matched = 0
        while let entry = try log.next() {
            guard case .event(let event)? = entry.record.body else { continue }
            if event.to == endpoint && DeviceRunner.isOperation(event) {
                switch runner.apply(event) {
                case .done(let done):
                    // A foretold write's answer is not logged: the recording checked it against its foretelling.
                    if !event.deviceAccess.foretold { answers.append((event, done)) }
                case .asForetold, .shutdown, .checkpoint: break
                case .failure(let reason): throw LogError("\(name) at G=\(event.g): \(reason)")
                }
            } else if event.from == endpoint, case .deviceDone(let recorded)? = event.body {
                guard !answers.isEmpty else {
                    report("rrvm-device", "the log records an answer from \(name) at G=\(event.g) (byte "
                           + "\(entry.offset)) to no operation")
                    return ReplayExit.diverged
                }
                let (operation, found) = answers.removeFirst()
                guard found == recorded else {
                    report("rrvm-device", "\(name) diverged at G=\(event.g) (record #\(event.seq), byte "
                           + "\(entry.offset)) answering \(operation.kindName) "
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
