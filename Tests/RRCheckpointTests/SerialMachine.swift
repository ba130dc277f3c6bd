import Foundation
import RRCheckpoint
import RRProto
import RVHart
import RVMachine
import RVPlatform

/// A whole machine in one process, for checkpoint tests: harts run one at a time in round-robin slices and
/// every device access is handled at once by the real device models, as the cluster's sequencer orders
/// them across processes (slices cut at every timer deadline, LR/SC reservations dropped at every slice
/// boundary, idle time skipped to the next deadline). A bare ELF starts on every hart in M-mode.
///
/// `checkpoint()` saves it through the checkpoint messages (proto bytes, self-contained: harts, devices,
/// the schedule as a SequencerState, RAM), and `restore(_:)` puts it, or a fresh machine built alike, back.
final class SerialMachine {
    static let icountShift: UInt64 = 4
    static let quantum: UInt64 = 5_000
    static let ramSize = 64 << 20

    struct Device {
        let base: UInt64
        let size: UInt64
        let model: DeviceModel
    }

    let ram: UnsafeMutableRawPointer
    let memory: GuestMemory
    let harts: [Hart]
    let devices: [Device]
    let plicIndex: Int
    let uart: UART16550
    let ramCheckpoints: RAMCheckpoints

    // The schedule: what a SequencerState holds.
    private(set) var g: UInt64 = 0
    private var nextHart = 0
    private var lines: [UInt64]
    private var mtimecmp: [UInt64]
    private var wakes: [Int: UInt64] = [:]
    /// The slice under way: its hart and the budget it has left.
    private var slice: (hart: Int, left: UInt64)?

    // Output, not state.
    private(set) var console: [UInt8] = []
    private(set) var exit: MachineExit?
    /// Set when every hart waits and nothing is due: the machine can only sleep forever.
    private(set) var idleForever = false

    init(elf: [UInt8], harts count: Int, disk: String? = nil, entropySeed: UInt64 = 0x5eed) throws {
        let ram = UnsafeMutableRawPointer.allocate(byteCount: SerialMachine.ramSize, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: SerialMachine.ramSize)
        self.ram = ram
        let memory = GuestMemory(base: ram, guestBase: MemoryMap.ramBase, size: UInt64(SerialMachine.ramSize))
        self.memory = memory
        ramCheckpoints = RAMCheckpoints(ram: ram, size: SerialMachine.ramSize)
        let image = try ElfImage(bytes: elf)
        for segment in image.segments {
            guard memory.write(segment.physicalAddress, bytes: segment.data) else {
                throw CheckpointError("segment at \(segment.physicalAddress) is outside RAM")
            }
        }
        // Every device of the registry, the disk only when there is one, built as the cluster builds them.
        var devices: [Device] = []
        for type in DeviceRegistry.all where type.kind != .virtioBlock || disk != nil {
            let context = DeviceContext(harts: count, source: type.source, memory: memory, entropySeed: entropySeed,
                                        startWallTimeNs: 1_700_000_000_000_000_000, backingFile: disk ?? "",
                                        overlay: true)
            devices.append(Device(base: type.base, size: type.size, model: try type.make(context)))
        }
        plicIndex = devices.firstIndex { $0.model is PLIC }!
        uart = devices.first { $0.model is UART16550 }!.model as! UART16550
        self.devices = devices
        let windows = devices.map { MemoryRegion(base: $0.base, size: $0.size) }
        harts = (0..<count).map { id in
            let hart = Hart(config: HartConfig(
                hartID: UInt64(id), ram: ram, ramBase: MemoryMap.ramBase,
                ramSize: UInt64(SerialMachine.ramSize), mmioRegions: windows,
                icountShift: UInt32(SerialMachine.icountShift), maxSatpMode: .sv48))
            hart.pc = image.physicalEntry
            hart.setRegister(10, UInt64(id))
            hart.spinHintsEndRun = count > 1
            return hart
        }
        lines = Array(repeating: 0, count: count)
        mtimecmp = Array(repeating: .max, count: count)
    }

    deinit { ram.deallocate() }

    var mtime: UInt64 { g >> SerialMachine.icountShift }
    var isOver: Bool { exit != nil || idleForever }

