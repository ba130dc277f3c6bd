import Foundation
import RRCheckpoint
import RRProto
import RRRoles
import RVHart
import RVMachine

/// What a checkpoint of the default Linux guest costs, on a release build: the guest is booted on the
/// in-process machine twice (deterministically: once to about 90 % of its boot, once to power-off), and
/// the two RAM images are checkpointed one after the other (the second keeps only the pages changed since
/// the first), restored and checked byte for byte; the harts' and devices' states are saved, encoded and
/// restored at the end of the boot. Prints one line per figure.
func runCheckpointBenchmark(guestDirectory: String, harts: Int) throws -> String {
    let (config, boot) = try defaultGuestPlan(guestDirectory: guestDirectory, harts: harts)
    var lines: [String] = []

    let booted = try InProcessMachine(config: config, boot: boot)
    let bootStart = now()
    let outcome = booted.run()
    lines.append("Linux boot to power-off, \(harts) hart(s), 256 MiB: G \(booted.g), exit \(outcome.exitCode), "
                 + "\(ms(now() - bootStart)) ms")
    let earlier = try InProcessMachine(config: config, boot: boot)
    earlier.run(gLimit: booted.g / 10 * 9)
    lines.append("the same boot stopped at G \(earlier.g)")

    // RAM: the two images checkpointed in turn into a scratch copy of RAM.
    let size = Int(config.ramSize)
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
    defer { scratch.deallocate() }
    let store = RAMCheckpoints(ram: scratch, size: size)
    scratch.copyMemory(from: earlier.guestRAM, byteCount: size)
    var start = now()
    let first = store.take()
    lines.append("RAM checkpoint 1 (G \(earlier.g), from nothing): \(ms(now() - start)) ms, \(first.changedPages) pages "
                 + "= \(mib(first.changedBytes)) MiB copied (\(first.nonZeroPages) non-zero pages of \(store.pageCount))")
    scratch.copyMemory(from: booted.guestRAM, byteCount: size)
    start = now()
    let second = store.take()
    lines.append("RAM checkpoint 2 (G \(booted.g), changed pages only): \(ms(now() - start)) ms, \(second.changedPages) "
                 + "pages = \(mib(second.changedBytes)) MiB copied, plus \(store.pageCount * 8 / 1024) KiB of page references")
    start = now()
    let third = store.take()
    lines.append("RAM checkpoint 3 (nothing changed, the comparison alone): \(ms(now() - start)) ms, "
                 + "\(third.changedPages) pages copied")
    start = now()
    let written = try store.restore(first)
    let restoreFirst = now() - start
    guard memcmp(scratch, earlier.guestRAM, size) == 0 else { throw CheckpointError("RAM restore 1 is not exact") }
    start = now()
    let writtenBack = try store.restore(second)
    let restoreSecond = now() - start
    guard memcmp(scratch, booted.guestRAM, size) == 0 else { throw CheckpointError("RAM restore 2 is not exact") }
    lines.append("RAM restore to checkpoint 1: \(ms(restoreFirst)) ms, \(written) pages written; back to 2: "
                 + "\(ms(restoreSecond)) ms, \(writtenBack) pages; both exact")
    start = now()
    let whole = try store.message(second).serializedData()
    let wholeTime = now() - start
    start = now()
    let delta = try store.message(second, relativeTo: first).serializedData()
    lines.append("RAM as messages: self-contained \(mib(whole.count)) MiB in \(ms(wholeTime)) ms; "
                 + "delta 1 -> 2 \(mib(delta.count)) MiB in \(ms(now() - start)) ms")

    // Harts and devices: at a point where no device access is in flight (the in-process machine stops
    // between two messages, so the point is searched for, a few hundred instructions apart).
    var machine = earlier
    var snapshots: [HartSnapshot]?
    for attempt in 1...8 {
        if let taken = try? (0..<harts).map({ try machine.hart($0).hart.snapshot() }) {
            snapshots = taken
            break
        }
        machine = try InProcessMachine(config: config, boot: boot)
        machine.run(gLimit: earlier.g - UInt64(attempt) * 317)
    }
    guard snapshots != nil else { throw CheckpointError("no point without a device access in flight was found") }
    start = now()
    var message = Rrvm_Checkpoint()
    message.formatVersion = checkpointFormatVersion
    message.g = machine.g
    message.harts = try (0..<harts).map { Rrvm_HartState(try machine.hart($0).hart.snapshot()) }
    message.devices = try config.devices.indices.map { Rrvm_DeviceState(device: $0, try machine.device($0).saveState()) }
    let states = try message.serializedData()
    let saveTime = now() - start
    let hashes = (0..<harts).map { machine.hart($0).hart.stateHash() }
        + config.devices.indices.map { machine.device($0).stateHash() }
    start = now()
    let decoded = try Rrvm_Checkpoint(serializedBytes: states)
    for (index, state) in decoded.harts.enumerated() { try machine.hart(index).hart.restore(try HartSnapshot(state)) }
    for (index, state) in decoded.devices.enumerated() { try machine.device(index).restoreState(try DeviceState(state)) }
    let restoreTime = now() - start
    let restoredHashes = (0..<harts).map { machine.hart($0).hart.stateHash() }
        + config.devices.indices.map { machine.device($0).stateHash() }
    guard restoredHashes == hashes else { throw CheckpointError("harts or devices differ after the restore") }
    lines.append("harts and devices at G \(machine.g): \(states.count) bytes (\(harts) hart(s), \(decoded.devices.count) "
                 + "devices, disk overlay included), saved and encoded in \(ms(saveTime)) ms, decoded and restored in "
                 + "\(ms(restoreTime)) ms, same state hashes")
    return lines.joined(separator: "\n")
}

private func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

private func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }
private func mib(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / 1048576) }
