#include <uv.h>
#include <sys/prctl.h>

// prctl is variadic, which Swift cannot call: these fixed-argument wrappers can be.
static inline int rrvm_set_parent_death_signal(int signal_number) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal_number, 0UL, 0UL, 0UL);
}

static inline int rrvm_set_process_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

#include <sys/syscall.h>
#include <unistd.h>

// CPU affinity through the raw system calls: glibc's cpu_set_t macros need _GNU_SOURCE, which the Swift
// importer does not see. A plain bit mask of up to 1024 CPUs.
#define RRVM_CPU_MASK_WORDS 16
#define RRVM_CPU_WORD_BITS (8 * (int)sizeof(unsigned long))
#define RRVM_CPU_COUNT (RRVM_CPU_MASK_WORDS * RRVM_CPU_WORD_BITS)

// Whether `mask` holds `cpu` (0 <= cpu < RRVM_CPU_COUNT).
static inline int rrvm_mask_holds(const unsigned long *mask, int cpu) {
    return (mask[cpu / RRVM_CPU_WORD_BITS] >> (cpu % RRVM_CPU_WORD_BITS)) & 1;
}

static inline int rrvm_pin_to_cpu(int cpu) {
    unsigned long mask[RRVM_CPU_MASK_WORDS] = {0};
    if (cpu < 0 || cpu >= RRVM_CPU_COUNT) return -1;
    mask[cpu / RRVM_CPU_WORD_BITS] = 1UL << (cpu % RRVM_CPU_WORD_BITS);
    return (int)syscall(SYS_sched_setaffinity, 0, sizeof mask, mask);
}

// This thread's affinity mask (RRVM_CPU_MASK_WORDS words), read and set back: 0, or -1 with errno set.
static inline int rrvm_get_affinity(unsigned long *mask) {
    return syscall(SYS_sched_getaffinity, 0, RRVM_CPU_MASK_WORDS * sizeof(unsigned long), mask) < 0 ? -1 : 0;
}

static inline int rrvm_set_affinity(const unsigned long *mask) {
    return (int)syscall(SYS_sched_setaffinity, 0, RRVM_CPU_MASK_WORDS * sizeof(unsigned long), mask);
}

// How many CPUs this process may run on (-1 if unknown).
static inline int rrvm_allowed_cpu_count(void) {
    unsigned long mask[RRVM_CPU_MASK_WORDS] = {0};
    if (syscall(SYS_sched_getaffinity, 0, sizeof mask, mask) < 0) return -1;
    int count = 0;
    for (int word = 0; word < RRVM_CPU_MASK_WORDS; word++) count += __builtin_popcountl(mask[word]);
    return count;
}

// Whether this process may run on `cpu` (0 no, 1 yes, -1 unknown).
static inline int rrvm_cpu_allowed(int cpu) {
    unsigned long mask[RRVM_CPU_MASK_WORDS] = {0};
    if (cpu < 0 || cpu >= RRVM_CPU_COUNT) return 0;
    if (syscall(SYS_sched_getaffinity, 0, sizeof mask, mask) < 0) return -1;
    return rrvm_mask_holds(mask, cpu);
}

// The first CPU after `cpu` (wrapping round) that this process may run on, other than `cpu`; -1 if none or unknown.
static inline int rrvm_other_allowed_cpu(int cpu) {
    unsigned long mask[RRVM_CPU_MASK_WORDS] = {0};
    if (cpu < 0 || cpu >= RRVM_CPU_COUNT || syscall(SYS_sched_getaffinity, 0, sizeof mask, mask) < 0) return -1;
    for (int step = 1; step < RRVM_CPU_COUNT; step++) {
        int other = (cpu + step) % RRVM_CPU_COUNT;
        if (rrvm_mask_holds(mask, other)) return other;
    }
    return -1;
}

// The CPU this thread runs on now (-1 if unknown).
static inline int rrvm_current_cpu(void) {
    unsigned cpu = 0;
    if (syscall(SYS_getcpu, &cpu, (void *)0, (void *)0) != 0) return -1;
    return (int)cpu;
}

// SCHED_BATCH (3, a GNU extension the importer does not see): a process woken up does not preempt the
// running one; it runs when that one sleeps or its time slice ends.
static inline int rrvm_set_batch_scheduling(void) {
    int priority = 0;
    return (int)syscall(SYS_sched_setscheduler, 0, 3, &priority);
}

// This thread (and the threads it starts later) under the normal policy, SCHED_OTHER, asking for time slices of
// `nanoseconds` (sched_setattr's sched_runtime: Linux 6.12's EEVDF lets a task woken with a shorter slice preempt
// one running with a longer). Where the slice is refused, the normal policy alone. Returns 0, or -1 with errno set.
static inline int rrvm_set_short_slices(unsigned long long nanoseconds) {
    struct {
        unsigned int size, policy;
        unsigned long long flags;
        int nice;
        unsigned int priority;
        unsigned long long runtime, deadline, period;
    } attributes = {sizeof attributes, 0, 0, 0, 0, nanoseconds, 0, 0};
    if (syscall(SYS_sched_setattr, 0, &attributes, 0) == 0) return 0;
    int priority = 0;
    return (int)syscall(SYS_sched_setscheduler, 0, 0, &priority);
}

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <time.h>
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

// Futexes (the shared-memory lanes' doorbells; syscall(2) is variadic, which Swift cannot call). All of
// them are waited on and woken as shared futexes (not FUTEX_PRIVATE_FLAG), so that a word in a MAP_SHARED
// file and a word of this process alone are used alike. Wakes one waiter on `word`.
static inline int rrvm_futex_wake(uint32_t *word) {
    return (int)syscall(SYS_futex, word, FUTEX_WAKE, 1, (void *)0, (void *)0, 0);
}

// Sleeps while `word` holds `expected`, until woken or `timeout_ms` has passed (negative: no timeout).
// 0 when woken; -1 with errno EAGAIN (it did not hold `expected`), ETIMEDOUT or EINTR.
static inline int rrvm_futex_wait(uint32_t *word, uint32_t expected, long timeout_ms) {
    struct timespec timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    return (int)syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout_ms >= 0 ? &timeout : (struct timespec *)0,
                        (void *)0, 0);
}

// Sleeps until one of `count` 32-bit words (at most 128) is woken or no longer holds its expected value,
// or until `timeout_ms` has passed (negative: no timeout). Returns the index of a woken word, or -1 with
// errno EAGAIN (a word had changed already), ETIMEDOUT or EINTR. futex_waitv(2), Linux 5.16.
static inline int rrvm_futex_wait_any(uint32_t *const *words, const uint32_t *expected, int count, long timeout_ms) {
    struct futex_waitv waiters[FUTEX_WAITV_MAX];
    if (count < 1 || count > FUTEX_WAITV_MAX) { errno = EINVAL; return -1; }
    for (int index = 0; index < count; index++) {
        waiters[index].val = expected[index];
        waiters[index].uaddr = (uint64_t)(uintptr_t)words[index];
        waiters[index].flags = FUTEX_32;
        waiters[index].__reserved = 0;
    }
    struct timespec deadline;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec += 1; deadline.tv_nsec -= 1000000000L; }
    }
    return (int)syscall(SYS_futex_waitv, waiters, (unsigned)count, 0U,
                        timeout_ms >= 0 ? &deadline : (struct timespec *)0, CLOCK_MONOTONIC);
}
