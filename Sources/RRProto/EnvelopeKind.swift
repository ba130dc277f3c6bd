extension Rrvm_Envelope {
    /// A short name of the body's kind, for logs and errors ("mmio_request", "yield"...).
    public var kindName: String {
        guard let body else { return "empty" }
        let text = "\(body)"
        return String(text.prefix { $0 != "(" })
    }
}

extension Rrvm_DeviceSpec {
    /// Whether a hart waits for its writes to finish: devices that change guest RAM (DMA) and the
    /// interrupt controllers, whose effect on the writing hart's own lines must be seen right after the
    /// store. Other writes are posted.
    public var writesAreWaitedFor: Bool { dma || kind == "clint" || kind == "plic" }
}
