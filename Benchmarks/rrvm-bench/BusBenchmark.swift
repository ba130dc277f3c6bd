import Foundation
import RRBus
import RRNode
import RRProto
import RRRoles
import RVMachine

/// Measures the MMIO path between real processes: this process joins as hart 0 of a cluster whose
/// sequencer and UART device are the real rrvm-sequencer and rrvm-device, then reads the UART's scratch
/// register `count` times (hart -> sequencer -> device -> sequencer -> hart), then its line status
/// register, which the sequencer answers from the UART's stable-read list (hart -> sequencer -> hart),
/// and floods the hub with messages addressed back to itself to measure throughput. With `sharedLanes`
/// false every process keeps its frames on the sockets (RRVM_SHARED_LANES=0), for comparison.
func runBusBenchmark(binDirectory: String, count: Int, sharedLanes: Bool) throws -> String {
    setenv("RRVM_SHARED_LANES", sharedLanes ? "1" : "0", 1)  // inherited by the sequencer and the device
    let loop = EventLoop()
    let directory = try RunDirectory.create()
    defer { directory.remove() }
    var config = Rrvm_MachineConfig()
    config.harts = 1
    config.ramSize = 1 << 20
    config.quantum = UInt64(count) * 10
    config.icountShift = 4
    config.devices = DeviceCatalog.specs(for: MachineDescription(devices: [.uart]))
    try directory.writeConfig(config)

    let arguments = ["--run-dir", directory.path, "--parent-pid", String(getpid())]
    var children: [ChildProcess] = []
    children.append(try ChildProcess(loop: loop, name: "sequencer", path: binDirectory + "/rrvm-sequencer",
                                     arguments: arguments) { _ in })
    children.append(try ChildProcess(loop: loop, name: "uart", path: binDirectory + "/rrvm-device",
                                     arguments: arguments + ["--device", "0", "--kind", "uart"]) { _ in })
    defer { children.forEach { $0.send(signal: SIGKILL) } }

    var latencies: [UInt64] = []
    latencies.reserveCapacity(count)
    var floodSent = 0
    var floodReceived = 0
    let floodCount = count * 4
    var floodStart: UInt64 = 0
    var floodEnd: UInt64 = 0
    var failure: String?
    var requestStart: UInt64 = 0

    var cachedLatencies: [UInt64] = []
    func readLineStatus(_ connection: Connection) {
        // First the scratch register (offset 7, always a device round trip), then LSR (offset 5, cached).
        let register: UInt64 = latencies.count < count ? 7 : 5
        var envelope = Rrvm_Envelope()
        envelope.body = .mmioRequest(.with {
            $0.address = 0x1000_0000 + register
            $0.size = 1
            $0.executed = UInt64(latencies.count + cachedLatencies.count)
        })
        requestStart = EventLoop.monotonicNanoseconds()
        connection.send(envelope)
    }

    func flood(_ connection: Connection) {
        floodStart = EventLoop.monotonicNanoseconds()
        // Keep a bounded window in flight so the measurement is of the hub, not of queue growth.
        while floodSent < floodCount && floodSent - floodReceived < 256 { sendEcho(connection) }
    }

    func sendEcho(_ connection: Connection) {
        var envelope = Rrvm_Envelope()
        envelope.body = .echo(.with { $0.id = UInt64(floodSent); $0.to = Endpoint.hart(0); $0.payload = Data(count: 8) })
        connection.send(envelope)
        floodSent += 1
    }

    joinWithRetry(loop: loop, runDirectory: directory, role: .hart, index: 0, name: "bench hart",
                  sharedLane: sharedLanes) { result in
        switch result {
        case .failure(let error):
            failure = "\(error)"
            loop.stop()
        case .success(let (connection, _)):
            connection.onEnvelope { envelope in
                switch envelope.body {
                case .run?:
                    readLineStatus(connection)
                case .mmioReply?:
                    let latency = EventLoop.monotonicNanoseconds() - requestStart
                    if latencies.count < count { latencies.append(latency) } else { cachedLatencies.append(latency) }
                    if cachedLatencies.count < count { readLineStatus(connection) } else { flood(connection) }
                case .echo?:
                    floodReceived += 1
                    if floodReceived == floodCount {
                        floodEnd = EventLoop.monotonicNanoseconds()
                        loop.stop()
                    } else if floodSent < floodCount {
                        sendEcho(connection)
                    }
                case .shutdown(let shutdown)?:
                    failure = shutdown.reason
                    loop.stop()
                default:
                    break
                }
            }
            connection.onClose = { reason in
                failure = "lost the sequencer: \(reason)"
                loop.stop()
            }
        }
    }
    // Like a hart waiting for an MMIO answer (HartNode.spinForReply), poll rather than sleep.
    while floodEnd == 0 && failure == nil { loop.poll() }
    if let failure { throw NodeError(failure) }

    func percentile(_ values: [UInt64], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1000
    }
    let seconds = Double(floodEnd - floodStart) / 1e9
    return String(format: "bus (%@): MMIO read round trip hart->sequencer->uart->sequencer->hart over %d reads: "
                  + "p50 %.1f us, p99 %.1f us; a stable register answered by the sequencer: p50 %.1f us, "
                  + "p99 %.1f us; hub throughput %.0f messages/s (%d messages)",
                  sharedLanes ? "shared lanes" : "sockets only", latencies.count, percentile(latencies, 0.5), percentile(latencies, 0.99),
                  percentile(cachedLatencies, 0.5), percentile(cachedLatencies, 0.99),
                  Double(floodCount) / seconds, floodCount)
}
