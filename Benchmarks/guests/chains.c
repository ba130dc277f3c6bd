// Two calibration loops for the interpreter, 200M instructions each (20M iterations of 8 addi, an addi and a
// branch): built with -DDEPENDENT every addi waits for the one before it (what one guest register through the
// host's memory costs), without it four chains interleave (what one dispatch costs when nothing waits).
#include <stdint.h>

int main(void) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (long i = 0; i < 20000000; i++) {
#ifdef DEPENDENT
        __asm__ volatile("addi %0,%0,1\n addi %0,%0,1\n addi %0,%0,1\n addi %0,%0,1\n"
                         "addi %0,%0,1\n addi %0,%0,1\n addi %0,%0,1\n addi %0,%0,1" : "+r"(a));
#else
        __asm__ volatile("addi %0,%0,1\n addi %1,%1,1\n addi %2,%2,1\n addi %3,%3,1\n"
                         "addi %0,%0,1\n addi %1,%1,1\n addi %2,%2,1\n addi %3,%3,1"
                         : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
#endif
    }
    return (int)((a + b + c + d) & 0);
}
