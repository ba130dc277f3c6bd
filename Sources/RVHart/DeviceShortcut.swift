/// Device accesses the hart completes without stopping: one read whose value the device promised, and
/// byte writes to one register the device declared output only (a console's transmit register). Whoever
/// runs the hart arms it between runs (`Hart.deviceShortcut`); the interpreter then answers that read and
/// keeps those bytes, counting both, and stops with `.mmio` only for any other device access or once
/// `outputRoom` bytes are kept. After each `run` the owner takes what was gathered (`take`).
///
/// A console driver polls the line status before every byte: with the shortcut armed, the polling loop and
/// its writes run at interpreter speed, with no stop per access.
public struct DeviceShortcut {
    /// The armed read: physical address, size in bytes (0: none) and the value it returns.
    public var readAddress: UInt64 = 0
    public var readSize: UInt64 = 0
    public var readValue: UInt64 = 0
    /// The armed output register (a 1-byte write at this physical address), and how many bytes it may still
    /// keep (0: none armed).
    public var outputAddress: UInt64 = 0
    public var outputRoom = 0

    /// What was gathered: reads answered, bytes kept, and the hart's retired count before the last access
    /// it completed (the instruction that made it is not counted).
    public private(set) var reads: UInt64 = 0
    public private(set) var output: [UInt8] = []
    public private(set) var lastAccessRetired: UInt64 = 0

    public init() {}

    /// Whether anything was gathered since the last `take`.
    public var hasGathered: Bool { reads > 0 || !output.isEmpty }

    /// Disarms both the read and the output register (what was gathered stays until `take`).
    public mutating func disarm() {
        readSize = 0
        outputRoom = 0
    }

    /// Hands over what was gathered and starts counting afresh.
    public mutating func take() -> (reads: UInt64, output: [UInt8], lastAccessRetired: UInt64) {
        let gathered = (reads, output, lastAccessRetired)
        reads = 0
        output = []
        return gathered
    }

    /// The interpreter's read: the armed value if the access is the armed read.
    @inline(__always)
    mutating func read(_ address: UInt64, size: UInt64, retired: UInt64) -> UInt64? {
        guard readSize == size && readAddress == address else { return nil }
        reads &+= 1
        lastAccessRetired = retired
        return readValue
    }

    /// The interpreter's write: whether the armed output register kept it.
    @inline(__always)
    mutating func write(_ address: UInt64, size: UInt64, value: UInt64, retired: UInt64) -> Bool {
        guard outputRoom > 0 && size == 1 && outputAddress == address else { return false }
        if output.isEmpty { output.reserveCapacity(outputRoom) }
        output.append(UInt8(truncatingIfNeeded: value))
        outputRoom -= 1
        lastAccessRetired = retired
        return true
    }
}
