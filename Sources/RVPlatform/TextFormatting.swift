/// Number formatting without Foundation's `String(format:)`, which would link Foundation's whole
/// internationalisation layer (ICU, about 60 MB) into every cluster process and lengthen each one's start.

/// `value` (not negative) in hexadecimal, lower case, zero-padded to at least `width` digits (printf's "%0*llx").
public func hexadecimal<Value: BinaryInteger>(_ value: Value, width: Int = 2) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// `value` with `decimals` digits after the point, right-aligned in `width` characters: printf's "%*.*f" for the
/// magnitudes figures have (the scaling by a power of ten may round a value lying within an ulp of a tie).
public func fixedPoint(_ value: Double, decimals: Int, width: Int = 0) -> String {
    guard value.isFinite else { return String(describing: value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded(.toNearestOrEven)
    let sign = value.sign == .minus ? "-" : "" // as printf: "-0.0" for a negative that rounds to zero
    var text: String
    if scaled >= 9.0e18 {
        text = sign + String(describing: abs(value)) // beyond what figures reach: left unformatted
    } else {
        let units = UInt64(scaled)
        let whole = units / UInt64(scale)
        text = sign + String(whole)
        if decimals > 0 {
            let fraction = String(units % UInt64(scale))
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
    }
    return text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// `text` without the white space (spaces, tabs, line ends) that begins and ends it.
public func trimmingWhitespace(_ text: some StringProtocol) -> String {
    guard let first = text.firstIndex(where: { !$0.isWhitespace }),
          let last = text.lastIndex(where: { !$0.isWhitespace }) else { return "" }
    return String(text[first...last])
}
