/// A checkpoint message that cannot be turned back into a process's state (it came from another version, a
/// corrupted file or another machine): one line naming what is wrong.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `value` as a narrower integer, or a CheckpointError naming the field.
func narrow<T: FixedWidthInteger, U: BinaryInteger>(_ value: U, _ field: @autoclosure () -> String) throws -> T {
    guard let narrowed = T(exactly: value) else { throw CheckpointError("\(field()) \(value) is out of range") }
    return narrowed
}
