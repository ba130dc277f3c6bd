import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// A libuv loop. Every process of a cluster runs one on its main thread; all callbacks arrive there.
public final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>
    /// Whether the current `uv_run` may sleep in the kernel (false while polling with `runReady`).
    private var mayBlock = true
    /// Connections whose frames travel through a shared lane: looked at before every poll.
    private var laneConnections: [Connection] = []
    private var prepare: HandleBox<uv_prepare_t>?
    /// Whether a lane's doorbell rings only when this process goes back to its loop (right before it polls
    /// or sleeps) rather than as the frame is written. For a process kept to one CPU with its peers
    /// (`HostCPU`): a peer woken at once would take the CPU while this process still has work to finish
    /// (the rest of a callback, then going to sleep), which then runs, as a third context switch, before
    /// the peer's answer can; rung last, the peer runs as this process sleeps.
    public var defersDoorbells = false
    private var owedDoorbells: [Connection] = []

    public init() {
        raw = .allocate(capacity: 1)
        let status = uv_loop_init(raw)
        precondition(status == 0, "uv_loop_init failed: \(uvErrorName(status))")
    }

    deinit {
        uv_loop_close(raw)
        raw.deallocate()
    }

    /// Runs until `stop()` is called or nothing is left to wait for.
    public func run() { running(mayBlock: true) { uv_run(raw, UV_RUN_DEFAULT) } }

    /// Runs one round of callbacks, waiting for at least one event; returns whether anything is left to wait for.
    @discardableResult
    public func runOnce() -> Bool { running(mayBlock: true) { uv_run(raw, UV_RUN_ONCE) } != 0 }

    public func stop() { uv_stop(raw) }

    /// Runs the callbacks that are ready, without waiting; returns whether anything is still pending.
    @discardableResult
    public func runReady() -> Bool { running(mayBlock: false) { uv_run(raw, UV_RUN_NOWAIT) } != 0 }

    /// One round of polling for a process that expects a message within microseconds: runs what is
    /// ready, then lets any other runnable process on this CPU go first. Three pollers on two CPUs
    /// starve each other (a poller holds its CPU for a whole scheduler slice); pollers that yield hand
    /// the CPU to the one that has work within a context switch (measured on the bus benchmark and the
    /// Linux boot: a little faster than sleeping, and much steadier).
    public func poll() {
        runReady()
        sched_yield()
    }

    /// Runs until `finished()`: polling (see `poll`) while `expectingMessage()` says one is due within
    /// microseconds, sleeping in the kernel otherwise. Returns early if nothing is left to wait for.
    public func run(pollingWhile expectingMessage: () -> Bool, until finished: () -> Bool) {
        while !finished() {
            if expectingMessage() {
                poll()
            } else if !runOnce() {
                return
            }
        }
    }

    /// Loops nest (a hart polls for its MMIO answer inside a callback), so the mode is restored after.
    @discardableResult
    private func running(mayBlock: Bool, _ body: () -> Int32) -> Int32 {
        let outer = self.mayBlock
        self.mayBlock = mayBlock
        defer { self.mayBlock = outer }
        return body()
    }

    func addLaneConnection(_ connection: Connection) {
        laneConnections.append(connection)
        guard prepare == nil else { return }
        // A prepare handle runs right before libuv polls: the moment to look at the lanes and, if the
        // poll may sleep, to tell their producers to ring.
        let box = HandleBox<uv_prepare_t>()
        uv_prepare_init(raw, box.handle)
        box.attach(self)
        uv_prepare_start(box.handle) { handle in
            guard let loop = owner(of: handle, as: EventLoop.self) else { return }
            loop.serviceLanes(beforeSleeping: loop.mayBlock)
            loop.ringOwedDoorbells()
        }
        // Only the connections themselves keep the loop running.
        uv_unref(box.asHandle)
        prepare = box
    }

    func removeLaneConnection(_ connection: Connection) {
        laneConnections.removeAll { $0 === connection }
        owedDoorbells.removeAll { $0 === connection }
        if laneConnections.isEmpty, let prepare {
            // The box's attach retained the loop: closing it releases that reference.
            prepare.close()
            self.prepare = nil
        }
    }

    private func serviceLanes(beforeSleeping: Bool) {
        for connection in laneConnections { connection.serviceLane(beforeSleeping: beforeSleeping) }
    }

    /// A doorbell to ring when the loop comes round (see `defersDoorbells`).
    func oweDoorbell(_ connection: Connection) {
        if !owedDoorbells.contains(where: { $0 === connection }) { owedDoorbells.append(connection) }
    }

    private func ringOwedDoorbells() {
        guard !owedDoorbells.isEmpty else { return }
        let owed = owedDoorbells
        owedDoorbells.removeAll(keepingCapacity: true)
        for connection in owed { connection.ringOwedDoorbell() }
    }

    /// Monotonic host time in nanoseconds (never reaches guest-visible state, except through logged inputs).
    public static func monotonicNanoseconds() -> UInt64 { uv_hrtime() }
}

