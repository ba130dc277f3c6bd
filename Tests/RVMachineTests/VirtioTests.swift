import Foundation
import RVMachine
import XCTest

/// A minimal virtio-mmio driver doing what Linux's virtio_mmio and virtio_ring do, in fake guest RAM.
struct FakeVirtioDriver {
    static let descriptorTable: UInt64 = 0x8000_1000
    static let availRing: UInt64 = 0x8000_2000
    static let usedRing: UInt64 = 0x8000_3000
    static let queueSize: UInt16 = 8

    let ram: FakeRAM
    let transport: VirtioMMIO
    var probe: DeviceProbe
    var availIndex: UInt16 = 0
    var memory: GuestMemory { ram.memory }

    init(backend: VirtioBackend, ram: FakeRAM = FakeRAM()) {
        self.ram = ram
        transport = VirtioMMIO(backend: backend, memory: ram.memory, source: 1, name: "virtio0")
        probe = DeviceProbe(transport)
    }

    /// ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queue 0, DRIVER_OK; returns the status read back
    /// after FEATURES_OK.
    @discardableResult
    mutating func start(features: UInt64 = 1 << 32, queueSize: UInt16 = FakeVirtioDriver.queueSize) -> UInt64 {
        probe.write(0x070, 0)
        probe.write(0x070, 1)
        probe.write(0x070, 3)
        probe.write(0x024, 1)
        probe.write(0x020, features >> 32)
        probe.write(0x024, 0)
        probe.write(0x020, features & 0xffff_ffff)
        probe.write(0x070, 0xb)
        let status = probe.read(0x070)!
        setUpQueue(size: queueSize)
        probe.write(0x070, 0xf)
        _ = probe.take()
        return status
    }

    mutating func setUpQueue(size: UInt16, descriptorTable: UInt64 = descriptorTable,
                             availRing: UInt64 = availRing, usedRing: UInt64 = usedRing) {
        probe.write(0x030, 0)
        probe.write(0x038, UInt64(size))
        for (offset, address) in [(0x080, descriptorTable), (0x090, availRing), (0x0a0, usedRing)] {
            probe.write(UInt64(offset), address & 0xffff_ffff)
            probe.write(UInt64(offset) + 4, address >> 32)
        }
        probe.write(0x044, 1)
    }

    /// Writes one descriptor (flags: 1 NEXT, 2 WRITE, 4 INDIRECT) into a table.
    func writeDescriptor(table: UInt64 = descriptorTable, index: UInt16, address: UInt64, length: UInt32,
                         flags: UInt16, next: UInt16 = 0) {
        let at = table + 16 * UInt64(index)
        memory.store(address, at: at)
        memory.store(length, at: at + 8)
        memory.store(flags, at: at + 12)
        memory.store(next, at: at + 14)
    }

    /// Builds a chain from descriptor `head` on, makes it available and notifies queue 0.
    mutating func submit(_ buffers: [(address: UInt64, length: UInt32, writable: Bool)], head: UInt16 = 0) {
        for (position, buffer) in buffers.enumerated() {
            let index = head + UInt16(position)
            let last = position == buffers.count - 1
            writeDescriptor(index: index, address: buffer.address, length: buffer.length,
                            flags: (last ? 0 : 1) | (buffer.writable ? 2 : 0), next: last ? 0 : index + 1)
        }
        makeAvailable(head: head)
    }

    mutating func makeAvailable(head: UInt16, notify: Bool = true) {
        memory.store(head, at: FakeVirtioDriver.availRing + 4 + 2 * UInt64(availIndex % FakeVirtioDriver.queueSize))
        availIndex &+= 1
        memory.store(availIndex, at: FakeVirtioDriver.availRing + 2)
        if notify { probe.write(0x050, 0) }
    }

    var usedIndex: UInt16 { memory.load(UInt16.self, at: FakeVirtioDriver.usedRing + 2)! }

    func usedElement(_ position: UInt16) -> (id: UInt32, length: UInt32) {
        let at = FakeVirtioDriver.usedRing + 4 + 8 * UInt64(position % FakeVirtioDriver.queueSize)
        return (memory.load(UInt32.self, at: at)!, memory.load(UInt32.self, at: at + 4)!)
    }

