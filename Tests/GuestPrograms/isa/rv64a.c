/* rv64a: the A extension on one hart.
 * - LR/SC .W and .D: a successful SC writes 0 to rd and stores; an SC with no reservation (a second SC,
 *   or an SC to an address outside the LR's reservation set, here 4 KiB away) writes a nonzero rd and
 *   leaves memory unchanged; LR.W sign-extends; SC.W writes only its word; an LR/SC increment loop.
 * - every AMO in .W and .D form (SWAP, ADD, XOR, AND, OR, MIN, MAX, MINU, MAXU): the old value in rd
 *   (sign-extended for .W), the new value in memory, .W touching only its word and using only the low
 *   32 bits of rs2 (signed for MIN/MAX, unsigned for MINU/MAXU), wrap-around of AMOADD;
 * - the .aq, .rl and .aqrl forms, rd = x0, rd = rs2 (AMO and SC);
 * - LR and AMO on an unmapped address raise a load / store-AMO access fault.
 * Misaligned LR/SC/AMO are checked by the misaligned program, contention by smp-contend. */
#include "isa.h"

static volatile u64 cells[1024] __attribute__((aligned(4096)));

#define LR(op, addr) ({ u64 r_; asm volatile(op " %0, (%1)" : "=r"(r_) : "r"(addr) : "memory"); r_; })
#define SC(op, addr, v) ({ u64 r_; asm volatile(op " %0, %2, (%1)" : "=&r"(r_) : "r"(addr), "r"((u64)(v)) : "memory"); r_; })
#define AMO(op, addr, v) ({ u64 r_; asm volatile(op " %0, %2, (%1)" : "=&r"(r_) : "r"(addr), "r"((u64)(v)) : "memory"); r_; })

static void lr_sc(void) {
  volatile u64 *d = &cells[0];
  *d = 0x1122334455667788UL;
  CHECK_EQ(LR("lr.d", d), 0x1122334455667788UL, "lr.d reads");
  CHECK_EQ(SC("sc.d", d, 0xaUL), 0, "sc.d after lr.d succeeds");
  CHECK_EQ(*d, 0xa, "sc.d stored");
  CHECK(SC("sc.d", d, 0xbUL) != 0, "a second sc.d fails");
  CHECK_EQ(*d, 0xa, "a failed sc.d stores nothing");

  volatile u32 *w = (volatile u32 *)&cells[2];
  w[0] = 0x80000000u;
  w[1] = 0xdeadbeefu;
  CHECK_EQ(LR("lr.w", w), 0xffffffff80000000UL, "lr.w sign-extends");
  CHECK_EQ(SC("sc.w", w, 0xffffffff12345678UL), 0, "sc.w after lr.w succeeds");
  CHECK_EQ(w[0], 0x12345678u, "sc.w stored its word");
  CHECK_EQ(w[1], 0xdeadbeefu, "sc.w left the next word alone");
  CHECK(SC("sc.w", w, 1) != 0, "sc.w without a reservation fails");
  CHECK_EQ(w[0], 0x12345678u, "failed sc.w stores nothing");

  volatile u64 *far = &cells[512];
  *far = 77;
  LR("lr.d", d);
  CHECK(SC("sc.d", far, 5) != 0, "sc.d outside the reservation set fails");
  CHECK_EQ(*far, 77, "sc.d outside the reservation set stores nothing");
  CHECK(SC("sc.d", d, 6) != 0, "the reservation is gone after any sc");

  CHECK_EQ(LR("lr.d.aq", d), 0xa, "lr.d.aq reads");
  CHECK_EQ(SC("sc.d.rl", d, 0x10), 0, "sc.d.rl succeeds");
  CHECK_EQ(LR("lr.d.aqrl", d), 0x10, "lr.d.aqrl reads");
  CHECK_EQ(SC("sc.d.aqrl", d, 0x11), 0, "sc.d.aqrl succeeds");
  CHECK_EQ(LR("lr.w.aq", w), 0x12345678, "lr.w.aq reads");
  CHECK_EQ(SC("sc.w.rl", w, 0x99), 0, "sc.w.rl succeeds");
  CHECK_EQ(LR("lr.w.aqrl", w), 0x99, "lr.w.aqrl reads");
  CHECK_EQ(SC("sc.w.aqrl", w, 0x98), 0, "sc.w.aqrl succeeds");
  CHECK_EQ(w[0], 0x98, "sc.w.aqrl stored");

  u64 both = 0x55;
  LR("lr.d", d);
  asm volatile("sc.d %0, %0, (%1)" : "+r"(both) : "r"(d) : "memory");
  CHECK_EQ(both, 0, "sc.d rd == rs2 succeeds");
  CHECK_EQ(*d, 0x55, "sc.d rd == rs2 stores the old rs2");
  both = 0x66;
  LR("lr.w", w);
  asm volatile("sc.w %0, %0, (%1)" : "+r"(both) : "r"(w) : "memory");
  CHECK_EQ(both, 0, "sc.w rd == rs2 succeeds");
  CHECK_EQ(w[0], 0x66, "sc.w rd == rs2 stores the old rs2");

  *d = 0;
  for (int i = 0; i < 100; i++) {
    u64 failed;
    asm volatile("1: lr.d t0, (%1)\naddi t0, t0, 3\nsc.d %0, t0, (%1)\nbnez %0, 1b"
                 : "=&r"(failed) : "r"(d) : "t0", "memory");
  }
  CHECK_EQ(*d, 300, "an lr/sc increment loop");
}

