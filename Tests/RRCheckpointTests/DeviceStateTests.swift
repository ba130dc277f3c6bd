import Foundation
import RRCheckpoint
import RRProto
import RVMachine
import XCTest

/// Each device model, driven into a non-trivial state, saved through the checkpoint message bytes and
/// restored into a fresh model built alike: the same state hash, and the same answers and effects for the
/// same operations afterwards.
final class DeviceStateTests: XCTestCase {
    typealias Script = (DeviceModel, inout DeviceEffects) -> [UInt64?]

    static func clock(_ g: UInt64) -> DeviceClock { DeviceClock(globalCount: g, mtime: g >> 4) }

    /// What a script saw and caused, comparable.
    func outcome(_ model: DeviceModel, _ script: Script) -> String {
        var effects = DeviceEffects()
        let answers = script(model, &effects)
        return "\(answers) \(effects.sourceLevels) \(effects.hartLines) \(effects.timerCompares) "
            + "\(String(describing: effects.wakeAt)) \(effects.console) \(String(describing: effects.exit)) "
            + "\(model.stableReads()) \(String(format: "%016llx", model.stateHash()))"
    }

    /// Runs `before` on a model, saves it through bytes, restores into `fresh`, and compares `after` on both.
    func checkRoundTrip(_ original: DeviceModel, into fresh: DeviceModel, before: Script, after: Script,
                        beforeRestore: () -> Void = {}, file: StaticString = #filePath, line: UInt = #line) throws {
        var effects = DeviceEffects()
        _ = before(original, &effects)
        let saved = try original.saveState()
        let bytes = try Rrvm_DeviceState(device: 3, saved).serializedData()
        let decoded = try DeviceState(try Rrvm_DeviceState(serializedBytes: bytes))
        XCTAssertEqual(decoded, saved, "\(original.name): the state survives the bytes", file: file, line: line)
        XCTAssertNotEqual(fresh.stateHash(), original.stateHash(), "\(original.name): the script changed the state",
                          file: file, line: line)
        beforeRestore()
        try fresh.restoreState(decoded)
        XCTAssertEqual(fresh.stateHash(), original.stateHash(), original.name, file: file, line: line)
        XCTAssertEqual(try fresh.saveState(), saved, original.name, file: file, line: line)
        XCTAssertEqual(fresh.stableReads(), original.stableReads(), "\(original.name): the declaration", file: file, line: line)
        XCTAssertEqual(outcome(fresh, after), outcome(original, after), "\(original.name) afterwards",
                       file: file, line: line)
    }

    func testUART() throws {
        try checkRoundTrip(UART16550(), into: UART16550(), before: { uart, effects in
            let uart = uart as! UART16550
            let clock = Self.clock(100)
            _ = uart.write(offset: 3, size: 1, value: 0x83, clock: clock, effects: &effects)  // DLAB
            _ = uart.write(offset: 0, size: 1, value: 0x12, clock: clock, effects: &effects)
            _ = uart.write(offset: 3, size: 1, value: 0x03, clock: clock, effects: &effects)
            _ = uart.write(offset: 2, size: 1, value: 0x87, clock: clock, effects: &effects)  // FIFO, trigger 8
            _ = uart.write(offset: 1, size: 1, value: 0x07, clock: clock, effects: &effects)
            _ = uart.write(offset: 7, size: 1, value: 0x42, clock: clock, effects: &effects)
            uart.receive(Array("more than sixteen bytes of console input".utf8), clock: clock, effects: &effects)
            return [uart.read(offset: 0, size: 1, clock: clock, effects: &effects)]
        }, after: { uart, effects in
            let clock = Self.clock(200)
            var answers = (0..<8).map { uart.read(offset: UInt64($0), size: 1, clock: clock, effects: &effects) }
            answers += (0..<40).map { _ in uart.read(offset: 0, size: 1, clock: clock, effects: &effects) }
            _ = uart.write(offset: 0, size: 1, value: 0x78, clock: clock, effects: &effects)
            _ = uart.write(offset: 4, size: 1, value: 0x1b, clock: clock, effects: &effects)  // loopback
            _ = uart.write(offset: 0, size: 1, value: 0x79, clock: clock, effects: &effects)
            return answers + (0..<8).map { uart.read(offset: UInt64($0), size: 1, clock: clock, effects: &effects) }
        })
    }

