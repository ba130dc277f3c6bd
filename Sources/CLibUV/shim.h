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

// memfd_create(2) is not declared for Swift without _GNU_SOURCE; MFD_CLOEXEC is 1.
static inline int rrvm_memfd_create(const char *name) {
    return (int)syscall(SYS_memfd_create, name, 1U);
}

// CPU affinity through the raw system calls: glibc's cpu_set_t macros need _GNU_SOURCE, which the Swift
// importer does not see. A plain bit mask of up to 1024 CPUs.
#define RRVM_CPU_MASK_WORDS 16
#define RRVM_CPU_WORD_BITS (8 * (int)sizeof(unsigned long))

static inline int rrvm_pin_to_cpu(int cpu) {
    unsigned long mask[RRVM_CPU_MASK_WORDS] = {0};
    if (cpu < 0 || cpu >= RRVM_CPU_MASK_WORDS * RRVM_CPU_WORD_BITS) return -1;
    mask[cpu / RRVM_CPU_WORD_BITS] = 1UL << (cpu % RRVM_CPU_WORD_BITS);
    return (int)syscall(SYS_sched_setaffinity, 0, sizeof mask, mask);
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
    if (cpu < 0 || cpu >= RRVM_CPU_MASK_WORDS * RRVM_CPU_WORD_BITS) return 0;
    if (syscall(SYS_sched_getaffinity, 0, sizeof mask, mask) < 0) return -1;
    return (mask[cpu / RRVM_CPU_WORD_BITS] >> (cpu % RRVM_CPU_WORD_BITS)) & 1 ? 1 : 0;
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
