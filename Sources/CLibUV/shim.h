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
