import CSlirp
import RRBus
#if canImport(Glibc)
import Glibc
#endif

/// libslirp's functions, loaded (dlopen) when the first user network of a process starts instead of linked:
/// every process of a cluster runs one of a few executables that all contain RRNet, and only a device process
/// with `--net user` uses it. Linked, libslirp and what it needs (glib, pcre2) were loaded and relocated by
/// every process as it started: about 0.3 ms of CPU and 30 page faults each.
struct SlirpLibrary {
    typealias Slirp = OpaquePointer
    let new: @convention(c) (UnsafePointer<SlirpConfig>?, UnsafePointer<SlirpCb>?, UnsafeMutableRawPointer?) -> Slirp?
    let cleanup: @convention(c) (Slirp?) -> Void
    let input: @convention(c) (Slirp?, UnsafePointer<UInt8>?, Int32) -> Void
    let pollfdsFill: @convention(c) (Slirp?, UnsafeMutablePointer<UInt32>?, SlirpAddPollCb?, UnsafeMutableRawPointer?) -> Void
    let pollfdsPoll: @convention(c) (Slirp?, Int32, SlirpGetREventsCb?, UnsafeMutableRawPointer?) -> Void
    let addHostForward: @convention(c) (Slirp?, Int32, in_addr, Int32, in_addr, Int32) -> Int32

    /// The library of Debian's libslirp0 (what libslirp-dev's headers describe).
    static let fileName = "libslirp.so.0"

    /// The process's one copy, loaded at the first call; throws (one line) if the library or a function is missing.
    static func load() throws -> SlirpLibrary { try loaded.get() }

    private static let loaded: Result<SlirpLibrary, NodeError> = {
        guard let handle = dlopen(fileName, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(NodeError("user network: cannot load \(fileName) (Debian: libslirp0): \(lastError())"))
        }
        func function<T>(_ name: String) throws -> T {
            guard let address = dlsym(handle, name) else {
                throw NodeError("user network: \(fileName) has no \(name): \(lastError())")
            }
            return unsafeBitCast(address, to: T.self)
        }
        do {
            return .success(SlirpLibrary(
                new: try function("slirp_new"),
                cleanup: try function("slirp_cleanup"),
                input: try function("slirp_input"),
                pollfdsFill: try function("slirp_pollfds_fill"),
                pollfdsPoll: try function("slirp_pollfds_poll"),
                addHostForward: try function("slirp_add_hostfwd")))
        } catch {
            return .failure(error as? NodeError ?? NodeError("\(error)"))
        }
    }()

    private static func lastError() -> String { dlerror().map { String(cString: $0) } ?? "unknown reason" }
}
