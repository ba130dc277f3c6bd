/// One buffer of a descriptor chain, as the driver described it. Its address and length are the guest's
/// and still unchecked: whoever touches the bytes goes through `GuestMemory`.
public struct VirtqBuffer: Equatable {
    public var address: UInt64
    public var length: UInt32
    public var deviceWritable: Bool

    public init(address: UInt64, length: UInt32, deviceWritable: Bool) {
        self.address = address
        self.length = length
        self.deviceWritable = deviceWritable
    }
}

/// A queue that the device can no longer use; the transport answers with DEVICE_NEEDS_RESET.
public struct VirtqueueFault: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A split virtqueue's registers and ring positions (virtio 1.2, 2.7). Public as a value only, for
/// checkpoints (`VirtioMMIO.State`); the transport alone works on it.
public struct SplitVirtqueue: Equatable {
    static let descriptorSize: UInt64 = 16
    static let flagNext: UInt16 = 1
    static let flagWrite: UInt16 = 2
    static let flagIndirect: UInt16 = 4
    static let availNoInterrupt: UInt16 = 1
    /// The longest indirect table accepted (QEMU's VIRTQUEUE_MAX_SIZE).
    static let maxIndirectDescriptors: UInt64 = 1024

    public var size: UInt16
    public var ready = false
    public var descriptorTable: UInt64 = 0
    public var availRing: UInt64 = 0
    public var usedRing: UInt64 = 0
    public var lastAvailIndex: UInt16 = 0
    public var usedIndex: UInt16 = 0

    public init(size: UInt16) { self.size = size }

    /// Checks what QueueReady = 1 promises: a power-of-two size within the maximum and three aligned
    /// rings inside RAM.
    func validate(maxSize: UInt16, memory: GuestMemory) -> VirtqueueFault? {
        guard size > 0, size <= maxSize, size & (size - 1) == 0 else {
            return VirtqueueFault("queue size \(size) is not a power of two in 1...\(maxSize)")
        }
        let count = UInt64(size)
        let rings: [(String, UInt64, UInt64, UInt64)] = [
            ("descriptor table", descriptorTable, SplitVirtqueue.descriptorSize * count, 16),
            ("available ring", availRing, 4 + 2 * count, 2),
            ("used ring", usedRing, 4 + 8 * count, 4),
        ]
        for (ring, address, length, alignment) in rings {
            guard address % alignment == 0 else {
                return VirtqueueFault("\(ring) at \(hex(address)) is not \(alignment)-byte aligned")
            }
            guard memory.contains(address, length: length) else {
                return VirtqueueFault("\(ring) at \(hex(address)) (\(length) bytes) is outside RAM")
            }
        }
        return nil
    }

    /// The next chain the driver made available, with its head index; nil when there is none.
    mutating func nextAvailable(memory: GuestMemory, indirectAllowed: Bool) throws -> (head: UInt16, [VirtqBuffer])? {
        guard let availIndex = memory.load(UInt16.self, at: availRing + 2) else {
            throw VirtqueueFault("available ring outside RAM")
        }
        guard availIndex != lastAvailIndex else { return nil }
        guard availIndex &- lastAvailIndex <= size else {
            throw VirtqueueFault("available index \(availIndex) is more than \(size) ahead of \(lastAvailIndex)")
        }
        let slot = UInt64(lastAvailIndex % size)
        guard let head = memory.load(UInt16.self, at: availRing + 4 + 2 * slot) else {
            throw VirtqueueFault("available ring outside RAM")
        }
        let chain = try walkChain(head: head, memory: memory, indirectAllowed: indirectAllowed)
        lastAvailIndex &+= 1
        return (head, chain)
    }