struct amo_case { const char *op; u64 init, operand, old, now; };

static u64 run_amo(const char *op, volatile void *a, u64 v) {
  /* One asm block per mnemonic: the mnemonic is part of the instruction. */
#define IF_OP(name) if (!memcmp(op, name, sizeof name)) return AMO(name, a, v)
  IF_OP("amoswap.d"); IF_OP("amoadd.d"); IF_OP("amoxor.d"); IF_OP("amoand.d"); IF_OP("amoor.d");
  IF_OP("amomin.d"); IF_OP("amomax.d"); IF_OP("amominu.d"); IF_OP("amomaxu.d");
  IF_OP("amoswap.w"); IF_OP("amoadd.w"); IF_OP("amoxor.w"); IF_OP("amoand.w"); IF_OP("amoor.w");
  IF_OP("amomin.w"); IF_OP("amomax.w"); IF_OP("amominu.w"); IF_OP("amomaxu.w");
  IF_OP("amoadd.d.aq"); IF_OP("amoadd.d.rl"); IF_OP("amoadd.d.aqrl");
  IF_OP("amoswap.w.aq"); IF_OP("amoswap.w.rl"); IF_OP("amoswap.w.aqrl");
  IF_OP("amomaxu.d.aqrl"); IF_OP("amomin.w.aqrl");
#undef IF_OP
  fail("unknown AMO in the table");
}

static const struct amo_case doubleword_cases[] = {
  {"amoswap.d", 0x1111, 0x8000000000000000UL, 0x1111, 0x8000000000000000UL},
  {"amoadd.d", I64_MAX, 1, I64_MAX, I64_MIN},
  {"amoadd.d", ALL_ONES, 2, ALL_ONES, 1},
  {"amoxor.d", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xff00ff00ff00ff00UL, 0xf0f0f0f0f0f0f0f0UL},
  {"amoand.d", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xff00ff00ff00ff00UL, 0x0f000f000f000f00UL},
  {"amoor.d", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xff00ff00ff00ff00UL, 0xfff0fff0fff0fff0UL},
  {"amomin.d", I64_MIN, 1, I64_MIN, I64_MIN},
  {"amomin.d", 1, ALL_ONES, 1, ALL_ONES},
  {"amomax.d", ALL_ONES, 1, ALL_ONES, 1},
  {"amomax.d", I64_MAX, I64_MIN, I64_MAX, I64_MAX},
  {"amominu.d", ALL_ONES, 1, ALL_ONES, 1},
  {"amominu.d", 0, ALL_ONES, 0, 0},
  {"amomaxu.d", 1, ALL_ONES, 1, ALL_ONES},
  {"amomaxu.d", I64_MIN, I64_MAX, I64_MIN, I64_MIN},
  {"amoadd.d.aq", 10, 5, 10, 15},
  {"amoadd.d.rl", 10, 6, 10, 16},
  {"amoadd.d.aqrl", 10, 7, 10, 17},
  {"amomaxu.d.aqrl", 3, 4, 3, 4},
};

