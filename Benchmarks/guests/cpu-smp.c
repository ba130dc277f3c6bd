// Four harts computing on private data: each runs cpu-mix's workload (ROUNDS rounds, about 260M instructions
// with the benchmark's ROUNDS=100) on its own copy of cpu-mix's tables (build.sh links one copy of
// cpu-mix.c per hart), sharing nothing but the counter of harts done. Hart 0 then prints every hart's
// checksum and exits through the test finisher (start.S). HARTS=1 gives the 1-hart build of the same
// program, for comparing a 4-hart run's aggregate MIPS with one hart's.
#include <stdint.h>

#ifndef HARTS
#define HARTS 4
#endif

#define UART_THR ((volatile uint8_t *)0x10000000)

uint64_t cpu_mix_rounds_0(void), cpu_mix_rounds_1(void), cpu_mix_rounds_2(void), cpu_mix_rounds_3(void);
static uint64_t (*const work[4])(void) = {cpu_mix_rounds_0, cpu_mix_rounds_1, cpu_mix_rounds_2, cpu_mix_rounds_3};
static uint64_t checksums[4];
static uint32_t done;

static void put_string(const char *s) {
    while (*s) *UART_THR = (uint8_t)*s++;
}

static void park(void) {
    for (;;) asm volatile("wfi");
}

int main(void) {
    uint64_t hart;
    asm volatile("csrr %0, mhartid" : "=r"(hart));
    if (hart >= HARTS) park();
    checksums[hart] = work[hart]();
    __atomic_fetch_add(&done, 1, __ATOMIC_RELEASE);
    if (hart != 0) park();
    // PAUSE while waiting: a spin-wait hint, so that rrvm runs the harts still computing.
    while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != HARTS) asm volatile(".insn i 0x0f, 0, x0, x0, 0x010");
    put_string("cpu-smp checksums");
    for (int h = 0; h < HARTS; h++) {
        put_string(" ");
        for (int shift = 60; shift >= 0; shift -= 4) *UART_THR = (uint8_t)"0123456789abcdef"[(checksums[h] >> shift) & 15];
    }
    put_string("\n");
    return 0;
}