    func testPLIC() throws {
        try checkRoundTrip(PLIC(harts: 2), into: PLIC(harts: 2), before: { plic, effects in
            let plic = plic as! PLIC
            let clock = Self.clock(0)
            for (offset, value) in [(4 * 10, 3), (4 * 1, 5), (4 * 11, 1), (0x2000, 0x0c02), (0x2000 + 0x80 * 3, 0x800),
                                    (0x20_0000, 1), (0x20_3000, 0)] as [(UInt64, UInt64)] {
                _ = plic.write(offset: offset, size: 4, value: value, clock: clock, effects: &effects)
            }
            plic.setSource(10, level: true, effects: &effects)
            plic.setSource(1, level: true, effects: &effects)
            plic.setSource(11, level: true, effects: &effects)
            return [plic.read(offset: 0x20_0004, size: 4, clock: clock, effects: &effects)]  // claims 1
        }, after: { plic, effects in
            let plic = plic as! PLIC
            let clock = Self.clock(0)
            var answers = [plic.read(offset: 0x1000, size: 4, clock: clock, effects: &effects),
                           plic.read(offset: 0x20_0004, size: 4, clock: clock, effects: &effects),
                           plic.read(offset: 0x20_3004, size: 4, clock: clock, effects: &effects)]
            _ = plic.write(offset: 0x20_0004, size: 4, value: 1, clock: clock, effects: &effects)
            plic.setSource(10, level: false, effects: &effects)
            answers.append(plic.read(offset: 0x20_0004, size: 4, clock: clock, effects: &effects))
            return answers
        })
    }

    func testCLINT() throws {
        try checkRoundTrip(CLINT(harts: 3), into: CLINT(harts: 3), before: { clint, effects in
            _ = clint.write(offset: 4, size: 4, value: 1, clock: Self.clock(0), effects: &effects)
            _ = clint.write(offset: 0x4010, size: 4, value: 0x1234, clock: Self.clock(0), effects: &effects)
            return []
        }, after: { clint, effects in
            let clock = Self.clock(64)
            var answers = [0, 4, 8, 0x4000, 0x4008, 0x4010, 0xbff8].map {
                clint.read(offset: UInt64($0), size: $0 >= 0x4000 ? 8 : 4, clock: clock, effects: &effects)
            }
            _ = clint.write(offset: 4, size: 4, value: 0, clock: clock, effects: &effects)
            _ = clint.write(offset: 0x4014, size: 4, value: 7, clock: clock, effects: &effects)
            answers.append(clint.read(offset: 0x4010, size: 8, clock: clock, effects: &effects))
            return answers
        })
    }

    func testRTC() throws {
        let start: UInt64 = 1_700_000_000_000_000_000
        try checkRoundTrip(GoldfishRTC(startWallTimeNs: start), into: GoldfishRTC(startWallTimeNs: start),
                           before: { rtc, effects in
            let clock = Self.clock(1_600)
            _ = rtc.read(offset: 0, size: 4, clock: clock, effects: &effects)  // latches the high half
            _ = rtc.write(offset: 4, size: 4, value: 0x1_0000, clock: clock, effects: &effects)  // sets the clock
            _ = rtc.write(offset: 0x10, size: 4, value: 1, clock: clock, effects: &effects)
            _ = rtc.write(offset: 0x0c, size: 4, value: 0x1_0000, clock: clock, effects: &effects)
            _ = rtc.write(offset: 0x08, size: 4, value: 50_000, clock: clock, effects: &effects)  // alarm armed
            return []
        }, after: { rtc, effects in
            var answers = [0, 4, 8, 0x0c, 0x10, 0x18].map {
                rtc.read(offset: UInt64($0), size: 4, clock: Self.clock(3_200), effects: &effects)
            }
            rtc.tick(clock: Self.clock(1 << 20), effects: &effects)  // the alarm fires
            answers.append(rtc.read(offset: 0x18, size: 4, clock: Self.clock(1 << 20), effects: &effects))
            return answers
        })
    }