    /// Queues console input for the UART, as the sequencer delivers a stamped host input.
    func type(_ text: String) {
        var effects = DeviceEffects()
        uart.receive(Array(text.utf8), clock: clock, effects: &effects)
        apply(effects, from: devices.firstIndex { $0.model === uart }!)
    }

    /// Runs until G reaches `target` exactly, the machine exits, or it can only idle. Stopping at `target`
    /// pauses the slice under way without ending it, so where a run stops never changes the schedule.
    func run(until target: UInt64) {
        while g < target && !isOver {
            if slice == nil {
                tickDueDevices()
                guard let index = runnableHart() else {
                    // Every hart waits: skip idle time to the next deadline.
                    guard let due = nextDeadline() else {
                        idleForever = true
                        return
                    }
                    g = min(due, target)
                    continue
                }
                var budget = SerialMachine.quantum
                if let due = nextDeadline() { budget = min(budget, due - g) }
                harts[index].dropReservation()
                slice = (index, budget)
            }
            continueSlice(until: target)
        }
    }

    /// Runs to the end (finisher, or nothing left to do) and returns the final G.
    @discardableResult
    func runToEnd(limit: UInt64 = 400_000_000) -> UInt64 {
        run(until: limit)
        return g
    }

    // MARK: Checkpoints

    /// The whole machine as checkpoint bytes.
    func checkpoint() throws -> Data {
        var message = Rrvm_Checkpoint()
        message.formatVersion = checkpointFormatVersion
        message.g = g
        message.sequencer = .with {
            $0.g = g
            $0.nextHart = UInt32(nextHart)
            $0.harts = harts.indices.map { index in
                .with {
                    $0.state = slice?.hart == index ? .running : .ready
                    $0.lines = lines[index]
                    $0.mtimecmp = mtimecmp[index]
                }
            }
            $0.sliceLeft = slice?.left ?? 0
            $0.deviceWakes = wakes.keys.sorted().map { device in
                .with { $0.device = UInt32(device); $0.mtime = wakes[device]! }
            }
        }
        message.harts = try harts.map { Rrvm_HartState(try $0.snapshot()) }
        message.devices = try devices.indices.map { Rrvm_DeviceState(device: $0, try devices[$0].model.saveState()) }
        message.ram = ramCheckpoints.message(ramCheckpoints.take())
        return try message.serializedData()
    }

    /// Puts the machine back to a checkpoint made by this machine or one built alike.
    func restore(_ bytes: Data) throws {
        let message = try Rrvm_Checkpoint(serializedBytes: bytes)
        guard message.formatVersion == checkpointFormatVersion else {
            throw CheckpointError("checkpoint format \(message.formatVersion), expected \(checkpointFormatVersion)")
        }
        let schedule = message.sequencer
        guard message.harts.count == harts.count, schedule.harts.count == harts.count,
              message.devices.count == devices.count else {
            throw CheckpointError("the checkpoint is of another machine")
        }
        let hartStates = try message.harts.map { try HartSnapshot($0) }
        let deviceStates = try message.devices.map { try DeviceState($0) }
        try ramCheckpoints.restore(try ramCheckpoints.checkpoint(from: message.ram))
        for (hart, state) in zip(harts, hartStates) { try hart.restore(state) }
        for (device, state) in zip(devices, deviceStates) { try device.model.restoreState(state) }
        g = schedule.g
        nextHart = Int(schedule.nextHart)
        lines = schedule.harts.map(\.lines)
        mtimecmp = schedule.harts.map(\.mtimecmp)
        wakes = Dictionary(uniqueKeysWithValues: schedule.deviceWakes.map { (Int($0.device), $0.mtime) })
        slice = schedule.harts.firstIndex { $0.state == .running }.map { ($0, schedule.sliceLeft) }
        exit = nil
        idleForever = false
    }

    /// G and every state hash of the machine (harts, then devices).
    func stateHashes() -> [UInt64] {
        [g] + harts.map { $0.stateHash() } + devices.map { $0.model.stateHash() }
    }

