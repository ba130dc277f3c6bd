/* rv64i: every RV64I instruction (32-bit encodings) in M-mode, with its edge cases:
 * - ADD/SUB/ADDI wrap-around, ADDIW/ADDW/SUBW sign extension of the 32-bit result and ignoring the
 *   upper operand bits;
 * - shifts by 0, 63 and by register amounts of 64+ (only the low 6 bits, or 5 for the W forms, count),
 *   SRA/SRAI/SRAW/SRAIW sign fill, SRLW/SRLIW of a negative word;
 * - SLT/SLTU/SLTI/SLTIU at the signed/unsigned corners (SLTIU with imm -1 compares with 2^64-1);
 * - AND/OR/XOR and their immediate forms with sign-extended immediates;
 * - LUI/AUIPC with the sign bit of the 20-bit immediate, AUIPC against the JAL link value;
 * - every load width with sign/zero extension, offsets -2048 and 2047, every store width touching only
 *   its bytes;
 * - every branch taken and not taken, forward and backward;
 * - JAL/JALR link values, JALR clearing bit 0 of an odd target, JALR with rd == rs1;
 * - writes to x0 discarded; FENCE, FENCE.TSO and PAUSE execute as no-ops;
 * - FENCE.I makes stores to code visible to fetch, including an instruction that spans two pages.
 */
#include "isa.h"

static void arithmetic(void) {
  T_RR("add", 1, 2, 3);
  T_RR("add", I64_MAX, 1, I64_MIN);
  T_RR("add", ALL_ONES, 1, 0);
  T_RR("sub", 0, 1, ALL_ONES);
  T_RR("sub", I64_MIN, 1, I64_MAX);
  T_RR("sub", 5, 7, (u64)-2);
  T_RI("addi", 0, -2048, (u64)-2048);
  T_RI("addi", 0, 2047, 2047);
  T_RI("addi", ALL_ONES, 1, 0);
  T_RI("addi", I64_MAX, 1, I64_MIN);
  T_RR("addw", 0x7fffffff, 1, 0xffffffff80000000UL);
  T_RR("addw", 0xffffffffUL, 1, 0);
  T_RR("addw", 0x1234567800000001UL, 0xabcdef0000000002UL, 3);
  T_RR("subw", 0x80000000UL, 1, 0x7fffffff);
  T_RR("subw", 0, 1, ALL_ONES);
  T_RR("subw", 0xffffffff00000000UL, 0, 0);
  T_RI("addiw", 0x80000000UL, 0, 0xffffffff80000000UL);
  T_RI("addiw", 0x7fffffffUL, 1, 0xffffffff80000000UL);
  T_RI("addiw", 0, -1, ALL_ONES);
  T_RI("addiw", 0x1ffffffffUL, 1, 0);
  T_RI("addiw", 0x123456789UL, 0, 0x23456789UL);
}