    func testFinisher() throws {
        try checkRoundTrip(TestFinisher(), into: TestFinisher(), before: { finisher, effects in
            _ = finisher.write(offset: 0, size: 4, value: 0x7777, clock: Self.clock(0), effects: &effects)
            return []
        }, after: { finisher, effects in
            _ = finisher.write(offset: 0, size: 4, value: 5 << 16 | 0x3333, clock: Self.clock(9), effects: &effects)
            return [finisher.read(offset: 0, size: 4, clock: Self.clock(9), effects: &effects)]
        })
    }

    func testVirtioEntropy() throws {
        let ram = GuestRAM(), copy = GuestRAM()
        let original = VirtioMMIO(backend: VirtioRNG(seed: 77), memory: ram.memory, source: 2, name: "virtio-rng")
        let fresh = VirtioMMIO(backend: VirtioRNG(seed: 77), memory: copy.memory, source: 2, name: "virtio-rng")
        var driver = VirtioDriver(ram: ram)
        try checkRoundTrip(original, into: fresh, before: { device, effects in
            driver.start(device, &effects)
            driver.submit(device, &effects, [(0x8000_8000, 48, true)])
            return []
        }, after: { device, effects in
            var driver = driver
            driver.ram = device === fresh ? copy : ram
            driver.submit(device, &effects, [(0x8000_9000, 64, true)])
            driver.submit(device, &effects, [(0x8000_9100, 16, false), (0x8000_9200, 32, true)])
            return driver.ram.words(at: 0x8000_9000, count: 8) + driver.ram.words(at: 0x8000_9200, count: 4)
                + driver.ram.words(at: VirtioDriver.usedRing, count: 4)
                + [device.read(offset: 0x60, size: 4, clock: Self.clock(0), effects: &effects)]
        }, beforeRestore: { copy.copy(from: ram) })
    }

    func testVirtioNetWithAFrameWaiting() throws {
        let ram = GuestRAM(), copy = GuestRAM()
        let originalCard = VirtioNet(), freshCard = VirtioNet()
        let original = VirtioMMIO(backend: originalCard, memory: ram.memory, source: 3, name: "virtio-net")
        let fresh = VirtioMMIO(backend: freshCard, memory: copy.memory, source: 3, name: "virtio-net")
        let frames = (0..<3).map { seed in [UInt8](repeating: 0xff, count: 6) + (0..<54).map { UInt8(($0 + seed * 7) & 0xff) } }
        var driver = VirtioDriver(ram: ram)
        try checkRoundTrip(original, into: fresh, before: { device, effects in
            driver.start(device, &effects)
            driver.submit(device, &effects, [(0x8000_8000, 1526, true)])
            for frame in frames.prefix(2) { XCTAssertTrue(originalCard.receive(frame: frame)) }
            original.serviceQueue(VirtioNet.receiveQueue, effects: &effects)
            return []
        }, after: { device, effects in
            var driver = driver
            driver.ram = device === fresh ? copy : ram
            let card = device === fresh ? freshCard : originalCard
            driver.submit(device, &effects, [(0x8000_9000, 1526, true)])  // takes the frame that waited
            _ = card.receive(frame: frames[2])
            driver.submit(device, &effects, [(0x8000_a000, 1526, true)])
            return driver.ram.words(at: 0x8000_9000, count: 9) + driver.ram.words(at: 0x8000_a000, count: 9)
                + driver.ram.words(at: VirtioDriver.usedRing, count: 4) + [UInt64(card.pendingFrames)]
        }, beforeRestore: { copy.copy(from: ram) })
    }

