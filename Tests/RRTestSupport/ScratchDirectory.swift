import Foundation

/// A new directory of the test's own under the temporary directory, named `prefix` and a random suffix (so that runs
/// side by side do not meet); the caller removes it.
public func makeScratchDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    return path
}
