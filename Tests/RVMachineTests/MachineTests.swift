import RVMachine
import RVPlatform
import XCTest

final class GuestMemoryTests: XCTestCase {
    func testEveryByteMustBeInRAM() {
        let ram = FakeRAM(base: 0x8000_0000, size: 4096)
        let memory = ram.memory
        XCTAssertTrue(memory.store(UInt64(0x0102_0304_0506_0708), at: 0x8000_0ff8))
        XCTAssertEqual(memory.read(0x8000_0ff8, count: 8), [8, 7, 6, 5, 4, 3, 2, 1], "little-endian")
        XCTAssertEqual(memory.load(UInt32.self, at: 0x8000_0ffc), 0x0102_0304)
        XCTAssertNil(memory.load(UInt64.self, at: 0x8000_0ffc), "straddles the end")
        XCTAssertFalse(memory.store(UInt16(1), at: 0x8000_0fff))
        XCTAssertNil(memory.load(UInt8.self, at: 0x7fff_ffff), "below RAM")
        XCTAssertNil(memory.read(0xffff_ffff_ffff_fff0, count: 0x20), "wraps around")
        XCTAssertNil(memory.pointer(0x8000_0001, length: .max))
        XCTAssertFalse(memory.write(0x8000_0f00, bytes: [UInt8](repeating: 1, count: 0x101)))
        XCTAssertEqual(memory.load(UInt8.self, at: 0x8000_0f00), 0, "a refused write changes nothing")
        XCTAssertTrue(memory.fill(0x8000_0000, count: 4096, with: 0xaa))
        XCTAssertNotNil(memory.pointer(0x8000_1000, length: 0), "an empty range at the end")
        XCTAssertEqual(memory.load(UInt8.self, at: 0x8000_0fff), 0xaa)
    }
}

final class DeviceRegistryTests: XCTestCase {
    func testEveryKindOnceWithItsOwnWindowAndSource() {
        let all = DeviceRegistry.all
        XCTAssertEqual(Set(all.map(\.kind)), Set(DeviceKind.allCases), "every kind has exactly one entry")
        XCTAssertEqual(all.count, DeviceKind.allCases.count)
        for (index, a) in all.enumerated() {
            for b in all[(index + 1)...] {
                XCTAssertTrue(a.base + a.size <= b.base || b.base + b.size <= a.base, "\(a.name) overlaps \(b.name)")
                XCTAssertTrue(a.source == 0 || a.source != b.source, "\(a.name) and \(b.name) share a source")
            }
            XCTAssertTrue(a.source < PLIC.sourceCount)
            XCTAssertTrue(!a.dma || a.writesWait, "\(a.name): writes to a DMA device must be waited for")
            XCTAssertFalse(a.base < MemoryMap.bootROMBase + MemoryMap.bootROMSize && a.base + a.size > MemoryMap.bootROMBase)
            XCTAssertLessThanOrEqual(a.base + a.size, MemoryMap.ramBase, "\(a.name) overlaps RAM")
        }
    }

    func testWindowsAndVirtioSlots() {
        var config = MachineDescription(harts: 2, devices: MachineDescription.standardDevices.union([.virtioBlock, .virtioEntropy]))
        func kind(at address: UInt64) -> DeviceKind? { config.deviceTypes.first { $0.contains(address) }?.kind }
        XCTAssertEqual(kind(at: 0x1000_1004), .virtioBlock)
        XCTAssertEqual(kind(at: 0x1000_2000), .virtioEntropy)
        XCTAssertEqual(kind(at: 0x0c20_1004), .plic)
        XCTAssertEqual(kind(at: 0x0200_bff8), .clint)
        XCTAssertNil(kind(at: 0x1000_3000))
        config.devices.remove(.virtioBlock)
        XCTAssertEqual(config.deviceTypes.first { $0.kind == .virtioEntropy }?.base, 0x1000_2000,
                       "the entropy device keeps its address without a disk")
        XCTAssertEqual(DeviceRegistry.type(of: .virtioEntropy).source, 2)
        XCTAssertEqual(config.ramRange, 0x8000_0000..<0x8800_0000)
    }

    func testModelsAreBuiltFromTheirEntries() throws {
        let uart = DeviceRegistry.type(of: .uart)
        let model = try uart.make(DeviceContext(harts: 1, source: uart.source, memory: nil))
        XCTAssertEqual(model.name, "uart")
        XCTAssertThrowsError(try DeviceRegistry.type(of: .virtioEntropy).make(DeviceContext(harts: 1, source: 2, memory: nil)),
                             "a DMA device without guest RAM is refused, not built")
    }

    func testStateHashesAreDeterministic() {
        var a = StateHasher(), b = StateHasher()
        a.combine(bytes: [1, 2, 3])
        b.combine(bytes: [1, 2, 3])
        XCTAssertEqual(a.value, b.value)
        b.combine(0)
        XCTAssertNotEqual(a.value, b.value)
        // Pinned values: a log recorded by one build or process must replay in another, so neither the
        // digest nor the generator may depend on the process (as Swift's Hasher does) or change silently.
        var fixed = StateHasher()
        fixed.combine(UInt64(42))
        XCTAssertEqual(fixed.value, 0x2e1f_fdf3_7168_9938)
        // xoshiro256** seeded through splitmix64(0): the reference generator's first outputs.
        var random = DeterministicRandom(seed: 0)
        XCTAssertEqual(random.next(), 0x99ec_5f36_cb75_f2b4)
        XCTAssertEqual(random.next(), 0xbf6e_1f78_4956_452a)
    }

    /// Devices digest frames and disk writes from arrays, slices and raw buffers a word at a time; the digest must
    /// be the byte-at-a-time one (the logs' device checks hold it) for every length, whole words or not.
    func testByteDigestsAreTheSameFromEveryKindOfStorage() {
        func digest(_ feed: (inout StateHasher) -> Void) -> UInt64 {
            var hasher = StateHasher()
            hasher.combine(UInt64(7))
            feed(&hasher)
            return hasher.value
        }
        for count in 0...33 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            // A lazy sequence has no contiguous storage: it takes the byte-at-a-time path.
            let oneByOne = digest { $0.combine(bytes: (0..<count).lazy.map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }) }
            XCTAssertEqual(digest { $0.combine(bytes: bytes) }, oneByOne, "an array of \(count) bytes")
            let padded = [0xAA] + bytes + [0x55]
            XCTAssertEqual(digest { $0.combine(bytes: padded[1..<(count + 1)]) }, oneByOne, "a slice of \(count) bytes at an odd offset")
            padded.withUnsafeBytes { raw in
                XCTAssertEqual(digest { $0.combine(bytes: UnsafeRawBufferPointer(rebasing: raw[1..<(count + 1)])) }, oneByOne,
                               "\(count) bytes of raw memory")
            }
        }
        // Pinned (computed apart from this code): the digest of the bytes 1...13.
        var pinned = StateHasher()
        pinned.combine(bytes: [UInt8](1...13))
        XCTAssertEqual(pinned.value, 0x7b97_8ae8_09f4_9fc5)
    }
}
