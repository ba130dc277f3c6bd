#include <sys/syscall.h>
#include <unistd.h>

// Host calls glibc declares only with _GNU_SOURCE, which the Swift importer does not see.

// memfd_create(2) with MFD_CLOEXEC (1): an anonymous memory file (guest RAM, the translated-code arena).
static inline int rrvm_memfd_create(const char *name) {
    return (int)syscall(SYS_memfd_create, name, 1U);
}

// Asks for the cache line at `address` ahead of its use (a hint: it never faults).
static inline void rrvm_prefetch(const void *address) {
    __builtin_prefetch(address);
}
