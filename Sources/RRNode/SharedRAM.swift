#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus

/// Guest RAM, mapped shared by every hart and DMA device: an anonymous memory file that rrctl creates
/// (`createAnonymous`) and the others open by `path` (`/proc/RRCTL-PID/fd/N`), or a named file.
public final class SharedRAM {
    public let base: UnsafeMutableRawPointer
    public let size: Int
    /// Where the other processes open it.
    public let path: String
    /// Kept open by the creator of an anonymous file, so that it exists while the creator does.
    private var descriptor: Int32 = -1

    /// Creates `size` zero bytes of RAM in an anonymous memory file (memfd): it is named by no directory,
    /// so nothing of it outlives the run, however the run ends (even kill -9 of every process).
    public static func createAnonymous(size: Int) throws -> SharedRAM {
        let descriptor = createMemoryFile(name: "rrvm-ram")
        guard descriptor >= 0 else { throw NodeError("cannot create guest RAM: \(String(cString: strerror(errno)))") }
        guard ftruncate(descriptor, off_t(size)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw NodeError("cannot size guest RAM to \(size) bytes: \(reason)")
        }
        do {
            let ram = try SharedRAM(descriptor: descriptor, size: size, path: "/proc/\(getpid())/fd/\(descriptor)")
            ram.descriptor = descriptor
            return ram
        } catch {
            close(descriptor)
            throw error
        }
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
        self.path = path
    }

    deinit {
        munmap(base, size)
        if descriptor >= 0 { close(descriptor) }
    }
}
