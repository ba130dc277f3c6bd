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

extension Array where Element == Rrvm_StableRead {
    /// The declared read of `size` bytes at `offset`, if the device declared that one stable.
    public func read(offset: UInt64, size: UInt32) -> Rrvm_StableRead? {
        first { $0.offset == offset && $0.size == size }
    }
}