static void shifts(void) {
  T_RR("sll", 1, 63, I64_MIN);
  T_RR("sll", 1, 64, 1);
  T_RR("sll", 1, 65, 2);
  T_RR("sll", 0x8000000000000001UL, 1, 2);
  T_RR("srl", I64_MIN, 63, 1);
  T_RR("srl", ALL_ONES, 64, ALL_ONES);
  T_RR("srl", ALL_ONES, 0x7f, 1);
  T_RR("sra", I64_MIN, 63, ALL_ONES);
  T_RR("sra", I64_MIN, 1, 0xc000000000000000UL);
  T_RR("sra", I64_MAX, 62, 1);
  T_RR("sra", I64_MIN, 0xffffffffffffffc0UL, I64_MIN);
  T_RI("slli", 1, 63, I64_MIN);
  T_RI("slli", 0x123, 0, 0x123);
  T_RI("srli", I64_MIN, 63, 1);
  T_RI("srli", ALL_ONES, 32, 0xffffffffUL);
  T_RI("srai", I64_MIN, 63, ALL_ONES);
  T_RI("srai", 0x4000000000000000UL, 62, 1);
  T_RI("srai", ALL_ONES, 0, ALL_ONES);
  T_RR("sllw", 1, 31, 0xffffffff80000000UL);
  T_RR("sllw", 1, 32, 1);
  T_RR("sllw", 0xffffffff00000003UL, 1, 6);
  T_RR("sllw", 0x80000001UL, 1, 2);
  T_RR("srlw", 0xffffffff80000000UL, 0, 0xffffffff80000000UL);
  T_RR("srlw", 0x80000000UL, 1, 0x40000000);
  T_RR("srlw", 0x80000000UL, 31, 1);
  T_RR("srlw", 0xffffffff00000000UL | 0x80000000UL, 33, 0x40000000);
  T_RR("sraw", 0x80000000UL, 31, ALL_ONES);
  T_RR("sraw", 0x80000000UL, 4, 0xfffffffff8000000UL);
  T_RR("sraw", 0x1234567800000001UL, 0, 1);
  T_RR("sraw", 0x7fffffffUL, 63, 0);
  T_RI("slliw", 1, 31, 0xffffffff80000000UL);
  T_RI("slliw", 0x123456789UL, 4, 0x34567890);
  T_RI("slliw", 0xffffffffUL, 0, ALL_ONES);
  T_RI("srliw", 0x80000000UL, 0, 0xffffffff80000000UL);
  T_RI("srliw", 0xffffffff80000000UL, 31, 1);
  T_RI("srliw", 0xfffffffffUL, 4, 0x0fffffff);
  T_RI("sraiw", 0x80000000UL, 31, ALL_ONES);
  T_RI("sraiw", 0x7fffffffUL, 30, 1);
  T_RI("sraiw", 0x180000000UL, 0, 0xffffffff80000000UL);
}

static void compares_and_logic(void) {
  T_RR("slt", ALL_ONES, 0, 1);
  T_RR("slt", 0, ALL_ONES, 0);
  T_RR("slt", I64_MIN, I64_MAX, 1);
  T_RR("slt", I64_MAX, I64_MIN, 0);
  T_RR("slt", 5, 5, 0);
  T_RR("sltu", ALL_ONES, 0, 0);
  T_RR("sltu", 0, ALL_ONES, 1);
  T_RR("sltu", I64_MAX, I64_MIN, 1);
  T_RR("sltu", 7, 7, 0);
  T_RI("slti", ALL_ONES, 0, 1);
  T_RI("slti", 0, -1, 0);
  T_RI("slti", I64_MIN, -2048, 1);
  T_RI("slti", (u64)-2048, -2048, 0);
  T_RI("slti", (u64)-2049, -2048, 1);
  T_RI("slti", 2046, 2047, 1);
  T_RI("sltiu", 0, -1, 1);
  T_RI("sltiu", 0xfffffffffffffffeUL, -1, 1);
  T_RI("sltiu", ALL_ONES, -1, 0);
  T_RI("sltiu", 0, 1, 1);
  T_RI("sltiu", 5, 1, 0);
  T_RI("sltiu", 0x800, 2047, 0);
  T_RR("and", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0x0f000f000f000f00UL);
  T_RR("or", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xfff0fff0fff0fff0UL);
  T_RR("xor", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xf0f0f0f0f0f0f0f0UL);
  T_RI("andi", 0x123456789abcdef0UL, -1, 0x123456789abcdef0UL);
  T_RI("andi", 0x123456789abcdef0UL, 2047, 0x6f0);
  T_RI("andi", 0x123456789abcdef0UL, -2048, 0x123456789abcd800UL);
  T_RI("ori", 0, -2048, 0xfffffffffffff800UL);
  T_RI("ori", 0x1000, 0x7ff, 0x17ff);
  T_RI("xori", 0x123456789abcdef0UL, -1, ~0x123456789abcdef0UL);
  T_RI("xori", 0xf0f, 0x0ff, 0xff0);
}