    mutating func interruptStatus() -> UInt64 { probe.read(0x060)! }
    mutating func status() -> UInt64 { probe.read(0x070)! }
}

final class VirtioMMIOTests: XCTestCase {
    func testIdentificationRegisters() {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 1))
        XCTAssertEqual(driver.probe.read(0x000), 0x7472_6976)
        XCTAssertEqual(driver.probe.read(0x004), 2)
        XCTAssertEqual(driver.probe.read(0x008), 4)
        XCTAssertEqual(driver.probe.read(0x00c), 0x554d_4551)
        driver.probe.write(0x014, 1)
        XCTAssertEqual(driver.probe.read(0x010), 1, "VIRTIO_F_VERSION_1 in the high word")
        driver.probe.write(0x030, 0)
        XCTAssertEqual(driver.probe.read(0x034), 64)
        driver.probe.write(0x030, 1)
        XCTAssertEqual(driver.probe.read(0x034), 0, "no second queue")
        // Write-only registers read 0; read-only registers ignore writes.
        XCTAssertEqual(driver.probe.read(0x050), 0)
        XCTAssertEqual(driver.probe.read(0x080), 0)
        driver.probe.write(0x000, 0x1234)
        driver.probe.write(0x008, 9)
        XCTAssertEqual(driver.probe.read(0x000), 0x7472_6976)
        XCTAssertEqual(driver.probe.read(0x008), 4)
        XCTAssertEqual(driver.probe.read(0x0b0), 0xffff_ffff, "no shared memory region")
    }

    /// The registers Linux reads are declared with the value a read returns, at every step of a driver's set-up and
    /// use (a read changes nothing, so harts answer them); none is declared set by writes: writes wait (DMA).
    func testRegistersLinuxReadsAreDeclaredWithTheValueAReadReturns() {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 1))
        func checkDeclared(_ step: String) {
            let declared = driver.transport.stableReads().flatMap(\.eachRegister)
            XCTAssertEqual(declared.map(\.offset), [0x000, 0x004, 0x008, 0x00c, 0x010, 0x034, 0x044, 0x060, 0x070, 0x0fc], step)
            XCTAssertEqual(declared.map { Optional($0.value) }, declared.map { driver.probe.read($0.offset) }, "declared = read: \(step)")
            XCTAssertTrue(declared.allSatisfy { $0.setByWriteMask == 0 && $0.size == 4 }, step)
        }
        checkDeclared("reset")
        driver.probe.write(0x014, 1)
        checkDeclared("features, high word")
        _ = driver.start()
        driver.setUpQueue(size: 8)
        checkDeclared("queue 0 ready")
        driver.submit([(0x8000_8000, 16, true)])
        XCTAssertEqual(driver.transport.stableReads().flatMap(\.eachRegister).first { $0.offset == 0x060 }?.value, 1, "used buffer")
        checkDeclared("a request served")
    }

    func testFeaturesOKRefusedWithUnofferedBitsAndAcceptedWithoutVersion1AsQEMUDoes() {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 1))
        XCTAssertEqual(driver.start(features: 0) & 0x8, 0x8, "a driver of the low 32 bits only is accepted (QEMU 7.2)")
        XCTAssertEqual(driver.transport.negotiatedFeatures, 0)
        XCTAssertEqual(driver.start(features: (1 << 32) | (1 << 40)) & 0x8, 0, "RING_RESET was not offered")
        XCTAssertEqual(driver.start(features: 1 << 32) & 0x8, 0x8)
        XCTAssertEqual(driver.transport.negotiatedFeatures, 1 << 32)
    }

    func testQueueOutsideRAMNeedsReset() {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 1))
        driver.start()
        driver.probe.write(0x070, 0)
        driver.probe.write(0x070, 0xb)
        driver.setUpQueue(size: 8, usedRing: 0x9000_0000)
        XCTAssertEqual(driver.probe.read(0x044), 0, "the queue did not become ready")
        XCTAssertEqual(driver.status() & 0x40, 0x40, "DEVICE_NEEDS_RESET")
        XCTAssertEqual(driver.interruptStatus(), 2, "configuration change interrupt")
        XCTAssertEqual(driver.probe.take().sourceChanges, ["1=1"])
        XCTAssertTrue(driver.transport.fault!.message.contains("used ring"))
        driver.probe.write(0x070, 0)
        XCTAssertEqual(driver.status(), 0)
        XCTAssertEqual(driver.probe.take().sourceChanges, ["1=0"], "reset drops the interrupt")
    }

    func testBadQueueSizeNeedsReset() {
        for size: UInt16 in [0, 6, 128] {
            var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 1))
            driver.start(queueSize: size)
            XCTAssertEqual(driver.status() & 0x40, 0x40, "size \(size)")
        }
    }
}

