import CHostCalls
import CLibUV
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif

/// Makes this process die with its supervisor: the kernel sends SIGKILL when the parent exits, and a
/// parent that already died before we asked is caught by comparing getppid() with the expected pid.
/// `signal` is SIGKILL for every role but the sequencer, which gets SIGTERM so that it can still write
/// the end of its log (and remove the run directory) when rrctl is killed.
public func dieWithParent(expectedParent: pid_t?, signal deathSignal: Int32 = SIGKILL) {
    _ = rrvm_set_parent_death_signal(deathSignal)
    isSupervised = expectedParent != nil
    if let expectedParent, getppid() != expectedParent {
        exit(1)
    }
    // Ctrl-C (and a signal sent to the whole process group, as `timeout` does) reaches every process;
    // only the supervisor decides what it means, and it ends the others through the sequencer.
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    signal(SIGHUP, SIG_IGN)
    signal(SIGPIPE, SIG_IGN)
}

/// Whether rrctl started this process (`--parent-pid`): then rrctl tells why a run ended, and a member
/// that merely lost the sequencer need not say so too.
public private(set) var isSupervised = false

/// A new anonymous memory file (memfd, close-on-exec): named by no directory, it is gone once the last
/// process holding or mapping it is. Returns the descriptor, or -1 with errno set.
public func createMemoryFile(name: String) -> Int32 {
    rrvm_memfd_create(name)
}

/// Sets the name shown by `ps -o comm`, `top` and gdb (15 bytes at most).
public func setProcessName(_ name: String) {
    _ = rrvm_set_process_name(name)
}

/// Writes "ROLE: message" to standard error.
public func report(_ role: String, _ message: String) {
    // write(2), not FileHandle: a closed or full standard error must not end the process.
    let line = Array("\(role): \(message)\n".utf8)
    _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
}

/// The exit status a process reports for a guest's status: exit statuses are 8 bits, so a status whose
/// low 8 bits are 0 (256, 0x100 << n) would read as success; any non-zero guest status must not.
/// Rule: 0 stays 0; otherwise the low 8 bits, or 255 when those are 0.
public func processExitStatus(guestStatus status: Int32) -> Int32 {
    if status == 0 { return 0 }
    return status & 0xFF == 0 ? 255 : status & 0xFF
}

/// Which host CPUs a cluster's processes use. Under the serial schedule one process of a cluster works at a
/// time, handing over to the next with each message. A wake-up on another CPU that is idle costs an
/// inter-processor interrupt and the idle CPU's return, 30-130 µs in this kind of virtual machine, against about
/// 2 µs for a wake-up on the waker's own CPU, so a process whose peer sleeps on another CPU waits long. rrctl
/// therefore places the cluster (`--cpu N` of each role; rrctl itself and its console stay free) in one of two ways:
/// - split (the default for several harts, where two CPUs may be used): the harts on one CPU, the sequencer and
///   the devices on another. The hart running a slice and the sequencer poll for each other's messages instead
///   of sleeping, each on its own CPU; the harts that wait for their next slice poll too, yielding the CPU at
///   each round, so the harts' CPU never idles between two slices and a hand-over from hart to hart needs no
///   wake-up. A device works only when the sequencer hands it an operation: it shares the sequencer's CPU and
///   sleeps at once. Polling is bounded (see the nodes): harts that only compute keep one CPU busy, an idle
///   guest next to none.
/// - one CPU (one hart, `RRVM_CPU=N`, or a machine or cpuset with one CPU): every member on it; then nobody polls
///   (the process it waits for shares its CPU) and the cluster never uses more than that CPU.
public enum HostCPU {
    /// The CPU this process runs on now, if known.
    public static var current: Int? {
        let cpu = rrvm_current_cpu()
        return cpu >= 0 ? Int(cpu) : nil
    }

    /// Keeps this process on `cpu` from now on (threads it starts later too). False if the system refuses
    /// (a CPU outside this process's cpuset, or no such CPU): then nothing changed.
    /// While the cluster starts, the process is a batch process (`useBatchScheduling`).
    public static func pin(to cpu: Int) -> Bool {
        guard cpu >= 0 && cpu <= Int(Int32.max) else { return false }
        if affinityBeforePinning == nil { affinityBeforePinning = affinity() }
        guard rrvm_pin_to_cpu(Int32(cpu)) == 0 else { return false }
        useBatchScheduling()
        return true
    }

    /// The CPUs this process could run on before `pin` kept it to one.
    nonisolated(unsafe) private static var affinityBeforePinning: [UInt]?

    /// A member whose run is over: a batch process again, on any CPU it could run on before it was pinned. The
    /// members then end side by side where there are several CPUs: each one's end (unmapping, closing) takes
    /// about half a millisecond, one after the other on a one-CPU cluster's CPU.
    public static func runIsOver() {
        useBatchScheduling()
        if let mask = affinityBeforePinning { _ = rrvm_set_affinity(mask) }
    }