/// Names a libuv error code, e.g. "ECONNREFUSED (connection refused)".
public func uvErrorName(_ code: Int32) -> String {
    "\(String(cString: uv_err_name(code))) (\(String(cString: uv_strerror(code))))"
}

/// Owns one heap-allocated libuv handle whose `data` points back at a Swift object. The object stays
/// alive while the handle is open; `close()` releases it once libuv is done with the memory.
final class HandleBox<Handle> {
    let handle: UnsafeMutablePointer<Handle>
    private(set) var isClosed = false

    /// `byteCount` may exceed the size of `Handle` when one box holds either of two stream types.
    init(byteCount: Int = MemoryLayout<Handle>.size) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 16)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        handle = raw.bindMemory(to: Handle.self, capacity: 1)
    }

    var asHandle: UnsafeMutablePointer<uv_handle_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)
    }

    var asStream: UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self)
    }

    func raw<T>(as type: T.Type) -> UnsafeMutablePointer<T> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: T.self)
    }

    /// Ties `owner` to the handle: it is retained until the handle is closed.
    func attach(_ owner: AnyObject) {
        asHandle.pointee.data = Unmanaged.passRetained(owner).toOpaque()
    }

    /// Closes the handle; the owner is released and the memory freed in libuv's close callback.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if uv_is_closing(asHandle) != 0 { return }
        uv_close(asHandle) { handle in
            guard let handle else { return }
            if let data = handle.pointee.data {
                Unmanaged<AnyObject>.fromOpaque(data).release()
            }
            UnsafeMutableRawPointer(handle).deallocate()
        }
    }
}

/// The Swift object a libuv handle belongs to (set by `HandleBox.attach`).
func owner<T: AnyObject, H>(of handle: UnsafeMutablePointer<H>?, as type: T.Type) -> T? {
    guard let handle else { return nil }
    let base = UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)
    guard let data = base.pointee.data else { return nil }
    return Unmanaged<T>.fromOpaque(data).takeUnretainedValue()
}

/// A one-shot or repeating timer on the loop.
public final class LoopTimer {
    private let box = HandleBox<uv_timer_t>()
    private var callback: (() -> Void)?

    public init(loop: EventLoop) {
        uv_timer_init(loop.raw, box.handle)
        box.attach(self)
    }

    /// Calls `callback` after `milliseconds`, and then every `repeatMilliseconds` if that is non-zero.
    public func start(milliseconds: UInt64, repeatMilliseconds: UInt64 = 0, _ callback: @escaping () -> Void) {
        self.callback = callback
        uv_timer_start(box.handle, { handle in
            owner(of: handle, as: LoopTimer.self)?.callback?()
        }, milliseconds, repeatMilliseconds)
    }

    public func stop() { uv_timer_stop(box.handle) }

    public func close() {
        callback = nil
        box.close()
    }
}

/// Watches a POSIX signal on the loop (SIGINT, SIGTERM, SIGCHLD...).
public final class SignalWatcher {
    private let box = HandleBox<uv_signal_t>()
    private let callback: (Int32) -> Void

    public init(loop: EventLoop, signal: Int32, _ callback: @escaping (Int32) -> Void) {
        self.callback = callback
        uv_signal_init(loop.raw, box.handle)
        box.attach(self)
        uv_signal_start(box.handle, { handle, signum in
            owner(of: handle, as: SignalWatcher.self)?.callback(signum)
        }, signal)
        // A signal watcher alone must not keep the loop running.
        uv_unref(box.asHandle)
    }

    /// Whether the watcher alone keeps the loop running (by default it does not).
    public var keepsLoopRunning = false {
        didSet {
            guard !box.isClosed else { return }
            if keepsLoopRunning { uv_ref(box.asHandle) } else { uv_unref(box.asHandle) }
        }
    }

    public func close() { box.close() }
}

extension EventLoop {
    /// Calls `callback` once after `milliseconds`; the timer is released afterwards.
    public func after(milliseconds: UInt64, _ callback: @escaping () -> Void) {
        let timer = LoopTimer(loop: self)
        timer.start(milliseconds: milliseconds) {
            timer.close()
            callback()
        }
    }
}