final class VirtioBlockTests: XCTestCase {
    static let sectors = 64
    let header: UInt64 = 0x8001_0000, data: UInt64 = 0x8002_0000, statusByte: UInt64 = 0x8003_0000

    /// A disk file whose sector n is filled with the byte n.
    func makeDisk() throws -> URL {
        let url = try temporaryDirectory(self).appendingPathComponent("disk.img")
        let bytes = (0..<VirtioBlockTests.sectors).flatMap { [UInt8](repeating: UInt8($0), count: 512) }
        try Data(bytes).write(to: url)
        return url
    }

    func writeHeader(_ driver: FakeVirtioDriver, type: UInt32, sector: UInt64) {
        driver.memory.store(type, at: header)
        driver.memory.store(UInt32(0), at: header + 4)
        driver.memory.store(sector, at: header + 8)
        driver.memory.store(UInt8(0xff), at: statusByte)
    }

    func status(_ driver: FakeVirtioDriver) -> UInt8 { driver.memory.load(UInt8.self, at: statusByte)! }

    func makeDriver(_ url: URL, mode: DiskImage.Mode) throws -> FakeVirtioDriver {
        var driver = FakeVirtioDriver(backend: try VirtioBlock(path: url.path, mode: mode))
        XCTAssertEqual(driver.start() & 0x8, 0x8)
        return driver
    }

    func testConfigSpace() throws {
        var driver = try makeDriver(makeDisk(), mode: .readWrite)
        XCTAssertEqual(driver.probe.read(0x008), 2)
        XCTAssertEqual(driver.probe.read(0x100, size: 8), UInt64(VirtioBlockTests.sectors), "capacity in sectors")
        XCTAssertEqual(driver.probe.read(0x100, size: 4), UInt64(VirtioBlockTests.sectors))
        XCTAssertEqual(driver.probe.read(0x114), 512, "blk_size")
        XCTAssertEqual(driver.probe.read(0x10c), 254, "seg_max")
        XCTAssertEqual(driver.probe.read(0x010)! & (1 << 5), 0, "not read-only")
        let readOnly = try makeDriver(makeDisk(), mode: .readOnly)
        var probe = readOnly.probe
        XCTAssertEqual(probe.read(0x010)! & (1 << 5), 1 << 5, "VIRTIO_BLK_F_RO")
    }

