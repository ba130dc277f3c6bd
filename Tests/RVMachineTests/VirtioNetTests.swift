import RVMachine
import XCTest

/// Linux's virtio_net as far as these tests need it: the receive queue (0) at FakeVirtioDriver's rings,
/// the transmit queue (1) at its own, both driven through the MMIO registers.
struct FakeNetDriver {
    static let txTable: UInt64 = 0x8000_5000, txAvail: UInt64 = 0x8000_6000, txUsed: UInt64 = 0x8000_7000
    static let rxBuffers: UInt64 = 0x8001_0000, txBuffers: UInt64 = 0x8004_0000

    let net: VirtioNet
    var driver: FakeVirtioDriver
    var txAvailIndex: UInt16 = 0
    var memory: GuestMemory { driver.memory }

    init(net: VirtioNet = VirtioNet(), features: UInt64 = 1 << 32) {
        self.net = net
        driver = FakeVirtioDriver(backend: net)
        driver.start(features: features)
        driver.probe.write(0x030, 1)
        driver.probe.write(0x038, UInt64(FakeVirtioDriver.queueSize))
        for (offset, address) in [(0x080, FakeNetDriver.txTable), (0x090, FakeNetDriver.txAvail),
                                  (0x0a0, FakeNetDriver.txUsed)] {
            driver.probe.write(UInt64(offset), address & 0xffff_ffff)
            driver.probe.write(UInt64(offset) + 4, address >> 32)
        }
        driver.probe.write(0x044, 1)
        _ = driver.probe.take()
    }

    /// Posts receive buffer `slot` (one device-writable buffer of `length` bytes) to queue 0.
    mutating func postReceiveBuffer(slot: UInt16, length: UInt32 = 1526) {
        driver.submit([(FakeNetDriver.rxBuffers + 0x1000 * UInt64(slot), length, true)], head: slot)
    }

    /// A frame arrives from outside; the transport serves the receive queue. Returns the frame's acceptance.
    @discardableResult
    mutating func arrive(_ frame: [UInt8]) -> Bool {
        let accepted = net.receive(frame: frame)
        driver.transport.serviceQueue(VirtioNet.receiveQueue, effects: &driver.probe.effects)
        return accepted
    }

    /// The bytes the device wrote into receive buffer `slot`.
    func receiveBuffer(slot: UInt16, count: Int) -> [UInt8] {
        memory.read(FakeNetDriver.rxBuffers + 0x1000 * UInt64(slot), count: count)!
    }

    /// Sends `packet` (header included) split over `pieces` readable descriptors on queue 1.
    mutating func transmit(_ packet: [UInt8], pieces: Int = 1, writable: Bool = false) {
        let base = FakeNetDriver.txBuffers + 0x1000 * UInt64(txAvailIndex % FakeVirtioDriver.queueSize)
        memory.write(base, bytes: packet)
        let step = max(1, (packet.count + pieces - 1) / pieces)
        var offsets = Array(stride(from: 0, to: max(packet.count, 1), by: step))
        if offsets.isEmpty { offsets = [0] }
        let head = UInt16(txAvailIndex % FakeVirtioDriver.queueSize) * 2 % FakeVirtioDriver.queueSize
        for (position, start) in offsets.enumerated() {
            let index = (head + UInt16(position)) % FakeVirtioDriver.queueSize
            let last = position == offsets.count - 1
            let length = UInt32(min(step, packet.count - start))
            driver.writeDescriptor(table: FakeNetDriver.txTable, index: index, address: base + UInt64(start),
                                   length: length, flags: (last ? 0 : 1) | (writable ? 2 : 0),
                                   next: last ? 0 : (index + 1) % FakeVirtioDriver.queueSize)
        }
        memory.store(head, at: FakeNetDriver.txAvail + 4 + 2 * UInt64(txAvailIndex % FakeVirtioDriver.queueSize))
        txAvailIndex &+= 1
        memory.store(txAvailIndex, at: FakeNetDriver.txAvail + 2)
        driver.probe.write(0x050, 1)
    }