    /// Follows a chain through the descriptor table (and at most one indirect table), refusing indices
    /// out of range, loops (more descriptors than the table holds), nested or malformed indirect tables,
    /// and device-readable buffers after device-writable ones.
    func walkChain(head: UInt16, memory: GuestMemory, indirectAllowed: Bool) throws -> [VirtqBuffer] {
        var buffers: [VirtqBuffer] = []
        var table = descriptorTable
        var tableCount = UInt64(size)
        var index = UInt64(head)
        var visited: UInt64 = 0
        var inIndirectTable = false
        var seenWritable = false
        while true {
            guard index < tableCount else {
                throw VirtqueueFault("descriptor index \(index) outside a table of \(tableCount)")
            }
            visited += 1
            guard visited <= tableCount else {
                throw VirtqueueFault("descriptor chain from \(head) loops or is longer than its table (\(tableCount))")
            }
            let at = table + index * SplitVirtqueue.descriptorSize
            guard let address = memory.load(UInt64.self, at: at), let length = memory.load(UInt32.self, at: at + 8),
                  let flags = memory.load(UInt16.self, at: at + 12), let next = memory.load(UInt16.self, at: at + 14)
            else { throw VirtqueueFault("descriptor at \(hex(at)) is outside RAM") }

            if flags & SplitVirtqueue.flagIndirect != 0 {
                guard indirectAllowed else {
                    throw VirtqueueFault("indirect descriptor without VIRTIO_F_INDIRECT_DESC")
                }
                guard !inIndirectTable else { throw VirtqueueFault("indirect descriptor inside an indirect table") }
                guard flags & SplitVirtqueue.flagNext == 0 else {
                    throw VirtqueueFault("indirect descriptor with VIRTQ_DESC_F_NEXT")
                }
                let count = UInt64(length) / SplitVirtqueue.descriptorSize
                guard length > 0, UInt64(length) % SplitVirtqueue.descriptorSize == 0,
                      count <= SplitVirtqueue.maxIndirectDescriptors else {
                    throw VirtqueueFault("indirect table of \(length) bytes")
                }
                guard memory.contains(address, length: UInt64(length)) else {
                    throw VirtqueueFault("indirect table at \(hex(address)) is outside RAM")
                }
                table = address
                tableCount = count
                index = 0
                visited = 0
                inIndirectTable = true
                continue
            }

            let writable = flags & SplitVirtqueue.flagWrite != 0
            guard writable || !seenWritable else {
                throw VirtqueueFault("device-readable descriptor after a device-writable one")
            }
            seenWritable = seenWritable || writable
            buffers.append(VirtqBuffer(address: address, length: length, deviceWritable: writable))
            guard flags & SplitVirtqueue.flagNext != 0 else { return buffers }
            index = UInt64(next)
        }
    }

    /// Returns a chain to the driver through the used ring.
    mutating func putUsed(head: UInt16, length: UInt32, memory: GuestMemory) throws {
        let element = usedRing + 4 + 8 * UInt64(usedIndex % size)
        usedIndex &+= 1
        guard memory.store(UInt32(head), at: element), memory.store(length, at: element + 4),
              memory.store(usedIndex, at: usedRing + 2) else {
            throw VirtqueueFault("used ring outside RAM")
        }
    }

    func interruptSuppressed(memory: GuestMemory) -> Bool {
        (memory.load(UInt16.self, at: availRing) ?? 0) & SplitVirtqueue.availNoInterrupt != 0
    }

    func hash(into hasher: inout StateHasher) {
        hasher.combine(size)
        hasher.combine(ready)
        hasher.combine(descriptorTable)
        hasher.combine(availRing)
        hasher.combine(usedRing)
        hasher.combine(lastAvailIndex)
        hasher.combine(usedIndex)
    }
}

/// A run of guest buffers seen as one byte stream (a request's readable or writable part).
public struct ScatterList {
    public private(set) var segments: [(address: UInt64, length: UInt64)]

    public init(_ buffers: [VirtqBuffer]) {
        segments = buffers.filter { $0.length > 0 }.map { ($0.address, UInt64($0.length)) }
    }

    public var totalLength: UInt64 { segments.reduce(0) { $0 + $1.length } }

    /// The bytes [start, start + count) of the stream; nil if the stream is shorter or a byte is outside RAM.
    public func read(from start: UInt64, count: UInt64, memory: GuestMemory) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(Int(min(count, 1 << 20)))
        let complete = forEachPiece(from: start, count: count, memory: memory) { pointer, length in
            result.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: length))
            return true
        }
        return complete ? result : nil
    }

    /// Host pointers for the bytes [start, start + count) piece by piece; false if the stream is shorter,
    /// a byte is outside RAM (checked for every piece before `body` sees any), or `body` returns false.
    public func forEachPiece(from start: UInt64, count: UInt64, memory: GuestMemory,
                             _ body: (UnsafeMutableRawPointer, Int) -> Bool) -> Bool {
        var pieces: [(UnsafeMutableRawPointer, Int)] = []
        var skip = start
        var remaining = count
        for segment in segments where remaining > 0 {
            if skip >= segment.length {
                skip -= segment.length
                continue
            }
            let length = min(segment.length - skip, remaining)
            let (address, wrapped) = segment.address.addingReportingOverflow(skip)
            guard !wrapped, let pointer = memory.pointer(address, length: length) else { return false }
            pieces.append((pointer, Int(length)))
            remaining -= length
            skip = 0
        }
        guard remaining == 0 else { return false }
        for (pointer, length) in pieces where !body(pointer, length) { return false }
        return true
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