static void upper_immediates(void) {
  u64 r;
  asm volatile(NORVC("lui %0, 0x80000") : "=r"(r));
  CHECK_EQ(r, 0xffffffff80000000UL, "lui 0x80000 sign-extends");
  asm volatile(NORVC("lui %0, 0x7ffff") : "=r"(r));
  CHECK_EQ(r, 0x7ffff000UL, "lui 0x7ffff");
  asm volatile(NORVC("lui %0, 0xfffff") : "=r"(r));
  CHECK_EQ(r, 0xfffffffffffff000UL, "lui 0xfffff");
  asm volatile(NORVC("lui %0, 0") : "=r"(r));
  CHECK_EQ(r, 0, "lui 0");

  u64 link, pc, plus, minus;
  asm volatile(NORVC("jal %0, 1f\n1: auipc %1, 0\nauipc %2, 1\nauipc %3, 0x80000")
               : "=&r"(link), "=&r"(pc), "=&r"(plus), "=&r"(minus));
  CHECK_EQ(pc, link, "auipc 0 equals its own pc (the jal link)");
  CHECK_EQ(plus, pc + 4 + 0x1000, "auipc 1 adds 4096 to its pc");
  CHECK_EQ(minus, pc + 8 - 0x80000000UL, "auipc 0x80000 subtracts 2^31 from its pc");
}

static void loads_and_stores(void) {
  static u64 buf[4] __attribute__((aligned(16)));
  u64 r;
  u8 *b = (u8 *)buf;
  u64 addr = (u64)buf; /* for base registers outside the buffer */
  buf[0] = 0x8000000180018080UL;
  buf[1] = 0x7f017fff7ffffffeUL;
#define LOAD(op, base, off) ({ asm volatile(NORVC(op " %0, " #off "(%1)") : "=r"(r) : "r"(base) : "memory"); r; })
  CHECK_EQ(LOAD("lb", b, 0), 0xffffffffffffff80UL, "lb sign-extends 0x80");
  CHECK_EQ(LOAD("lbu", b, 0), 0x80, "lbu zero-extends 0x80");
  CHECK_EQ(LOAD("lb", b + 8, 7), 0x7f, "lb 0x7f");
  CHECK_EQ(LOAD("lh", b, 0), 0xffffffffffff8080UL, "lh sign-extends");
  CHECK_EQ(LOAD("lhu", b, 0), 0x8080, "lhu zero-extends");
  CHECK_EQ(LOAD("lh", b, 2), 0xffffffffffff8001UL, "lh at +2");
  CHECK_EQ(LOAD("lh", b + 8, 4), 0x7fff, "lh positive");
  CHECK_EQ(LOAD("lw", b, 0), 0xffffffff80018080UL, "lw sign-extends");
  CHECK_EQ(LOAD("lwu", b, 0), 0x80018080UL, "lwu zero-extends");
  CHECK_EQ(LOAD("lw", b, 4), 0xffffffff80000001UL, "lw at +4");
  CHECK_EQ(LOAD("lwu", b, 4), 0x80000001UL, "lwu at +4");
  CHECK_EQ(LOAD("lw", b + 8, 0), 0x7ffffffe, "lw positive");
  CHECK_EQ(LOAD("ld", b, 0), 0x8000000180018080UL, "ld");
  CHECK_EQ(LOAD("ld", b + 16, -8), 0x7f017fff7ffffffeUL, "ld with offset -8");
  CHECK_EQ(LOAD("lb", addr + 2048, -2048), 0xffffffffffffff80UL, "lb with offset -2048");
  CHECK_EQ(LOAD("ld", addr + 8 - 2047, 2047), 0x7f017fff7ffffffeUL, "ld with offset 2047");
#undef LOAD

#define STORE(op, base, off, v) asm volatile(NORVC(op " %1, " #off "(%0)") ::"r"(base), "r"((u64)(v)) : "memory")
  buf[2] = 0x1111111111111111UL;
  STORE("sb", b + 16, 3, 0xabcdef99UL);
  CHECK_EQ(buf[2], 0x1111111199111111UL, "sb writes one byte");
  STORE("sh", b + 16, 6, 0x12345678UL);
  CHECK_EQ(buf[2], 0x5678111199111111UL, "sh writes two bytes");
  STORE("sw", b + 16, 0, 0xdeadbeefcafef00dUL);
  CHECK_EQ(buf[2], 0x56781111cafef00dUL, "sw writes four bytes");
  STORE("sd", b + 24, 0, 0x0123456789abcdefUL);
  CHECK_EQ(buf[3], 0x0123456789abcdefUL, "sd writes eight bytes");
  CHECK_EQ(buf[2], 0x56781111cafef00dUL, "sd leaves the neighbour alone");
  STORE("sb", addr + 2048 + 16, -2048, 0x42);
  CHECK_EQ(buf[2] & 0xff, 0x42, "sb with offset -2048");
  STORE("sd", addr + 24 - 2047, 2047, 0xfedcba9876543210UL);
  CHECK_EQ(buf[3], 0xfedcba9876543210UL, "sd with offset 2047");
#undef STORE
}