    var txUsedIndex: UInt16 { memory.load(UInt16.self, at: FakeNetDriver.txUsed + 2)! }
    var needsReset: Bool { mutating get { driver.status() & 0x40 != 0 } }
}

/// An Ethernet frame of `length` bytes: broadcast destination, the guest's source, then a counting pattern.
func ethernetFrame(length: Int, seed: UInt8 = 0) -> [UInt8] {
    let header: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + VirtioNet.defaultMAC + [0x08, 0x00]
    return Array((header + (0..<max(0, length - 14)).map { UInt8(truncatingIfNeeded: $0 &+ Int(seed)) }).prefix(length))
}

final class VirtioNetTests: XCTestCase {
    func testIdentityMACAndLinkStatus() {
        var driver = FakeVirtioDriver(backend: VirtioNet(mac: [2, 0, 0, 0xaa, 0xbb, 0xcc]))
        XCTAssertEqual(driver.probe.read(0x008), 1, "device id 1: network card")
        let features = driver.probe.read(0x010)!
        XCTAssertEqual(features & (1 << 5), 1 << 5, "VIRTIO_NET_F_MAC")
        XCTAssertEqual(features & (1 << 16), 1 << 16, "VIRTIO_NET_F_STATUS")
        XCTAssertEqual(features & ((1 << 0) | (1 << 15) | (1 << 17)), 0, "no checksum offload, MRG_RXBUF or control queue")
        XCTAssertEqual((0..<6).map { UInt8(driver.probe.read(0x100 + UInt64($0), size: 1)!) }, [2, 0, 0, 0xaa, 0xbb, 0xcc])
        XCTAssertEqual(driver.probe.read(0x106, size: 2), 1, "VIRTIO_NET_S_LINK_UP")
        driver.probe.write(0x030, 1)
        XCTAssertEqual(driver.probe.read(0x034), 256, "a transmit queue")
        driver.probe.write(0x030, 2)
        XCTAssertEqual(driver.probe.read(0x034), 0, "no control queue")
        let status = driver.start(features: (1 << 32) | (1 << 5) | (1 << 16))
        XCTAssertEqual(status & 0x8, 0x8, "FEATURES_OK with MAC and STATUS")
    }

    func testReceivedFramesGoIntoPostedBuffersWithTheModernHeader() {
        var net = FakeNetDriver()
        net.postReceiveBuffer(slot: 0)
        net.postReceiveBuffer(slot: 1)
        XCTAssertEqual(net.driver.usedIndex, 0, "buffers wait for frames")
        XCTAssertTrue(net.driver.probe.take().sourceLevels.isEmpty)

        let first = ethernetFrame(length: 60, seed: 1), second = ethernetFrame(length: 1514, seed: 2)
        XCTAssertTrue(net.arrive(first))
        XCTAssertEqual(net.driver.usedIndex, 1)
        XCTAssertEqual(net.driver.usedElement(0).id, 0)
        XCTAssertEqual(net.driver.usedElement(0).length, 12 + 60)
        XCTAssertEqual(net.receiveBuffer(slot: 0, count: 12), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], "num_buffers 1")
        XCTAssertEqual(Array(net.receiveBuffer(slot: 0, count: 72)[12...]), first)
        XCTAssertEqual(net.driver.interruptStatus(), 1)
        XCTAssertEqual(net.driver.probe.take().sourceChanges, ["1=1"])
        net.driver.probe.write(0x064, 1)

        XCTAssertTrue(net.arrive(second))
        XCTAssertEqual(net.driver.usedElement(1).length, 12 + 1514)
        XCTAssertEqual(Array(net.receiveBuffer(slot: 1, count: 1526)[12...]), second)

