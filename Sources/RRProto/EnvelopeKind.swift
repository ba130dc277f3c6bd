extension Rrvm_Envelope {
    /// A short name of the body's kind, for logs and errors ("mmio_request", "yield"...).
    public var kindName: String {
        guard let body else { return "empty" }
        let text = "\(body)"
        return String(text.prefix { $0 != "(" })
    }
}
