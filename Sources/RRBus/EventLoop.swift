import CLibUV
import RVPlatform
#if canImport(Glibc)
import Glibc
#endif

/// A libuv loop. Every process of a cluster runs one on its main thread; all callbacks arrive there.
public final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>
    /// Connections whose frames travel through a shared lane: looked at before every poll.
    private var laneConnections: [Connection] = []
    /// The distinct doorbells `waitForWork` sleeps on (its buffer, reused).
    private var sleepDoorbells: [Doorbell] = []
    private var prepare: HandleBox<uv_prepare_t>?
    /// While there are lanes: the thread that tells this one when libuv has events (see `waitForWork`).
    private var watcher: LoopWatcher?
    /// Set by `stop()` for `run()`.
    private var stopRequested = false
    /// Whether a lane's doorbell rings only when this process goes back to its loop (right before it polls
    /// or sleeps) rather than as the frame is written. For a process kept to one CPU with its peers
    /// (`HostCPU`): a peer woken at once would take the CPU while this process still has work to finish
    /// (the rest of a callback, then going to sleep), which then runs, as a third context switch, before
    /// the peer's answer can; rung last, the peer runs as this process sleeps.
    public var defersDoorbells = false
    private var owedDoorbells: [Connection] = []
    /// A doorbell that also ends the loop's sleeps while it is set: a hart's on the turn board while it rests
    /// (`TurnBoard.beginRest`, which lowers it; the sleep does not, or a ring before it would be lost).
    var restingDoorbell: Doorbell?
    /// What must end with the loop (see `whenReleased`).
    private var releaseActions: [() -> Void] = []

    public init() {
        raw = .allocate(capacity: 1)
        let status = uv_loop_init(raw)
        precondition(status == 0, "uv_loop_init failed: \(uvErrorName(status))")
    }

    deinit {
        for action in releaseActions { action() }
        watcher?.stop()
        uv_loop_close(raw)
        raw.deallocate()
    }

    /// Runs `action` when the loop is released, before its memory is: for what outlives its users but must not
    /// outlive the loop, such as a signal watcher kept for every run of the process (a signal handle left open
    /// stays registered in libuv's process-wide table, and a later signal then writes through the freed loop).
    public func whenReleased(_ action: @escaping () -> Void) { releaseActions.append(action) }

    /// Runs until `stop()` is called or nothing is left to wait for.
    public func run() {
        stopRequested = false
        while !stopRequested && runOnce() {}
    }

    /// Runs one round of callbacks, waiting for at least one event; returns whether anything is left to wait for.
    /// With lanes, the wait is `waitForWork`'s, and a round a doorbell woke serves the lanes only.
    @discardableResult
    public func runOnce() -> Bool {
        guard !laneConnections.isEmpty else { return running { uv_run(raw, UV_RUN_ONCE) } != 0 }
        if waitForWork() == .lanes {
            serviceLanes()
            ringOwedDoorbells()
            return uv_loop_alive(raw) != 0
        }
        return runReady()
    }

    public func stop() {
        stopRequested = true
        uv_stop(raw)
    }

    /// Runs the callbacks that are ready, without waiting; returns whether anything is still pending.
    @discardableResult
    public func runReady() -> Bool { running { uv_run(raw, UV_RUN_NOWAIT) } != 0 }

    /// One round of polling for a process that expects a message within microseconds: runs what is
    /// ready, then lets any other runnable process on this CPU go first. Three pollers on two CPUs
    /// starve each other (a poller holds its CPU for a whole scheduler slice); pollers that yield hand
    /// the CPU to the one that has work within a context switch (measured on the bus benchmark and the
    /// Linux boot: a little faster than sleeping, and much steadier).
    /// With lanes, a round whose libuv has nothing to run (the watcher saw no event, no timer is due) serves the
    /// lanes only: libuv's round would cost an epoll_wait(2) per round, a slice's on smp-contend.
    public func poll() {
        if let watcher, !watcher.sawEvents && !hasWatchersOutsideEpoll && !libuvHasWorkDue {
            serviceLanes()
            ringOwedDoorbells()
        } else {
            runReady()
        }
        if yieldsWhilePolling { yieldCPU() }
    }

    /// Lets any other runnable process on this CPU go first (after `beforeYieldingCPU`).
    func yieldCPU() {
        beforeYieldingCPU?()
        sched_yield()
        cpuYields &+= 1
    }

    /// Called by `poll` right before it lets other processes of this CPU go first.
    var beforeYieldingCPU: (() -> Void)?

    /// Whether a lane holds frames not delivered yet (a look at its ring, no more).
    var hasLaneInput: Bool { laneConnections.contains { $0.hasLaneInput } }

    /// How many times `poll` has let other processes of this CPU go first.
    private(set) var cpuYields: UInt64 = 0

    /// Whether `poll` lets any other runnable process on this CPU go first at each round (see `poll`). A poller
    /// that knows no process of its CPU has work (a split cluster's sequencer waiting for a hart on another CPU)
    /// saves the system call and the scheduler's pass, about 1 µs a round here, off the time it takes to see the
    /// message it waits for.
    public var yieldsWhilePolling = true

    /// Whether libuv would run something without waiting: a timer due, a handle closing, a pending callback.
    private var libuvHasWorkDue: Bool {
        uv_update_time(raw)
        return uv_backend_timeout(raw) == 0
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

    /// Runs libuv; then what the watcher reported has been run.
    private func running(_ body: () -> Int32) -> Int32 {
        let alive = body()
        watcher?.acknowledge()
        return alive
    }

    private enum Wakening { case lanes, loop }

    /// With lanes, the loop sleeps here rather than in libuv: on its lanes' doorbell (FUTEX_WAIT; the sequencer's
    /// lanes share one, a peer has one lane), which the watcher also rings when libuv has events, until libuv's
    /// next timer. On one CPU a futex wake-up and sleep cost less than a pipe's through epoll (see `SharedLane`).
    /// First the lanes are served and their producers told to ring (after the doorbell is lowered, so that no
    /// ring is missed), and the doorbells owed are rung. Returns `.lanes` when only lanes can have work (frames
    /// were delivered, or a doorbell woke it), `.loop` when libuv's may have (its events, a timer due, a signal).
    /// Several doorbells (lanes of different sequencers in one process: tests) are slept on together
    /// (futex_waitv), with the watcher's own word.
    private func waitForWork() -> Wakening {
        for connection in laneConnections { connection.doorbell?.lower() }
        var delivered = false
        for connection in laneConnections where connection.serviceLane(beforeSleeping: true) { delivered = true }
        ringOwedDoorbells()
        guard !delivered, let watcher else { return .lanes }
        if watcher.sawEvents || hasWatchersOutsideEpoll || libuvHasWorkDue { return .loop }
        let timeout = Int(uv_backend_timeout(raw))
        sleepDoorbells.removeAll(keepingCapacity: true)  // kept between sleeps: no allocation per sleep
        var doorbells = sleepDoorbells
        sleepDoorbells = []
        defer { sleepDoorbells = doorbells }
        for connection in laneConnections {
            if let doorbell = connection.doorbell, !doorbells.contains(where: { $0.word == doorbell.word }) { doorbells.append(doorbell) }
        }
        if let restingDoorbell { doorbells.append(restingDoorbell) }
        if doorbells.count == 1 {
            // The watcher may have rung just before it knew what to ring: look once more once it knows.
            watcher.setTarget(doorbells[0])
            if !watcher.sawEvents { _ = rrvm_futex_wait(doorbells[0].word, Doorbell.quiet, timeout) }
            watcher.setTarget(nil)
        } else if !doorbells.isEmpty {
            let words: [UnsafeMutablePointer<UInt32>?] = doorbells.map(\.word) + [watcher.bell.word]
            let expected = [UInt32](repeating: Doorbell.quiet, count: words.count)
            _ = rrvm_futex_wait_any(words, expected, Int32(words.count), timeout)
        }
        // Whatever woke it (or a ring before the sleep began), libuv's events are the watcher's to tell.
        return watcher.sawEvents || (doorbells.allSatisfy { !$0.hasRung }) ? .loop : .lanes
    }

    /// Whether libuv holds descriptors it has not given to its epoll set yet: libuv 1.x queues a watcher started
    /// in a callback (a socket's reads, a write waiting for room) and adds it at its next poll. The loop must
    /// not sleep on a doorbell before that poll, or the watcher thread, which polls the epoll set, would not
    /// see their events.
    private var hasWatchersOutsideEpoll: Bool {
        withUnsafeMutablePointer(to: &raw.pointee.watcher_queue) { queue in
            // The queue is a ring of links: empty when its head's next link is itself.
            UnsafeMutableRawPointer(queue).load(as: UnsafeMutableRawPointer?.self) != UnsafeMutableRawPointer(queue)
        }
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
            loop.serviceLanes()
            loop.ringOwedDoorbells()
        }
        // Only the connections themselves keep the loop running.
        uv_unref(box.asHandle)
        prepare = box
        watcher = LoopWatcher(descriptor: uv_backend_fd(raw))
        precondition(watcher != nil, "cannot start the thread that watches the loop's descriptors: \(String(cString: strerror(errno)))")
    }

    func removeLaneConnection(_ connection: Connection) {
        laneConnections.removeAll { $0 === connection }
        owedDoorbells.removeAll { $0 === connection }
        if laneConnections.isEmpty, let prepare {
            // The box's attach retained the loop: closing it releases that reference.
            prepare.close()
            self.prepare = nil
            watcher?.stop()
            watcher = nil
        }
    }

    /// Delivers what the lanes hold (sleeping is `waitForWork`'s business, never libuv's once there are lanes).
    private func serviceLanes() {
        for connection in laneConnections { connection.serviceLane(beforeSleeping: false) }
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

    /// Monotonic host time in nanoseconds (never reaches guest-visible state, except through logged inputs): the
    /// cluster's one host clock (RVPlatform's, which `SliceTimes` notes too).
    public static func monotonicNanoseconds() -> UInt64 { RVPlatform.monotonicNanoseconds() }
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
