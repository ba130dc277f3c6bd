#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The host's monotonic clock (CLOCK_MONOTONIC) in nanoseconds: one clock for every process of a cluster, so that
/// times noted in different processes (`RRVM_SLICE_TIMES`) line up, and durations measured in one are not moved by
/// changes of the wall clock.
public func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}
