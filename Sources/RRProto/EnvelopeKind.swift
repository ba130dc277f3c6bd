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

extension Rrvm_DeviceSpec {
    /// Whether a hart waits for its writes to finish: devices that change guest RAM (DMA) and the
    /// interrupt controllers, whose effect on the writing hart's own lines must be seen right after the
    /// store. Other writes are posted.
    public var writesAreWaitedFor: Bool { dma || kind == "clint" || kind == "plic" }
}

extension Array where Element == Rrvm_StableRead {
    /// The declared read of `size` bytes at `offset`, if the device declared that one stable.
    public func read(offset: UInt64, size: UInt32) -> Rrvm_StableRead? {
        first { $0.offset == offset && $0.size == size }
    }
}
