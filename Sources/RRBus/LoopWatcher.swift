import Atomics
import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// For a loop that sleeps on its lanes' doorbell (a futex word) rather than in libuv's epoll: a thread that
/// sleeps in poll(2) on the loop's epoll descriptor and, when anything libuv watches is ready (a socket, a
/// signal, a child's exit), raises `bell` and rings the doorbell the loop sleeps on (`target`). Once it has
/// rung it waits until the loop has run (`acknowledge`) before it polls again (the descriptor stays readable
/// until then). It costs nothing while libuv has nothing to report, which is the case between two slices.
final class LoopWatcher {
    /// 0 while the loop has nothing to report, 1 once the thread saw it has (a word of this process only).
    let bell: Doorbell
    private let storage: UnsafeMutablePointer<UInt32>
    /// The doorbell the loop sleeps on while it sleeps (lane memory may be unmapped once it wakes: the
    /// thread rings it only under `targetLock`, and the loop clears it under the same lock).
    private var target: Doorbell?
    private let targetLock: UnsafeMutablePointer<pthread_mutex_t>
    private let stopping = ManagedAtomic<Bool>(false)
    /// poll(2) also watches this pipe's read end, written to stop the thread.
    private let stopPipe: (read: Int32, write: Int32)
    private let descriptor: Int32
    private var thread = pthread_t()

    init?(descriptor: Int32) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        stopPipe = (ends[0], ends[1])
        self.descriptor = descriptor
        storage = .allocate(capacity: 1)
        storage.initialize(to: Doorbell.quiet)
        bell = Doorbell(UnsafeMutableRawPointer(storage))
        targetLock = .allocate(capacity: 1)
        pthread_mutex_init(targetLock, nil)
        let started = pthread_create(&thread, nil, { context in
            let watcher = Unmanaged<LoopWatcher>.fromOpaque(context!).takeRetainedValue()
            watcher.watch()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        guard started == 0 else {
            Unmanaged.passUnretained(self).release()
            return nil
        }
    }

    deinit {
        close(stopPipe.read)
        close(stopPipe.write)
        storage.deallocate()
        pthread_mutex_destroy(targetLock)
        targetLock.deallocate()
    }

    /// Stops the thread and waits for it (before the loop's descriptor closes).
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
        _ = rrvm_futex_wake(bell.word)
        pthread_join(thread, nil)
    }

    /// Whether libuv has something the loop has not run yet.
    var sawEvents: Bool { bell.hasRung }

    /// The doorbell the loop is about to sleep on (nil: none, it sleeps on `bell` among others, or woke).
    func setTarget(_ doorbell: Doorbell?) {
        pthread_mutex_lock(targetLock)
        target = doorbell
        pthread_mutex_unlock(targetLock)
    }

    /// The loop ran: the thread may watch again.
    func acknowledge() {
        guard bell.hasRung else { return }
        bell.lower()
        _ = rrvm_futex_wake(bell.word)
    }

    private func watch() {
        // Signals go to the loop's thread, where libuv's handlers expect them.
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        while !stopping.load(ordering: .sequentiallyConsistent) {
            var watched = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&watched, 2, -1)
            if ready < 0 && errno != EINTR { return }
            guard ready > 0, watched[1].revents == 0 else { continue }
            bell.ring()
            pthread_mutex_lock(targetLock)
            target?.ring()
            pthread_mutex_unlock(targetLock)
            while bell.hasRung && !stopping.load(ordering: .sequentiallyConsistent) {
                _ = rrvm_futex_wait(bell.word, 1, -1)
            }
        }
    }
}