    /// Where a member that starts on another CPU than its own (`--start-cpu`) goes once it has joined and set up.
    nonisolated(unsafe) private static var cpuAfterStart: Int?

    /// Keeps this process on `startCPU` while it starts, and on `cpu` once it calls `settle` (see `Placement` in
    /// rrctl's Cluster: a one-hart cluster starts its sequencer and devices on another CPU than the hart's, and
    /// they move beside it). False if the system refuses.
    public static func pin(to cpu: Int, startingOn startCPU: Int) -> Bool {
        cpuAfterStart = cpu
        return pin(to: startCPU)
    }

    /// A member started on another CPU than its own (`pin(to:startingOn:)`) goes to its own; otherwise nothing.
    /// False if the system refuses (the process then stays where it started).
    @discardableResult
    public static func settle() -> Bool {
        guard let cpu = cpuAfterStart else { return true }
        cpuAfterStart = nil
        return pin(to: cpu)
    }

    /// Runs `body` with this thread kept to `cpu` (nil: as it is), then as before: a process that `body` starts
    /// begins there, its loading and set-up done on that CPU rather than on the one it will run on.
    public static func whileOn<Result>(_ cpu: Int?, _ body: () throws -> Result) rethrows -> Result {
        guard let cpu, cpu >= 0, cpu <= Int(Int32.max), let saved = affinity(),
              rrvm_pin_to_cpu(Int32(cpu)) == 0 else { return try body() }
        defer { _ = rrvm_set_affinity(saved) }
        return try body()
    }

    /// This thread's affinity mask, nil if the system does not say.
    private static func affinity() -> [UInt]? {
        var mask = [UInt](repeating: 0, count: Int(RRVM_CPU_MASK_WORDS))
        return rrvm_get_affinity(&mask) == 0 ? mask : nil
    }

    /// SCHED_BATCH (woken, the process does not preempt the running one), for a member's start and end: a
    /// dozen processes setting up, or tearing down, on one CPU then do not preempt one another at every
    /// wake-up (with short slices there, a bare-metal run from rrctl's start to its exit took 2-3 ms longer).
    public static func useBatchScheduling() {
        _ = rrvm_set_batch_scheduling()
    }

    /// For the run (a member calls it once it has joined and set up; the sequencer once everyone has), where the
    /// process hands over to processes on another CPU: the normal policy with the shortest time slices the kernel
    /// grants, 100 µs, for this thread and the threads it starts later. A cluster's processes hand the machine to
    /// one another thousands of times a second, each hand-over a wake-up; when other programs keep the host's CPUs
    /// busy, a process woken as a batch process, or with the usual slices, waits out a busy program's slice
    /// (milliseconds) at every hand-over. Linux 6.12 and later let a task woken with a shorter slice run at once.
    /// A 4-hart Linux boot beside two programs that spin on this 2-CPU host: 1.8-2.2 s, against 11-15 s as batch
    /// processes and 4.0-4.4 s with the usual slices; on a quiet host the same within the noise.
    /// A process kept with the whole cluster on one CPU (`isAlone`; a device of a split cluster too, beside the
    /// sequencer) stays a batch process: whoever wakes it there sleeps at once, so nothing waits, even beside other
    /// work (a 1-hart boot beside two spinners 0.2-0.45 s either way), while short slices there cost a preemption
    /// per hand-over on a quiet host (a bare-metal run that prints: 2 ms of its 25).
    public static func useShortSlices() {
        guard !isAlone else { return useBatchScheduling() }
        answerJoinsAtOnce()
    }

    /// For the sequencer while the cluster starts (then for any process, `useShortSlices`): the normal policy with
    /// short slices, alone or not. Each member's join wakes the sequencer, and it answers at once, whatever member
    /// is still starting beside it (their starts are batch processes' and do not preempt one another).
    public static func answerJoinsAtOnce() {
        _ = rrvm_set_short_slices(100_000)
    }

    /// Whether this process may run on `cpu` (its affinity and cpuset allow it); true when that is unknown.
    public static func isAllowed(_ cpu: Int) -> Bool {
        cpu >= 0 && cpu <= Int(Int32.max) && rrvm_cpu_allowed(Int32(cpu)) != 0
    }

    /// Whether this process may run on one CPU only (pinned by rrctl, or by `taskset`) and the process it waits
    /// for shares that CPU: polling for its message only stands in its way, waiting means sleeping.
    public static var isAlone: Bool { !isSplit && rrvm_allowed_cpu_count() == 1 }

    /// Set (`--split`) in the sequencer and the harts of a split cluster: each waits for a process on another CPU.
    nonisolated(unsafe) public static var isSplit = false

    /// Another CPU than `cpu` that this process may run on (the next one up, wrapping round), if any.
    public static func other(than cpu: Int) -> Int? {
        guard cpu >= 0 && cpu <= Int(Int32.max) else { return nil }
        let other = rrvm_other_allowed_cpu(Int32(cpu))
        return other >= 0 ? Int(other) : nil
    }
}