        // No buffer left: the next frame waits, and goes in as soon as the driver posts one.
        let third = ethernetFrame(length: 42, seed: 3)
        XCTAssertTrue(net.arrive(third))
        XCTAssertEqual(net.driver.usedIndex, 2)
        XCTAssertEqual(net.net.pendingFrames, 1)
        net.postReceiveBuffer(slot: 2)
        XCTAssertEqual(net.driver.usedIndex, 3)
        XCTAssertEqual(Array(net.receiveBuffer(slot: 2, count: 54)[12...]), third)
        XCTAssertEqual(net.net.receivedFrames, 3)
        XCTAssertEqual(net.driver.status() & 0x40, 0)
    }

    func testLegacyDriverGetsTheTenByteHeader() {
        // Without VERSION_1 (the transport may or may not accept FEATURES_OK for it): 10-byte headers both ways.
        var net = FakeNetDriver(features: (1 << 5) | (1 << 16))
        XCTAssertEqual(net.net.currentHeaderSize, 10)
        net.postReceiveBuffer(slot: 0)
        let frame = ethernetFrame(length: 98, seed: 9)
        net.arrive(frame)
        XCTAssertEqual(net.driver.usedElement(0).length, 10 + 98)
        XCTAssertEqual(Array(net.receiveBuffer(slot: 0, count: 108)[10...]), frame)

        net.transmit([UInt8](repeating: 0, count: 10) + frame)
        XCTAssertEqual(net.txUsedIndex, 1)
        XCTAssertEqual(net.driver.probe.take().frames, [frame])
    }

    func testTransmittedFramesLeaveThroughTheEffects() {
        var net = FakeNetDriver()
        let frames = [ethernetFrame(length: 14), ethernetFrame(length: 342, seed: 5), ethernetFrame(length: 1518, seed: 6)]
        for (index, frame) in frames.enumerated() {
            net.transmit([UInt8](repeating: 0, count: 12) + frame, pieces: index + 1)
        }
        XCTAssertEqual(net.txUsedIndex, 3)
        let effects = net.driver.probe.take()
        XCTAssertEqual(effects.frames, frames, "in order, header stripped, pieces joined")
        XCTAssertEqual(effects.sourceChanges, ["1=1"])
        XCTAssertEqual(net.net.sentFrames, 3)
        XCTAssertEqual(net.driver.status() & 0x40, 0)
    }

    func testBadTransmitChainsAreDeviceErrorsTheGuestSees() {
        let cases: [(String, String, (inout FakeNetDriver) -> Void)] = [
            ("frame shorter than an Ethernet header", "13 bytes", { net in
                net.transmit([UInt8](repeating: 0, count: 12 + 13))
            }),
            ("header only", "0 bytes", { net in net.transmit([UInt8](repeating: 0, count: 12)) }),
            ("shorter than its header", "shorter than its 12-byte header", { net in
                net.transmit([UInt8](repeating: 0, count: 6))
            }),
            ("frame too long", "1519 bytes", { net in
                net.transmit([UInt8](repeating: 0, count: 12) + ethernetFrame(length: 1519), pieces: 2)
            }),
            ("huge chain", "bytes", { net in
                net.driver.writeDescriptor(table: FakeNetDriver.txTable, index: 0, address: 0x8001_0000,
                                           length: 0xffff_fff0, flags: 0)
                net.memory.store(UInt16(1), at: FakeNetDriver.txAvail + 2)
                net.driver.probe.write(0x050, 1)
            }),
            ("device-writable buffer", "device-writable", { net in
                net.transmit([UInt8](repeating: 0, count: 12) + ethernetFrame(length: 60), writable: true)
            }),
            ("buffer outside RAM", "outside RAM", { net in
                net.driver.writeDescriptor(table: FakeNetDriver.txTable, index: 0, address: 0x8010_0000 - 30,
                                           length: 100, flags: 0)
                net.memory.store(UInt16(1), at: FakeNetDriver.txAvail + 2)
                net.driver.probe.write(0x050, 1)
            }),
            ("GSO not offered", "GSO", { net in
                net.transmit([0, 1] + [UInt8](repeating: 0, count: 10) + ethernetFrame(length: 60))
            }),
            ("descriptor index out of range", "descriptor index", { net in
                net.driver.writeDescriptor(table: FakeNetDriver.txTable, index: 0, address: 0x8004_0000,
                                           length: 12, flags: 1, next: 99)
                net.memory.store(UInt16(1), at: FakeNetDriver.txAvail + 2)
                net.driver.probe.write(0x050, 1)
            }),
        ]
        for (name, message, breakIt) in cases {
            var net = FakeNetDriver()
            breakIt(&net)
            XCTAssertTrue(net.needsReset, name)
            XCTAssertEqual(net.driver.interruptStatus() & 2, 2, name)
            XCTAssertTrue(net.driver.probe.take().frames.isEmpty, name)
            let fault = net.driver.transport.fault?.message ?? ""
            XCTAssertTrue(fault.contains(message), "\(name): \(fault)")
        }
    }

    func testBadReceiveBuffersAreDeviceErrors() {
        let cases: [(String, UInt32, UInt16, String)] = [
            ("buffer too small for the frame", 100, 2, "receive buffer of 100 bytes for a 212-byte packet"),
            ("device-readable buffer", 1526, 0, "not device-writable"),
        ]
        for (name, length, flags, message) in cases {
            var net = FakeNetDriver()
            net.driver.writeDescriptor(index: 0, address: FakeNetDriver.rxBuffers, length: length, flags: flags)
            net.driver.makeAvailable(head: 0)
            net.arrive(ethernetFrame(length: 200))
            XCTAssertTrue(net.needsReset, name)
            XCTAssertTrue(net.driver.transport.fault!.message.contains(message), net.driver.transport.fault!.message)
        }
        var net = FakeNetDriver()
        net.driver.submit([(0x8010_0000 - 64, 1526, true)])
        net.arrive(ethernetFrame(length: 100))
        XCTAssertTrue(net.needsReset, "buffer past the end of RAM")
    }

    func testFramesOfImpossibleSizesAreRefusedAndAFullQueueDrops() {
        var net = FakeNetDriver(net: VirtioNet(pendingLimit: 2))
        XCTAssertFalse(net.arrive(ethernetFrame(length: 13)))
        XCTAssertFalse(net.arrive([UInt8](repeating: 1, count: 1519)))
        XCTAssertEqual(net.net.pendingFrames, 0)
        for seed in 0..<3 { XCTAssertTrue(net.arrive(ethernetFrame(length: 60, seed: UInt8(seed)))) }
        XCTAssertEqual(net.net.pendingFrames, 2)
        XCTAssertEqual(net.net.droppedFrames, 1)
        net.postReceiveBuffer(slot: 0)
        net.postReceiveBuffer(slot: 1)
        net.postReceiveBuffer(slot: 2)
        XCTAssertEqual(net.driver.usedIndex, 2)
        XCTAssertEqual(Array(net.receiveBuffer(slot: 1, count: 72)[12...]), ethernetFrame(length: 60, seed: 1),
                       "the oldest frames are kept")
    }

    func testResetDropsWaitingFramesAndStateHashFollowsTraffic() {
        func hash(_ frames: [[UInt8]], sent: [[UInt8]]) -> UInt64 {
            var net = FakeNetDriver()
            net.postReceiveBuffer(slot: 0)
            for frame in frames { net.arrive(frame) }
            for frame in sent { net.transmit([UInt8](repeating: 0, count: 12) + frame) }
            return net.driver.transport.stateHash()
        }
        let a = ethernetFrame(length: 60, seed: 1), b = ethernetFrame(length: 60, seed: 2)
        XCTAssertEqual(hash([a, b], sent: [a]), hash([a, b], sent: [a]))
        XCTAssertNotEqual(hash([a, b], sent: [a]), hash([a, a], sent: [a]), "a waiting frame counts")
        XCTAssertNotEqual(hash([a], sent: [a]), hash([b], sent: [a]), "a delivered frame counts")
        XCTAssertNotEqual(hash([a], sent: [a]), hash([a], sent: [b]), "a sent frame counts")

        var net = FakeNetDriver()
        net.arrive(a)
        XCTAssertEqual(net.net.pendingFrames, 1)
        net.driver.probe.write(0x070, 0)
        XCTAssertEqual(net.net.pendingFrames, 0)
    }
}