/* 1 when `op a, b` branches forward to its target. */
#define BR_FWD(op, a, b) \
  ({ u64 t_; asm volatile(NORVC(op " %1, %2, 1f\nli %0, 0\nj 2f\n1: li %0, 1\n2:") : "=r"(t_) : "r"((u64)(a)), "r"((u64)(b))); t_; })
/* 1 when `op a, b` branches backward to its target. */
#define BR_BACK(op, a, b) \
  ({ u64 t_; asm volatile(NORVC("j 3f\n1: li %0, 1\nj 2f\n3: " op " %1, %2, 1b\nli %0, 0\n2:") : "=r"(t_) : "r"((u64)(a)), "r"((u64)(b))); t_; })
#define T_BR(op, a, b, taken) do { \
    CHECK_EQ(BR_FWD(op, a, b), taken, op " " #a ", " #b " forward"); \
    CHECK_EQ(BR_BACK(op, a, b), taken, op " " #a ", " #b " backward"); \
  } while (0)

static void branches(void) {
  T_BR("beq", 5, 5, 1);
  T_BR("beq", 5, 6, 0);
  T_BR("beq", 0, I64_MIN, 0);
  T_BR("bne", 5, 6, 1);
  T_BR("bne", ALL_ONES, ALL_ONES, 0);
  T_BR("blt", ALL_ONES, 0, 1);
  T_BR("blt", 0, ALL_ONES, 0);
  T_BR("blt", I64_MIN, I64_MAX, 1);
  T_BR("blt", 3, 3, 0);
  T_BR("bge", 3, 3, 1);
  T_BR("bge", 0, ALL_ONES, 1);
  T_BR("bge", ALL_ONES, 0, 0);
  T_BR("bge", I64_MAX, I64_MIN, 1);
  T_BR("bltu", 0, ALL_ONES, 1);
  T_BR("bltu", ALL_ONES, 0, 0);
  T_BR("bltu", I64_MAX, I64_MIN, 1);
  T_BR("bltu", 9, 9, 0);
  T_BR("bgeu", ALL_ONES, 0, 1);
  T_BR("bgeu", 9, 9, 1);
  T_BR("bgeu", 0, ALL_ONES, 0);
  T_BR("bgeu", I64_MIN, I64_MAX, 1);
}

static void jumps(void) {
  u64 link, expect, landed;
  asm volatile(NORVC("lla %1, 2f\nli %2, 0\njal %0, 1f\n2: j 3f\n1: li %2, 1\n3:")
               : "=&r"(link), "=&r"(expect), "=&r"(landed));
  CHECK_EQ(landed, 1, "jal reaches its target");
  CHECK_EQ(link, expect, "jal links the next instruction");

  asm volatile(NORVC("li %2, 0\nlla %1, 2f\njal %0, 4f\n1: li %2, 1\nj 3f\n4: jal x0, 1b\n2: nop\n3:")
               : "=&r"(link), "=&r"(expect), "=&r"(landed));
  CHECK_EQ(landed, 1, "jal x0 jumps backward without linking");

  u64 target;
  asm volatile(NORVC("li %2, 0\nlla %3, 1f\naddi %3, %3, 1\nlla %1, 2f\njalr %0, 0(%3)\n2: j 3f\n1: li %2, 1\n3:")
               : "=&r"(link), "=&r"(expect), "=&r"(landed), "=&r"(target));
  CHECK_EQ(landed, 1, "jalr clears bit 0 of an odd target");
  CHECK_EQ(link, expect, "jalr links the next instruction");

  asm volatile(NORVC("li %2, 0\nlla %3, 1f\naddi %3, %3, 8\nlla %1, 2f\njalr %0, -7(%3)\n2: j 3f\n1: li %2, 1\n3:")
               : "=&r"(link), "=&r"(expect), "=&r"(landed), "=&r"(target));
  CHECK_EQ(landed, 1, "jalr with a negative odd offset");
  CHECK_EQ(link, expect, "jalr with a negative offset links");

  asm volatile(NORVC("li %2, 0\nlla %0, 1f\nlla %1, 2f\njalr %0, 0(%0)\n2: j 3f\n1: li %2, 1\n3:")
               : "=&r"(link), "=&r"(expect), "=&r"(landed));
  CHECK_EQ(landed, 1, "jalr with rd == rs1 jumps to the old rs1");
  CHECK_EQ(link, expect, "jalr with rd == rs1 then links");
}

static void zero_register_and_fences(void) {
  u64 r;
  asm volatile(NORVC("li t0, 5\naddi x0, t0, 1\nadd x0, t0, t0\nlui x0, 0x12345\nmv %0, x0") : "=r"(r)::"t0");
  CHECK_EQ(r, 0, "writes to x0 are discarded");
  asm volatile(NORVC("auipc x0, 1\njal x0, 1f\n1: add %0, x0, x0") : "=r"(r));
  CHECK_EQ(r, 0, "auipc/jal to x0 are discarded");
  asm volatile(NORVC("fence\nfence rw, rw\nfence r, r\nfence w, w\nfence iorw, iorw\nfence i, o\n"
                     ".word 0x8330000f /* fence.tso */\n.word 0x0100000f /* pause */"));
  CHECK(1, "fence variants execute");
}

/* Self-modifying code: stores followed by FENCE.I must be fetched. */
static u32 code_pages[2048] __attribute__((aligned(4096)));

static u32 addi_a0(i32 imm) { return ((u32)imm << 20) | (10 << 7) | 0x13; }
#define RET 0x00008067u

static u64 call_code(void *entry) {
  register u64 a0 asm("a0");
  asm volatile("jalr ra, 0(%1)" : "=r"(a0) : "r"(entry) : "ra", "memory");
  return a0;
}

static void fence_i(void) {
  code_pages[0] = addi_a0(123);
  code_pages[1] = RET;
  asm volatile("fence.i" ::: "memory");
  CHECK_EQ(call_code(code_pages), 123, "stored code runs after fence.i");
  code_pages[0] = addi_a0(-456);
  asm volatile("fence.i" ::: "memory");
  CHECK_EQ(call_code(code_pages), (u64)-456, "rewritten code runs after fence.i");

  /* A 32-bit instruction at the last halfword of a page: its upper half lives on the next page. */
  u16 *halves = (u16 *)code_pages;
  u32 insn = addi_a0(77);
  halves[2047] = (u16)insn;
  halves[2048] = (u16)(insn >> 16);
  halves[2049] = (u16)RET;
  halves[2050] = (u16)(RET >> 16);
  asm volatile("fence.i" ::: "memory");
  CHECK_EQ(call_code(&halves[2047]), 77, "an instruction spanning two pages runs");
  insn = addi_a0(-1000);
  halves[2048] = (u16)(insn >> 16); /* only the half on the second page changes */
  asm volatile("fence.i" ::: "memory");
  CHECK_EQ(call_code(&halves[2047]), (u64)-1000, "rewriting its second half is seen after fence.i");
}

void test_main(void) {
  arithmetic();
  shifts();
  compares_and_logic();
  upper_immediates();
  loads_and_stores();
  branches();
  jumps();
  zero_register_and_fences();
  fence_i();
}
