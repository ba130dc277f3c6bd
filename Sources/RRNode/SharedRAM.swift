import Foundation
import RRBus

/// Guest RAM: one file in the run directory (tmpfs), mapped shared by every hart and DMA device.
public final class SharedRAM {
    public let base: UnsafeMutableRawPointer
    public let size: Int

    /// Creates (or truncates) the file at `path` with `size` zero bytes and maps it.
    public static func create(path: String, size: Int) throws -> SharedRAM {
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw NodeError("cannot create guest RAM at \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            throw NodeError("cannot size guest RAM at \(path) to \(size) bytes: \(String(cString: strerror(errno)))")
        }
        return try SharedRAM(descriptor: descriptor, size: size, path: path)
    }

    /// Maps an existing RAM file.
    public static func open(path: String, size: Int) throws -> SharedRAM {
        let descriptor = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw NodeError("cannot open guest RAM at \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        return try SharedRAM(descriptor: descriptor, size: size, path: path)
    }

    private init(descriptor: Int32, size: Int, path: String) throws {
        let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let mapping, mapping != MAP_FAILED else {
            throw NodeError("cannot map guest RAM at \(path): \(String(cString: strerror(errno)))")
        }
        base = mapping
        self.size = size
    }

    deinit { munmap(base, size) }
}