    func testVirtioBlockWithItsOverlay() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rrcheckpoint-blk-\(UUID().uuidString)")
        try Data((0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        let ram = GuestRAM(), copy = GuestRAM()
        let original = VirtioMMIO(backend: VirtioBlock(disk: try DiskImage(path: url.path, mode: .overlay)),
                                  memory: ram.memory, source: 1, name: "virtio-blk")
        let fresh = VirtioMMIO(backend: VirtioBlock(disk: try DiskImage(path: url.path, mode: .overlay)),
                               memory: copy.memory, source: 1, name: "virtio-blk")
        var driver = VirtioDriver(ram: ram)
        try checkRoundTrip(original, into: fresh, before: { device, effects in
            driver.start(device, &effects)
            // OUT: sector 3, 1024 bytes of 0xab; then OUT sector 100, 512 bytes of 0x5c.
            driver.ram.memory.fill(0x8000_8000, count: 1024, with: 0xab)
            driver.blockRequest(device, &effects, type: 1, sector: 3, data: (0x8000_8000, 1024, false))
            driver.ram.memory.fill(0x8000_8000, count: 512, with: 0x5c)
            driver.blockRequest(device, &effects, type: 1, sector: 100, data: (0x8000_8000, 512, false))
            return []
        }, after: { device, effects in
            var driver = driver
            driver.ram = device === fresh ? copy : ram
            // IN: sectors 2...5 (the overlay and the image around it), then another OUT.
            driver.blockRequest(device, &effects, type: 0, sector: 2, data: (0x8000_a000, 2048, true))
            driver.ram.memory.fill(0x8000_8000, count: 512, with: 0x11)
            driver.blockRequest(device, &effects, type: 1, sector: 4, data: (0x8000_8000, 512, false))
            driver.blockRequest(device, &effects, type: 0, sector: 3, data: (0x8000_b000, 1024, true))
            return driver.ram.words(at: 0x8000_a000, count: 256) + driver.ram.words(at: 0x8000_b000, count: 128)
        }, beforeRestore: { copy.copy(from: ram) })

        // A disk written in place has no past to return to: refused with a message.
        let inPlace = VirtioMMIO(backend: VirtioBlock(disk: try DiskImage(path: url.path, mode: .readWrite)),
                                 memory: ram.memory, source: 1, name: "virtio-blk")
        XCTAssertThrowsError(try inPlace.saveState()) { XCTAssertTrue("\($0)".contains("written in place"), "\($0)") }
    }

    func testRefusesStatesThatDoNotFit() throws {
        let uartState = try UART16550().saveState()
        XCTAssertThrowsError(try PLIC(harts: 1).restoreState(uartState)) {
            XCTAssertEqual("\($0)", "a uart state cannot be restored into plic")
        }
        XCTAssertThrowsError(try PLIC(harts: 4).restoreState(try PLIC(harts: 2).saveState())) {
            XCTAssertTrue("\($0)".contains("another number of sources or harts"), "\($0)")
        }
        XCTAssertThrowsError(try CLINT(harts: 4).restoreState(try CLINT(harts: 2).saveState()))

        XCTAssertThrowsError(try DeviceState(Rrvm_DeviceState())) { XCTAssertTrue("\($0)".contains("no model state")) }
        var uart = Rrvm_DeviceState(device: 4, uartState)
        uart.uart.interruptEnable = 300
        XCTAssertThrowsError(try DeviceState(uart)) { XCTAssertTrue("\($0)".contains("IER 300 is out of range"), "\($0)") }
        var tooFull = UART16550.State()
        tooFull.receiveFifo = [1, 2]  // two bytes with the FIFO off
        XCTAssertThrowsError(try UART16550().restoreState(.uart(tooFull)))

        var rng = Rrvm_DeviceState(device: 6, try VirtioMMIO(backend: VirtioRNG(seed: 1), memory: GuestRAM().memory,
                                                              source: 2, name: "virtio-rng").saveState())
        rng.virtio.rng.generator = [0, 0, 0, 0]
        XCTAssertThrowsError(try DeviceState(rng)) { XCTAssertTrue("\($0)".contains("not all zero"), "\($0)") }
    }
}

/// 1 MiB of guest RAM at 0x8000_0000.
final class GuestRAM {
    let memory: GuestMemory
    private let buffer: UnsafeMutableRawPointer