/* .W: init/now are the 32-bit memory word, operand may carry upper bits that must be ignored. */
static const struct amo_case word_cases[] = {
  {"amoswap.w", 0x80000000, 0xabcdef0012345678UL, 0xffffffff80000000UL, 0x12345678},
  {"amoadd.w", 0x7fffffff, 0xffffffff00000001UL, 0x7fffffff, 0x80000000},
  {"amoadd.w", 0xffffffff, 1, ALL_ONES, 0},
  {"amoxor.w", 0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00UL, 0xf0f0f0f0},
  {"amoand.w", 0xff00ff00, 0xffffffff0ff00ff0UL, 0xffffffffff00ff00UL, 0x0f000f00},
  {"amoor.w", 0x0000ff00, 0x0ff00ff0, 0xff00, 0x0ff0fff0},
  {"amomin.w", 0x80000000, 1, 0xffffffff80000000UL, 0x80000000},
  {"amomin.w", 5, 0xfffffffe, 5, 0xfffffffe},
  {"amomin.w", 5, 0x100000003UL, 5, 3},
  {"amomax.w", 5, 0xfffffffe, 5, 5},
  {"amomax.w", 0x80000000, 0x7fffffff, 0xffffffff80000000UL, 0x7fffffff},
  {"amomax.w", 5, 0x7fffffff00000002UL, 5, 5},
  {"amominu.w", 5, 0xfffffffe, 5, 5},
  {"amominu.w", 5, 0x100000003UL, 5, 3},
  {"amomaxu.w", 5, 0xfffffffe, 5, 0xfffffffe},
  {"amomaxu.w", 0x80000000, 0x7fffffff, 0xffffffff80000000UL, 0x80000000},
  {"amoswap.w.aq", 1, 2, 1, 2},
  {"amoswap.w.rl", 1, 3, 1, 3},
  {"amoswap.w.aqrl", 1, 4, 1, 4},
  {"amomin.w.aqrl", 0, 0xffffffff, 0, 0xffffffff},
};

static void amos(void) {
  char what[64];
  for (unsigned i = 0; i < sizeof doubleword_cases / sizeof doubleword_cases[0]; i++) {
    const struct amo_case *c = &doubleword_cases[i];
    cells[8] = c->init;
    cells[9] = 0x5a5a5a5a5a5a5a5aUL;
    u64 old = run_amo(c->op, &cells[8], c->operand);
    unsigned n = 0;
    for (const char *p = c->op; *p; p++) what[n++] = *p;
    what[n] = 0;
    CHECK_EQ(old, c->old, what);
    CHECK_EQ(cells[8], c->now, what);
    CHECK_EQ(cells[9], 0x5a5a5a5a5a5a5a5aUL, what);
  }
  volatile u32 *w = (volatile u32 *)&cells[10];
  for (unsigned i = 0; i < sizeof word_cases / sizeof word_cases[0]; i++) {
    const struct amo_case *c = &word_cases[i];
    w[0] = 0xa5a5a5a5u;
    w[1] = (u32)c->init;
    w[2] = 0xc3c3c3c3u;
    u64 old = run_amo(c->op, &w[1], c->operand);
    unsigned n = 0;
    for (const char *p = c->op; *p; p++) what[n++] = *p;
    what[n] = 0;
    CHECK_EQ(old, c->old, what);
    CHECK_EQ(w[1], c->now, what);
    CHECK_EQ(w[0], 0xa5a5a5a5u, what);
    CHECK_EQ(w[2], 0xc3c3c3c3u, what);
  }

  cells[12] = 40;
  asm volatile("amoadd.d x0, %1, (%0)" ::"r"(&cells[12]), "r"(2UL) : "memory");
  CHECK_EQ(cells[12], 42, "amoadd.d with rd = x0 still updates memory");
  u64 v = 7;
  asm volatile("amoswap.d %0, %0, (%1)" : "+r"(v) : "r"(&cells[12]) : "memory");
  CHECK_EQ(v, 42, "amoswap.d rd == rs2 returns the old value");
  CHECK_EQ(cells[12], 7, "amoswap.d rd == rs2 stores the old rs2");
}

static void faults(void) {
  u64 amo_fault = CAUSE_STORE_ACCESS;
  if (qemu_deviation("an AMO on an unmapped address raises a load access fault (5), not a store/AMO one (7)"))
    amo_fault = CAUSE_LOAD_ACCESS;
  struct trap_record *t = expect_trap();
  LR("lr.d", UNMAPPED_ADDR);
  CHECK_TRAP(CAUSE_LOAD_ACCESS, "lr.d from an unmapped address");
  CHECK_EQ(t->tval, UNMAPPED_ADDR, "lr.d access fault tval");
  t = expect_trap();
  AMO("amoadd.w", UNMAPPED_ADDR, 1);
  CHECK_TRAP(amo_fault, "amoadd.w to an unmapped address");
  CHECK_EQ(t->tval, UNMAPPED_ADDR, "amoadd.w access fault tval");
  expect_trap();
  AMO("amoswap.d", UNMAPPED_ADDR + 8, 1);
  CHECK_TRAP(amo_fault, "amoswap.d to an unmapped address");
}

void test_main(void) {
  lr_sc();
  amos();
  faults();
}
