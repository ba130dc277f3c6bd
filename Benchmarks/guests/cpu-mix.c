// A CPU-bound bare-metal workload mixing integer arithmetic, memory traffic, branches, multiply/divide and
// double-precision arithmetic. Prints a checksum on the UART (0x1000_0000) and exits through the test
// finisher (start.S). ROUNDS scales the run: the default is about 1.07e9 instructions.
#include <stdint.h>

#ifndef ROUNDS
#define ROUNDS 400
#endif
// Which of the four parts run (bits: 1 table walk, 2 insertion sort, 4 modular arithmetic, 8 doubles), to
// measure one alone, e.g. build.sh OUT -DPARTS=4.
#ifndef PARTS
#define PARTS 15
#endif

#define UART_THR ((volatile uint8_t *)0x10000000)

static void put_char(char c) { *UART_THR = (uint8_t)c; }

static void put_string(const char *s) {
    while (*s) put_char(*s++);
}

static void put_hex(uint64_t value) {
    for (int shift = 60; shift >= 0; shift -= 4) put_char("0123456789abcdef"[(value >> shift) & 15]);
}

#define N 4096
static uint32_t table[N];
static int32_t keys[1024];
static double vectors[3][256];

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

// Memory and integer: a table walk with data-dependent indices.
static uint64_t walk_table(uint64_t seed) {
    for (int i = 0; i < N; i++) table[i] = (uint32_t)mix(seed + i);
    uint64_t acc = seed, index = 0;
    for (int step = 0; step < 4 * N; step++) {
        uint32_t v = table[index];
        acc = (acc << 5) + (acc >> 2) + v;
        table[index] = v ^ (uint32_t)acc;
        index = (v + step) & (N - 1);
    }
    return acc;
}

// Branches: insertion sort of pseudo-random keys.
static uint64_t sort_keys(uint64_t seed) {
    for (int i = 0; i < 1024; i++) keys[i] = (int32_t)mix(seed ^ (uint64_t)i);
    for (int i = 1; i < 1024; i++) {
        int32_t k = keys[i];
        int j = i - 1;
        while (j >= 0 && keys[j] > k) {
            keys[j + 1] = keys[j];
            j--;
        }
        keys[j + 1] = k;
    }
    uint64_t acc = 0;
    for (int i = 0; i < 1024; i += 7) acc = acc * 31 + (uint32_t)keys[i];
    return acc;
}

// Multiply and divide: modular exponentiation and gcds.
static uint64_t number_theory(uint64_t seed) {
    uint64_t acc = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t m = (mix(seed + i) >> 40) | 3, base = mix(i) % m, result = 1, e = 65537 + i;
        while (e) {
            if (e & 1) result = result * base % m;
            base = base * base % m;
            e >>= 1;
        }
        uint64_t a = mix(seed ^ i) >> 20, b = (mix(~seed + i) >> 30) | 1;
        while (b) {
            uint64_t t = a % b;
            a = b;
            b = t;
        }
        acc += result ^ a;
        acc += (int64_t)(acc ^ i) / (((int64_t)i - 1000) | 1);
    }
    return acc;
}

// Doubles: a small n-body style update and a Mandelbrot row.
static uint64_t floating(uint64_t seed) {
    for (int i = 0; i < 256; i++) {
        vectors[0][i] = (double)(mix(seed + i) % 1000) / 100.0;
        vectors[1][i] = (double)(mix(seed - i) % 1000) / 250.0 - 2.0;
        vectors[2][i] = 0.0;
    }
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 256; i++) {
            double x = vectors[0][i], v = vectors[1][i];
            double force = -x * 0.01 + v * 0.001 - (x * x * x) * 1e-5;
            vectors[1][i] = v + force;
            vectors[0][i] = x + vectors[1][i] * 0.1;
            vectors[2][i] += force * force;
        }
    }
    int inside = 0;
    for (int px = 0; px < 200; px++) {
        double cr = -2.0 + px * 0.0125, ci = ((double)(seed % 100) - 50.0) * 0.02;
        double zr = 0, zi = 0;
        int n = 0;
        while (n < 100 && zr * zr + zi * zi < 4.0) {
            double t = zr * zr - zi * zi + cr;
            zi = 2.0 * zr * zi + ci;
            zr = t;
            n++;
        }
        inside += n;
    }
    double sum = 0;
    for (int i = 0; i < 256; i++) sum += vectors[0][i] * 3.0 + vectors[2][i] / (1.0 + vectors[1][i] * vectors[1][i]);
    int64_t scaled = (int64_t)(sum * 1000.0);
    return (uint64_t)scaled + (uint64_t)inside;
}

// The whole workload; cpu-smp.c links one copy per hart (CPU_MIX_LIBRARY, each with its own name and so its
// own static data).
#ifndef CPU_MIX_ROUNDS
#define CPU_MIX_ROUNDS cpu_mix_rounds
#endif
uint64_t CPU_MIX_ROUNDS(void);
uint64_t CPU_MIX_ROUNDS(void) {
    uint64_t checksum = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t seed = mix(checksum + round);
        if (PARTS & 1) checksum = mix(checksum ^ walk_table(seed));
        if (PARTS & 2) checksum = mix(checksum ^ sort_keys(seed));
        if (PARTS & 4) checksum = mix(checksum ^ number_theory(seed));
        if (PARTS & 8) checksum = mix(checksum ^ floating(seed));
    }
    return checksum;
}

#ifndef CPU_MIX_LIBRARY
int main(void) {
    uint64_t checksum = CPU_MIX_ROUNDS();
    put_string("cpu-mix checksum ");
    put_hex(checksum);
    put_char('\n');
    return 0;
}
#endif