    func testReadWriteFlushAndGetID() throws {
        let url = try makeDisk()
        var driver = try makeDriver(url, mode: .readWrite)

        // Read sectors 3 and 4 into two buffers of one chain.
        writeHeader(driver, type: 0, sector: 3)
        driver.submit([(header, 16, false), (data, 512, true), (data + 0x1000, 512, true), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(driver.memory.read(data, count: 512), [UInt8](repeating: 3, count: 512))
        XCTAssertEqual(driver.memory.read(data + 0x1000, count: 512), [UInt8](repeating: 4, count: 512))
        XCTAssertEqual(driver.usedIndex, 1)
        XCTAssertEqual(driver.usedElement(0).id, 0)
        XCTAssertEqual(driver.usedElement(0).length, 1025)
        XCTAssertEqual(driver.interruptStatus(), 1)
        XCTAssertEqual(driver.probe.take().sourceChanges, ["1=1"])
        driver.probe.write(0x064, 1)
        XCTAssertEqual(driver.probe.take().sourceChanges, ["1=0"])

        // Write sector 10 from a buffer split in two descriptors.
        let pattern = (0..<512).map { UInt8(truncatingIfNeeded: $0 * 7) }
        driver.memory.write(data, bytes: pattern)
        writeHeader(driver, type: 1, sector: 10)
        driver.submit([(header, 16, false), (data, 100, false), (data + 100, 412, false), (statusByte, 1, true)],
                      head: 4)
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(driver.usedElement(1).id, 4)

        writeHeader(driver, type: 4, sector: 0)
        driver.submit([(header, 16, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        let onDisk = try [UInt8](Data(contentsOf: url))
        XCTAssertEqual(Array(onDisk[(10 * 512)..<(11 * 512)]), pattern, "written in place")

        writeHeader(driver, type: 8, sector: 0)
        driver.submit([(header, 16, false), (data, 20, true), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(String(decoding: driver.memory.read(data, count: 10)!, as: UTF8.self), "rrvm-disk0")

        writeHeader(driver, type: 99, sector: 0)
        driver.submit([(header, 16, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 2, "VIRTIO_BLK_S_UNSUPP")
    }

    func testDriverWithoutVersion1ReadsAndWrites() throws {
        let url = try makeDisk()
        var driver = FakeVirtioDriver(backend: try VirtioBlock(path: url.path, mode: .readWrite))
        XCTAssertEqual(driver.start(features: 0) & 0x8, 0x8)
        writeHeader(driver, type: 0, sector: 3)
        driver.submit([(header, 16, false), (data, 512, true), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(driver.memory.read(data, count: 512), [UInt8](repeating: 3, count: 512))
    }

    func testOverlayKeepsTheBaseImageUnchanged() throws {
        let url = try makeDisk()
        let before = try Data(contentsOf: url)
        var driver = try makeDriver(url, mode: .overlay)
        driver.memory.write(data, bytes: [UInt8](repeating: 0xab, count: 1024))
        writeHeader(driver, type: 1, sector: 7)
        driver.submit([(header, 16, false), (data + 256, 512, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        // Read back sectors 6...8: the overlay for 7, the base around it.
        writeHeader(driver, type: 0, sector: 6)
        driver.submit([(header, 16, false), (data + 0x1000, 1536, true), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        let expected = [UInt8](repeating: 6, count: 512) + [UInt8](repeating: 0xab, count: 512)
            + [UInt8](repeating: 8, count: 512)
        XCTAssertEqual(driver.memory.read(data + 0x1000, count: 1536), expected)
        writeHeader(driver, type: 4, sector: 0)
        driver.submit([(header, 16, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(try Data(contentsOf: url), before, "the base image is untouched")
    }

    func testBadRequestsFailWithIOError() throws {
        let url = try makeDisk()
        let before = try Data(contentsOf: url)
        var driver = try makeDriver(url, mode: .readWrite)
        let cases: [(String, UInt32, UInt64, [(address: UInt64, length: UInt32, writable: Bool)])] = [
            ("past the end", 0, UInt64(VirtioBlockTests.sectors) - 1, [(data, 1024, true)]),
            ("huge sector", 0, .max / 2, [(data, 512, true)]),
            ("not whole sectors", 0, 0, [(data, 100, true)]),
            ("read into a device-readable buffer", 0, 0, [(data, 512, false)]),
            ("write from a device-writable buffer", 1, 0, [(data, 512, true)]),
            ("data outside RAM", 0, 0, [(0x9000_0000, 512, true)]),
            ("data straddling the end of RAM", 1, 0, [(0x800f_ff00, 512, false)]),
            ("data below RAM", 1, 0, [(0x1000, 512, false)]),
        ]
        for (index, (name, type, sector, buffers)) in cases.enumerated() {
            writeHeader(driver, type: type, sector: sector)
            driver.submit([(header, 16, false)] + buffers + [(statusByte, 1, true)])
            XCTAssertEqual(status(driver), 1, name)
            XCTAssertEqual(driver.usedIndex, UInt16(index + 1), name)
        }
        XCTAssertEqual(driver.status() & 0x40, 0, "bad requests do not break the queue")
        XCTAssertEqual(try Data(contentsOf: url), before)
    }

    func testWriteToReadOnlyDiskFails() throws {
        let url = try makeDisk()
        var driver = try makeDriver(url, mode: .readOnly)
        writeHeader(driver, type: 1, sector: 0)
        driver.submit([(header, 16, false), (data, 512, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 1)
    }

    func testDescriptorLoopBreaksTheQueueUntilReset() throws {
        var driver = try makeDriver(makeDisk(), mode: .readWrite)
        writeHeader(driver, type: 0, sector: 0)
        driver.writeDescriptor(index: 0, address: header, length: 16, flags: 1, next: 1)
        driver.writeDescriptor(index: 1, address: data, length: 512, flags: 1, next: 0)  // back to 0
        driver.makeAvailable(head: 0)
        XCTAssertEqual(driver.status() & 0x40, 0x40)
        XCTAssertEqual(driver.interruptStatus(), 2)
        XCTAssertTrue(driver.transport.fault!.message.contains("loops"), driver.transport.fault!.message)
        XCTAssertEqual(driver.usedIndex, 0)
        // A broken device ignores notifications until the driver resets it.
        driver.submit([(header, 16, false), (statusByte, 1, true)], head: 2)
        XCTAssertEqual(driver.usedIndex, 0)
        driver.availIndex = 0
        driver.memory.store(UInt16(0), at: FakeVirtioDriver.availRing + 2)
        driver.memory.store(UInt16(0), at: FakeVirtioDriver.usedRing + 2)
        driver.start()
        writeHeader(driver, type: 4, sector: 0)
        driver.submit([(header, 16, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0, "works again after a reset")
    }

    func testBrokenChainsNeedReset() throws {
        let chains: [(String, (inout FakeVirtioDriver) -> Void)] = [
            ("next index out of range", { driver in
                driver.writeDescriptor(index: 0, address: 0x8001_0000, length: 16, flags: 1, next: 200)
                driver.makeAvailable(head: 0)
            }),
            ("head index out of range", { driver in driver.makeAvailable(head: 9) }),
            ("header outside RAM", { driver in
                driver.submit([(0x7000_0000, 16, false), (0x8003_0000, 1, true)])
            }),
            ("short header", { driver in driver.submit([(0x8001_0000, 8, false), (0x8003_0000, 1, true)]) }),
            ("no status byte", { driver in driver.submit([(0x8001_0000, 16, false)]) }),
            ("status outside RAM", { driver in
                driver.submit([(0x8001_0000, 16, false), (0xffff_ffff_ffff_ffff, 1, true)])
            }),
            ("readable after writable", { driver in
                driver.submit([(0x8001_0000, 16, false), (0x8003_0000, 1, true), (0x8002_0000, 512, false)])
            }),
            ("available index far ahead", { driver in
                driver.memory.store(UInt16(100), at: FakeVirtioDriver.availRing + 2)
                driver.probe.write(0x050, 0)
            }),
        ]
        for (name, breakIt) in chains {
            var driver = try makeDriver(makeDisk(), mode: .readWrite)
            writeHeader(driver, type: 0, sector: 0)
            breakIt(&driver)
            XCTAssertEqual(driver.status() & 0x40, 0x40, name)
            XCTAssertEqual(driver.interruptStatus() & 2, 2, name)
        }
    }

    func testIndirectDescriptors() throws {
        var driver = try makeDriver(makeDisk(), mode: .readWrite)
        XCTAssertEqual(driver.start(features: (1 << 32) | (1 << 28)) & 0x8, 0x8)
        let table: UInt64 = 0x8004_0000
        writeHeader(driver, type: 0, sector: 5)
        driver.writeDescriptor(table: table, index: 0, address: header, length: 16, flags: 1, next: 1)
        driver.writeDescriptor(table: table, index: 1, address: data, length: 512, flags: 3, next: 2)
        driver.writeDescriptor(table: table, index: 2, address: statusByte, length: 1, flags: 2)
        driver.writeDescriptor(index: 0, address: table, length: 48, flags: 4)
        driver.makeAvailable(head: 0)
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(driver.memory.read(data, count: 4), [5, 5, 5, 5])

        // An indirect descriptor inside an indirect table is refused.
        driver.writeDescriptor(table: table, index: 2, address: table, length: 48, flags: 4)
        driver.makeAvailable(head: 0)
        XCTAssertEqual(driver.status() & 0x40, 0x40)
    }

    func testIndirectDescriptorRefusedWhenNotNegotiated() throws {
        var driver = try makeDriver(makeDisk(), mode: .readWrite)
        driver.writeDescriptor(index: 0, address: 0x8004_0000, length: 48, flags: 4)
        driver.makeAvailable(head: 0)
        XCTAssertEqual(driver.status() & 0x40, 0x40)
    }

    func testNoInterruptWhenTheDriverSuppressesIt() throws {
        var driver = try makeDriver(makeDisk(), mode: .readWrite)
        driver.memory.store(UInt16(1), at: FakeVirtioDriver.availRing)  // VRING_AVAIL_F_NO_INTERRUPT
        writeHeader(driver, type: 4, sector: 0)
        driver.submit([(header, 16, false), (statusByte, 1, true)])
        XCTAssertEqual(status(driver), 0)
        XCTAssertEqual(driver.interruptStatus(), 0)
        XCTAssertTrue(driver.probe.take().sourceLevels.isEmpty)
    }

    func testMissingDiskIsRefusedWithThePath() {
        XCTAssertThrowsError(try VirtioBlock(path: "/nonexistent/disk.img", mode: .readWrite)) {
            XCTAssertTrue("\($0)".contains("/nonexistent/disk.img"), "\($0)")
        }
        XCTAssertThrowsError(try DiskImage(path: "/tmp", mode: .readOnly)) {
            XCTAssertTrue("\($0)".contains("/tmp"), "\($0)")
        }
    }
}

final class VirtioRNGTests: XCTestCase {
    func randomBytes(seed: UInt64, requests: Int) -> [[UInt8]] {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: seed))
        driver.start()
        var results: [[UInt8]] = []
        for _ in 0..<requests {
            driver.submit([(0x8001_0000, 13, true), (0x8001_1000, 51, true)])
            XCTAssertEqual(driver.usedElement(driver.usedIndex &- 1).length, 64)
            results.append(driver.memory.read(0x8001_0000, count: 13)! + driver.memory.read(0x8001_1000, count: 51)!)
        }
        return results
    }

    func testSameSeedSameBytes() {
        let first = randomBytes(seed: 42, requests: 3)
        XCTAssertEqual(first, randomBytes(seed: 42, requests: 3))
        XCTAssertNotEqual(first, randomBytes(seed: 43, requests: 3))
        XCTAssertNotEqual(first[0], first[1], "the stream moves on")
        XCTAssertGreaterThan(Set(first.joined()).count, 40, "bytes look random")
    }

    func testBufferOutsideRAMNeedsReset() {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 1))
        driver.start()
        driver.submit([(0x8010_0000 - 8, 16, true)])
        XCTAssertEqual(driver.status() & 0x40, 0x40)
    }

    func testStateHashFollowsTheStream() {
        func hash(afterRequests requests: Int) -> UInt64 {
            var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 5))
            driver.start()
            for _ in 0..<requests { driver.submit([(0x8001_0000, 16, true)]) }
            return driver.transport.stateHash()
        }
        XCTAssertEqual(hash(afterRequests: 2), hash(afterRequests: 2))
        XCTAssertNotEqual(hash(afterRequests: 2), hash(afterRequests: 3))
    }

    func testBuffersQueuedBeforeDriverOKAreServedWhenItIsSet() {
        var driver = FakeVirtioDriver(backend: VirtioRNG(seed: 5))
        driver.start()
        driver.probe.write(0x070, 0)
        driver.probe.write(0x070, 1)
        driver.probe.write(0x070, 3)
        driver.probe.write(0x024, 1)
        driver.probe.write(0x020, 1)
        driver.probe.write(0x070, 0xb)
        driver.memory.store(UInt16(0), at: FakeVirtioDriver.usedRing + 2)
        driver.availIndex = 0
        driver.setUpQueue(size: 8)
        driver.submit([(0x8001_0000, 16, true)])
        XCTAssertEqual(driver.usedIndex, 0, "nothing is consumed before DRIVER_OK")
        driver.probe.write(0x070, 0xf)
        XCTAssertEqual(driver.usedIndex, 1)
    }
}
