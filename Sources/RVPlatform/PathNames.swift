/// A path's parts, as text (no file system is consulted), without Foundation's `NSString` path methods.

/// The directory part of `path`: everything before its last '/' ("/" for a name at the root, "." for a bare name).
public func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The last part of `path` (after its last '/', trailing slashes aside): "b" for "/a/b" and "a/b/", "/" for "/".
public func lastPathComponent(of path: String) -> String {
    let trimmed = path.reversed().drop { $0 == "/" }
    guard !trimmed.isEmpty else { return path.isEmpty ? "" : "/" }
    return String(trimmed.prefix { $0 != "/" }.reversed())
}