    init() {
        buffer = .allocate(byteCount: 1 << 20, alignment: 4096)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 20)
        memory = GuestMemory(base: buffer, guestBase: 0x8000_0000, size: 1 << 20)
    }

    deinit { buffer.deallocate() }

    func copy(from other: GuestRAM) { buffer.copyMemory(from: other.buffer, byteCount: 1 << 20) }

    func words(at address: UInt64, count: Int) -> [UInt64?] {
        (0..<count).map { memory.load(UInt64.self, at: address + 8 * UInt64($0)) }
    }
}

/// Just enough of a virtio driver: one queue of 8 at fixed rings, chains made available one at a time.
struct VirtioDriver {
    static let descriptors: UInt64 = 0x8000_1000, availRing: UInt64 = 0x8000_2000, usedRing: UInt64 = 0x8000_3000
    var ram: GuestRAM
    var available: UInt16 = 0

    func write(_ device: DeviceModel, _ effects: inout DeviceEffects, _ offset: UInt64, _ value: UInt64) {
        _ = device.write(offset: offset, size: 4, value: value, clock: DeviceStateTests.clock(0), effects: &effects)
    }

    func start(_ device: DeviceModel, _ effects: inout DeviceEffects) {
        for status in [0, 1, 3] as [UInt64] { write(device, &effects, 0x070, status) }
        write(device, &effects, 0x024, 1)
        write(device, &effects, 0x020, 1)  // VERSION_1
        write(device, &effects, 0x070, 0xb)
        write(device, &effects, 0x038, 8)
        for (offset, address) in [(0x080, Self.descriptors), (0x090, Self.availRing), (0x0a0, Self.usedRing)] {
            write(device, &effects, UInt64(offset), address & 0xffff_ffff)
            write(device, &effects, UInt64(offset) + 4, address >> 32)
        }
        write(device, &effects, 0x044, 1)
        write(device, &effects, 0x070, 0xf)
    }

    /// Puts a chain at descriptors 0... and notifies queue 0.
    mutating func submit(_ device: DeviceModel, _ effects: inout DeviceEffects,
                         _ buffers: [(address: UInt64, length: UInt32, writable: Bool)]) {
        let memory = ram.memory
        for (index, buffer) in buffers.enumerated() {
            let at = Self.descriptors + 16 * UInt64(index)
            let last = index == buffers.count - 1
            memory.store(buffer.address, at: at)
            memory.store(buffer.length, at: at + 8)
            memory.store(UInt16((last ? 0 : 1) | (buffer.writable ? 2 : 0)), at: at + 12)
            memory.store(UInt16(last ? 0 : index + 1), at: at + 14)
        }
        memory.store(UInt16(0), at: Self.availRing + 4 + 2 * UInt64(available % 8))
        available &+= 1
        memory.store(available, at: Self.availRing + 2)
        write(device, &effects, 0x050, 0)
        write(device, &effects, 0x064, 1)  // acknowledge the interrupt
    }

    /// A virtio-blk request: header, one data buffer, status byte.
    mutating func blockRequest(_ device: DeviceModel, _ effects: inout DeviceEffects, type: UInt32, sector: UInt64,
                               data: (address: UInt64, length: UInt32, writable: Bool)) {
        ram.memory.store(type, at: 0x8000_7000)
        ram.memory.store(sector, at: 0x8000_7008)
        submit(device, &effects, [(0x8000_7000, 16, false), data, (0x8000_7100, 1, true)])
    }
}