    /// A copy of guest RAM.
    func ramContents() -> Data { Data(bytes: ram, count: SerialMachine.ramSize) }

    // MARK: The schedule

    private var clock: DeviceClock { DeviceClock(globalCount: g, mtime: mtime) }

    private func lineBits(_ hart: Int) -> UInt64 {
        lines[hart] | (mtime >= mtimecmp[hart] ? InterruptNumber.mask(InterruptNumber.machineTimer) : 0)
    }

    private func runnableHart() -> Int? {
        for offset in 0..<harts.count {
            let index = (nextHart + offset) % harts.count
            let hart = harts[index]
            hart.setInterruptLines(lineBits(index))
            // An Sstc timer that fell due wakes the hart once it runs (its comparator is evaluated there).
            if !hart.isWaitingForInterrupt || hart.nextTimerDeadline.map({ $0 <= mtime }) ?? false { return index }
        }
        return nil
    }

    /// The next G after now at which a timer (CLINT mtimecmp, a hart's Sstc timer) or a wake-up falls due.
    private func nextDeadline() -> UInt64? {
        let mtimes = mtimecmp + Array(wakes.values) + harts.compactMap(\.nextTimerDeadline)
        return mtimes.compactMap { mtime -> UInt64? in
            let (due, overflow) = mtime.multipliedReportingOverflow(by: 1 << SerialMachine.icountShift)
            return overflow || due <= g ? nil : due
        }.min()
    }

    /// Runs the slice under way until its budget is spent, it stops early (WFI, a spin-wait hint), the
    /// machine exits, or G reaches `target` (then the slice stays under way).
    private func continueSlice(until target: UInt64) {
        guard let (index, budget) = slice else { return }
        let hart = harts[index]
        var left = budget
        var ended = false
        while left > 0 && g < target && !isOver {
            hart.setInterruptLines(lineBits(index))
            let before = hart.retired
            let reason = hart.run(budget: min(left, target - g), globalCount: g)
            let ran = hart.retired - before
            g += ran
            left -= ran
            if reason == .mmio {
                access(hart: index)
                g += 1
                left -= 1
            } else if reason != .budgetExhausted {
                ended = true
                break
            }
        }
        if ended || left == 0 || isOver {
            slice = nil
            nextHart = (index + 1) % harts.count
        } else {
            slice = (index, left)
        }
    }

    private func access(hart index: Int) {
        let hart = harts[index]
        let request = hart.pendingAccess
        guard let target = devices.firstIndex(where: {
            request.address >= $0.base && request.address - $0.base < $0.size
        }) else {
            hart.failMMIO()
            return
        }
        let device = devices[target]
        var effects = DeviceEffects()
        let offset = request.address - device.base
        var value: UInt64 = 0
        var ok = true
        if request.isWrite {
            ok = device.model.write(offset: offset, size: request.size, value: request.value, clock: clock,
                                    effects: &effects)
        } else if let read = device.model.read(offset: offset, size: request.size, clock: clock, effects: &effects) {
            value = read
        } else {
            ok = false
        }
        apply(effects, from: target)
        if ok { hart.completeMMIO(value: value) } else { hart.failMMIO() }
    }

    private func tickDueDevices() {
        for (device, due) in wakes.sorted(by: { $0.key < $1.key }) where due <= mtime {
            var effects = DeviceEffects()
            devices[device].model.tick(clock: clock, effects: &effects)
            apply(effects, from: device)
        }
    }

    private func apply(_ effects: DeviceEffects, from device: Int) {
        for (source, level) in effects.sourceLevels {
            var caused = DeviceEffects()
            (devices[plicIndex].model as! PLIC).setSource(source, level: level, effects: &caused)
            apply(caused, from: plicIndex)
        }
        for (hart, line, level) in effects.hartLines {
            let bit = InterruptNumber.mask(line.mipBit)
            if level { lines[hart] |= bit } else { lines[hart] &= ~bit }
        }
        for (hart, compare) in effects.timerCompares { mtimecmp[hart] = compare }
        if devices[device].model is GoldfishRTC { wakes[device] = effects.wakeAt }
        console += effects.console
        if let exit = effects.exit { self.exit = exit }
    }
}
