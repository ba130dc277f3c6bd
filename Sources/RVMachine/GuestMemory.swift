/// Guest RAM seen from the host: every access is bounds-checked against [guestBase, guestBase + size)
/// and fails (nil / false) when any byte of it falls outside, so that a guest-supplied address can
/// never reach host memory outside the mapping.
public struct GuestMemory {
    public let base: UnsafeMutableRawPointer
    public let guestBase: UInt64
    public let size: UInt64

    public init(base: UnsafeMutableRawPointer, guestBase: UInt64, size: UInt64) {
        self.base = base
        self.guestBase = guestBase
        self.size = size
    }

    /// Whether [address, address + length) lies entirely inside RAM (overflow-safe).
    @inline(__always)
    public func contains(_ address: UInt64, length: UInt64) -> Bool {
        guard address >= guestBase else { return false }
        let offset = address &- guestBase
        return offset <= size && length <= size &- offset
    }

    /// The host address of [address, address + length), or nil when any byte is outside RAM.
    @inline(__always)
    public func pointer(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        guard contains(address, length: length) else { return nil }
        return base + Int(address &- guestBase)
    }

    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) -> T? {
        guard let pointer = pointer(address, length: UInt64(MemoryLayout<T>.size)) else { return nil }
        return T(littleEndian: pointer.loadUnaligned(as: T.self))
    }

    @discardableResult
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) -> Bool {
        guard let pointer = pointer(address, length: UInt64(MemoryLayout<T>.size)) else { return false }
        pointer.storeBytes(of: value.littleEndian, as: T.self)
        return true
    }

    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, let pointer = pointer(address, length: UInt64(count)) else { return nil }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }

    @discardableResult
    public func write<C: Collection>(_ address: UInt64, bytes: C) -> Bool where C.Element == UInt8 {
        guard let pointer = pointer(address, length: UInt64(bytes.count)) else { return false }
        UnsafeMutableRawBufferPointer(start: pointer, count: bytes.count).copyBytes(from: bytes)
        return true
    }

    @discardableResult
    public func fill(_ address: UInt64, count: UInt64, with byte: UInt8 = 0) -> Bool {
        guard let pointer = pointer(address, length: count) else { return false }
        pointer.initializeMemory(as: UInt8.self, repeating: byte, count: Int(count))
        return true
    }
}
