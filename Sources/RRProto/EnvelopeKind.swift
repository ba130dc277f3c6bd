import RVPlatform

extension Rrvm_Envelope {
    /// A short name of the body's kind, for logs and errors ("mmio_request", "yield"...).
    public var kindName: String {
        guard let body else { return "empty" }
        // The case name as the schema spells the field: mmioRequest(...) -> mmio_request.
        var name = ""
        for character in "\(body)".prefix(while: { $0 != "(" }) {
            if character.isUppercase { name += "_" + character.lowercased() } else { name.append(character) }
        }
        return name
    }
}

extension Rrvm_DeviceKind {
    /// The wire number of a kind (the numbers are the same on both sides).
    public init(_ kind: DeviceKind) {
        self = Rrvm_DeviceKind(rawValue: Int(kind.rawValue)) ?? .unspecified
    }

    /// The kind this number names; nil for 0 or a number this build does not know.
    public var platformKind: DeviceKind? {
        rawValue > 0 ? DeviceKind(rawValue: UInt32(clamping: rawValue)) : nil
    }
}

extension Rrvm_DeviceSpec {
    /// The kind's name ("uart", "virtio-blk"...), for messages and process titles.
    public var kindName: String { kind.platformKind?.name ?? "unknown kind \(kind.rawValue)" }
}

extension Rrvm_StableRead {
    /// Which of the registers this entry declares (itself, then its `more_values`) is the one of `size` bytes at
    /// `offset`: 0 for the first, k for the one at offset + k * stride; nil if none.
    public func registerIndex(offset: UInt64, size: UInt32) -> Int? {
        guard size == self.size, offset >= self.offset else { return nil }
        let distance = offset &- self.offset
        if distance == 0 { return 0 }
        guard stride != 0, distance % stride == 0, distance / stride <= UInt64(moreValues.count) else { return nil }
        return Int(distance / stride)
    }

    /// The declared value of register `index` (see `registerIndex`).
    public func registerValue(_ index: Int) -> UInt64 { index == 0 ? value : moreValues[index - 1] }

    public mutating func setRegisterValue(_ newValue: UInt64, at index: Int) {
        if index == 0 { value = newValue } else { moreValues[index - 1] = newValue }
    }

    /// Register `index` of this entry as a plain record (its value, mask and line).
    public func declaredRegister(_ index: Int) -> DeclaredRegister {
        DeclaredRegister(value: registerValue(index), setByWriteMask: setByWriteMask,
                         lineHart: lineMipBit != 0 ? lineHart &+ UInt32(index) : lineHart, lineMipBit: lineMipBit,
                         lineIsTimerCompare: lineIsTimerCompare)
    }
}

/// One declared register: its value, what a write sets of it, and the hart's line it drives (`lineMipBit` 0: none).
public struct DeclaredRegister: Equatable {
    public var value: UInt64
    public var setByWriteMask: UInt64
    public var lineHart: UInt32
    public var lineMipBit: UInt32
    public var lineIsTimerCompare: Bool
}

extension Array where Element == Rrvm_StableRead {
    // The entries are read in place (through a buffer pointer): the array's subscript, or a loop over it, takes a copy
    // of each (its arrays retained and released), and the harts and the sequencer look here on every access they answer.

    /// Where the declared register of `size` bytes at `offset` is: its entry, and its index in that entry.
    public func register(offset: UInt64, size: UInt32) -> (entry: Int, index: Int)? {
        withUnsafeBufferPointer { entries in
            for entry in entries.indices {
                if let index = entries[entry].registerIndex(offset: offset, size: size) { return (entry, index) }
            }
            return nil
        }
    }

    /// Register `place.index` of entry `place.entry` as a plain record (see `Rrvm_StableRead.declaredRegister`).
    public func declaredRegister(at place: (entry: Int, index: Int)) -> DeclaredRegister {
        withUnsafeBufferPointer { $0[place.entry].declaredRegister(place.index) }
    }

    /// Whether a write to `offset` leaves this declaration as it is: every entry lists that offset in
    /// `kept_by_writes_to` (the PLIC's completions). An empty declaration keeps nothing.
    public func isKept(byWriteTo offset: UInt64) -> Bool {
        !isEmpty && allSatisfy { $0.keptByWritesTo.contains(offset) }
    }

    /// The declared register a read of `size` bytes at `offset` reads, if the device declared that one stable.
    public func declaredRegister(offset: UInt64, size: UInt32) -> DeclaredRegister? {
        register(offset: offset, size: size).map { declaredRegister(at: $0) }
    }

    /// The value a read of `size` bytes at `offset` reads, if the device declared that one stable (`declaredRegister`'s
    /// value alone: the harts and the sequencer ask on every read they answer).
    public func readValue(offset: UInt64, size: UInt32) -> UInt64? {
        guard let (entry, index) = register(offset: offset, size: size) else { return nil }
        return withUnsafeBufferPointer { $0[entry].registerValue(index) }
    }
}
