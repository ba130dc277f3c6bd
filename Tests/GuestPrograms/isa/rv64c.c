/* rv64c: every RV64C instruction, written with its explicit c.* mnemonic so that the assembler must
 * emit the 16-bit form, and every immediate bit of each form (each single-bit offset plus the
 * largest), because the compressed immediates are scrambled:
 *   quadrant 0: c.addi4spn c.fld c.lw c.ld c.fsd c.sw c.sd
 *   quadrant 1: c.nop c.addi c.addiw c.li c.addi16sp c.lui c.srli c.srai c.andi c.sub c.xor c.or c.and
 *               c.subw c.addw c.j c.beqz c.bnez (both ways, at the largest forward and backward offsets)
 *   quadrant 2: c.slli c.fldsp c.lwsp c.ldsp c.jr c.mv c.ebreak c.jalr c.add c.fsdsp c.swsp c.sdsp
 * plus the reserved encodings that must raise an illegal-instruction exception (hand-assembled:
 * all zeros, c.addi4spn with imm 0, c.addi16sp/c.lui with imm 0, c.lwsp/c.ldsp with rd 0, c.jr with
 * rs1 0, c.addiw with rd 0) and HINT encodings that must execute as no-ops. */
#include "isa.h"

static u32 words[64] __attribute__((aligned(256)));
static u64 dwords[64] __attribute__((aligned(512)));

static void fill_buffers(void) {
  for (int i = 0; i < 64; i++) {
    words[i] = 0x80000000u | (u32)(4 * i);
    dwords[i] = 0xd000000000000000UL | (u64)(8 * i);
  }
}

/* A 3-bit-register load: a0 = insn off(a1), a1 = base. */
#define C_LOAD(insn, base, off) \
  ({ u64 r_; asm volatile("mv a1, %1\n" insn " a0, " #off "(a1)\nmv %0, a0" : "=r"(r_) : "r"(base) : "a0", "a1", "memory"); r_; })
/* An sp-relative load with sp temporarily pointing at base. */
#define C_LOAD_SP(insn, base, off) \
  ({ u64 r_; asm volatile("mv t0, sp\nmv sp, %1\n" insn " a0, " #off "(sp)\nmv sp, t0\nmv %0, a0" : "=r"(r_) : "r"(base) : "a0", "t0", "memory"); r_; })
#define C_FLOAD(insn, base, off) \
  ({ u64 r_; asm volatile("mv a1, %1\n" insn " fa0, " #off "(a1)\nfmv.x.d %0, fa0" : "=r"(r_) : "r"(base) : "a1", "fa0", "memory"); r_; })
#define C_FLOAD_SP(insn, base, off) \
  ({ u64 r_; asm volatile("mv t0, sp\nmv sp, %1\n" insn " fa1, " #off "(sp)\nmv sp, t0\nfmv.x.d %0, fa1" : "=r"(r_) : "r"(base) : "t0", "fa1", "memory"); r_; })

#define T_LW(off) CHECK_EQ(C_LOAD("c.lw", words, off), 0xffffffff80000000UL | off, "c.lw offset " #off)
#define T_LD(off) CHECK_EQ(C_LOAD("c.ld", dwords, off), 0xd000000000000000UL | off, "c.ld offset " #off)
#define T_FLD(off) CHECK_EQ(C_FLOAD("c.fld", dwords, off), 0xd000000000000000UL | off, "c.fld offset " #off)
#define T_LWSP(off) CHECK_EQ(C_LOAD_SP("c.lwsp", words, off), 0xffffffff80000000UL | off, "c.lwsp offset " #off)
#define T_LDSP(off) CHECK_EQ(C_LOAD_SP("c.ldsp", dwords, off), 0xd000000000000000UL | off, "c.ldsp offset " #off)
#define T_FLDSP(off) CHECK_EQ(C_FLOAD_SP("c.fldsp", dwords, off), 0xd000000000000000UL | off, "c.fldsp offset " #off)

static void loads(void) {
  fill_buffers();
  T_LW(0); T_LW(4); T_LW(8); T_LW(16); T_LW(32); T_LW(64); T_LW(124);
  T_LD(0); T_LD(8); T_LD(16); T_LD(32); T_LD(64); T_LD(128); T_LD(248);
  T_FLD(8); T_FLD(16); T_FLD(32); T_FLD(64); T_FLD(128); T_FLD(248);
  T_LWSP(0); T_LWSP(4); T_LWSP(8); T_LWSP(16); T_LWSP(32); T_LWSP(64); T_LWSP(128); T_LWSP(252);
  T_LDSP(0); T_LDSP(8); T_LDSP(16); T_LDSP(32); T_LDSP(64); T_LDSP(128); T_LDSP(256); T_LDSP(504);
  T_FLDSP(8); T_FLDSP(16); T_FLDSP(32); T_FLDSP(64); T_FLDSP(128); T_FLDSP(256); T_FLDSP(504);
}

/* Stores write v at base+off; the check reads the slot and its neighbour back. */
#define C_STORE(insn, base, off, v) \
  asm volatile("mv a1, %0\nmv a0, %1\n" insn " a0, " #off "(a1)" ::"r"(base), "r"((u64)(v)) : "a0", "a1", "memory")
#define C_STORE_SP(insn, base, off, v) \
  asm volatile("mv t0, sp\nmv a0, %1\nmv sp, %0\n" insn " a0, " #off "(sp)\nmv sp, t0" ::"r"(base), "r"((u64)(v)) : "a0", "t0", "memory")
#define C_FSTORE(insn, base, off, v) \
  asm volatile("mv a1, %0\nfmv.d.x fa0, %1\n" insn " fa0, " #off "(a1)" ::"r"(base), "r"((u64)(v)) : "a1", "fa0", "memory")
#define C_FSTORE_SP(insn, base, off, v) \
  asm volatile("mv t0, sp\nfmv.d.x fa1, %1\nmv sp, %0\n" insn " fa1, " #off "(sp)\nmv sp, t0" ::"r"(base), "r"((u64)(v)) : "t0", "fa1", "memory")

static void check_word_store(u32 off, const char *what) {
  CHECK_EQ(words[off / 4], 0xabcdef01u, what);
  CHECK_EQ(words[(off / 4) ^ 1], 0x80000000u | (off ^ 4), what);
}

static void check_dword_store(u32 off, const char *what) {
  CHECK_EQ(dwords[off / 8], 0x0123456789abcdefUL, what);
  CHECK_EQ(dwords[(off / 8) ^ 1], 0xd000000000000000UL | (off ^ 8), what);
}

#define T_STORE_W(insn, mac, off) do { fill_buffers(); mac(insn, words, off, 0x12345678abcdef01UL); check_word_store(off, insn " offset " #off); } while (0)
#define T_STORE_D(insn, mac, off) do { fill_buffers(); mac(insn, dwords, off, 0x0123456789abcdefUL); check_dword_store(off, insn " offset " #off); } while (0)

static void stores(void) {
  T_STORE_W("c.sw", C_STORE, 0); T_STORE_W("c.sw", C_STORE, 4); T_STORE_W("c.sw", C_STORE, 8);
  T_STORE_W("c.sw", C_STORE, 16); T_STORE_W("c.sw", C_STORE, 32); T_STORE_W("c.sw", C_STORE, 64);
  T_STORE_W("c.sw", C_STORE, 124);
  T_STORE_D("c.sd", C_STORE, 0); T_STORE_D("c.sd", C_STORE, 8); T_STORE_D("c.sd", C_STORE, 16);
  T_STORE_D("c.sd", C_STORE, 32); T_STORE_D("c.sd", C_STORE, 64); T_STORE_D("c.sd", C_STORE, 128);
  T_STORE_D("c.sd", C_STORE, 248);
  T_STORE_D("c.fsd", C_FSTORE, 8); T_STORE_D("c.fsd", C_FSTORE, 64); T_STORE_D("c.fsd", C_FSTORE, 248);
  T_STORE_W("c.swsp", C_STORE_SP, 0); T_STORE_W("c.swsp", C_STORE_SP, 4); T_STORE_W("c.swsp", C_STORE_SP, 8);
  T_STORE_W("c.swsp", C_STORE_SP, 16); T_STORE_W("c.swsp", C_STORE_SP, 32);
  T_STORE_W("c.swsp", C_STORE_SP, 64); T_STORE_W("c.swsp", C_STORE_SP, 128);
  T_STORE_W("c.swsp", C_STORE_SP, 252);
  T_STORE_D("c.sdsp", C_STORE_SP, 0); T_STORE_D("c.sdsp", C_STORE_SP, 8); T_STORE_D("c.sdsp", C_STORE_SP, 16);
  T_STORE_D("c.sdsp", C_STORE_SP, 32); T_STORE_D("c.sdsp", C_STORE_SP, 64);
  T_STORE_D("c.sdsp", C_STORE_SP, 128); T_STORE_D("c.sdsp", C_STORE_SP, 256);
  T_STORE_D("c.sdsp", C_STORE_SP, 504);
  T_STORE_D("c.fsdsp", C_FSTORE_SP, 8); T_STORE_D("c.fsdsp", C_FSTORE_SP, 256);
  T_STORE_D("c.fsdsp", C_FSTORE_SP, 504);
}

/* a0 = op a0 (immediate form) */
#define C_IMM(insn, a, imm) \
  ({ u64 r_; asm volatile("mv a0, %1\n" insn " a0, " #imm "\nmv %0, a0" : "=r"(r_) : "r"((u64)(a)) : "a0"); r_; })
#define T_IMM(insn, a, imm, want) CHECK_EQ(C_IMM(insn, a, imm), want, insn " " #a ", " #imm)
/* a0 = a0 op a1 */
#define C_REG(insn, a, b) \
  ({ u64 r_; asm volatile("mv a0, %1\nmv a1, %2\n" insn " a0, a1\nmv %0, a0" : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b)) : "a0", "a1"); r_; })
#define T_REG(insn, a, b, want) CHECK_EQ(C_REG(insn, a, b), want, insn " " #a ", " #b)
/* c.addi4spn a0, sp, imm with sp = base */
#define C_ADDI4SPN(imm) \
  ({ u64 r_; asm volatile("mv t0, sp\nli sp, 0x10000\nc.addi4spn a0, sp, " #imm "\nmv sp, t0\nmv %0, a0" : "=r"(r_) :: "a0", "t0"); r_; })
#define T_ADDI4SPN(imm) CHECK_EQ(C_ADDI4SPN(imm), 0x10000 + (imm), "c.addi4spn " #imm)
#define C_ADDI16SP(imm) \
  ({ u64 r_; asm volatile("mv t0, sp\nli sp, 0x10000\nc.addi16sp sp, " #imm "\nmv %0, sp\nmv sp, t0" : "=r"(r_) :: "t0"); r_; })
#define T_ADDI16SP(imm) CHECK_EQ(C_ADDI16SP(imm), 0x10000 + (imm), "c.addi16sp " #imm)

static void arithmetic(void) {
  T_ADDI4SPN(4); T_ADDI4SPN(8); T_ADDI4SPN(16); T_ADDI4SPN(32); T_ADDI4SPN(64); T_ADDI4SPN(128);
  T_ADDI4SPN(256); T_ADDI4SPN(512); T_ADDI4SPN(1020);
  T_ADDI16SP(16); T_ADDI16SP(32); T_ADDI16SP(64); T_ADDI16SP(128); T_ADDI16SP(256); T_ADDI16SP(-512);
  T_ADDI16SP(496); T_ADDI16SP(-16);

  T_IMM("c.addi", 100, 1, 101); T_IMM("c.addi", 100, 2, 102); T_IMM("c.addi", 100, 4, 104);
  T_IMM("c.addi", 100, 8, 108); T_IMM("c.addi", 100, 16, 116); T_IMM("c.addi", 100, -32, 68);
  T_IMM("c.addi", 100, 31, 131); T_IMM("c.addi", 0, -1, ALL_ONES); T_IMM("c.addi", I64_MAX, 1, I64_MIN);
  T_IMM("c.addiw", 0x7fffffff, 1, 0xffffffff80000000UL);
  T_IMM("c.addiw", 0x123456789UL, 0, 0x23456789);
  T_IMM("c.addiw", 0x80000000UL, 0, 0xffffffff80000000UL);
  T_IMM("c.addiw", 0, -32, (u64)-32);
  T_IMM("c.addiw", 0xffffffffUL, 31, 30);
  T_IMM("c.li", 0x5555, 1, 1); T_IMM("c.li", 0x5555, 2, 2); T_IMM("c.li", 0x5555, 4, 4);
  T_IMM("c.li", 0x5555, 8, 8); T_IMM("c.li", 0x5555, 16, 16); T_IMM("c.li", 0x5555, -32, (u64)-32);
  T_IMM("c.li", 0x5555, 31, 31); T_IMM("c.li", 0x5555, 0, 0);
  T_IMM("c.lui", 0, 1, 0x1000); T_IMM("c.lui", 0, 2, 0x2000); T_IMM("c.lui", 0, 4, 0x4000);
  T_IMM("c.lui", 0, 8, 0x8000); T_IMM("c.lui", 0, 16, 0x10000); T_IMM("c.lui", 0, 31, 0x1f000);
  T_IMM("c.lui", 0, 0xfffe0, 0xfffffffffffe0000UL); T_IMM("c.lui", 0, 0xfffff, 0xfffffffffffff000UL);
  T_IMM("c.slli", 1, 1, 2); T_IMM("c.slli", 1, 2, 4); T_IMM("c.slli", 1, 4, 16); T_IMM("c.slli", 1, 8, 256);
  T_IMM("c.slli", 1, 16, 0x10000); T_IMM("c.slli", 1, 32, 0x100000000UL); T_IMM("c.slli", 1, 63, I64_MIN);
  T_IMM("c.srli", I64_MIN, 1, 0x4000000000000000UL); T_IMM("c.srli", I64_MIN, 2, 0x2000000000000000UL);
  T_IMM("c.srli", I64_MIN, 4, 0x0800000000000000UL); T_IMM("c.srli", I64_MIN, 8, 0x0080000000000000UL);
  T_IMM("c.srli", I64_MIN, 16, 0x0000800000000000UL); T_IMM("c.srli", I64_MIN, 32, 0x80000000UL);
  T_IMM("c.srli", I64_MIN, 63, 1);
  T_IMM("c.srai", I64_MIN, 1, 0xc000000000000000UL); T_IMM("c.srai", I64_MIN, 2, 0xe000000000000000UL);
  T_IMM("c.srai", I64_MIN, 4, 0xf800000000000000UL); T_IMM("c.srai", I64_MIN, 8, 0xff80000000000000UL);
  T_IMM("c.srai", I64_MIN, 16, 0xffff800000000000UL); T_IMM("c.srai", I64_MIN, 32, 0xffffffff80000000UL);
  T_IMM("c.srai", I64_MIN, 63, ALL_ONES); T_IMM("c.srai", I64_MAX, 62, 1);
  T_IMM("c.andi", ALL_ONES, 1, 1); T_IMM("c.andi", ALL_ONES, 2, 2); T_IMM("c.andi", ALL_ONES, 4, 4);
  T_IMM("c.andi", ALL_ONES, 8, 8); T_IMM("c.andi", ALL_ONES, 16, 16);
  T_IMM("c.andi", ALL_ONES, -32, 0xffffffffffffffe0UL); T_IMM("c.andi", 0x1234, 31, 0x14);
  T_IMM("c.andi", 0x1234, 0, 0);

  T_REG("c.mv", 1, 0x123456789abcdef0UL, 0x123456789abcdef0UL);
  T_REG("c.add", 1, ALL_ONES, 0);
  T_REG("c.add", I64_MAX, 1, I64_MIN);
  T_REG("c.sub", 0, 1, ALL_ONES);
  T_REG("c.sub", I64_MIN, 1, I64_MAX);
  T_REG("c.xor", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xf0f0f0f0f0f0f0f0UL);
  T_REG("c.or", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xfff0fff0fff0fff0UL);
  T_REG("c.and", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0x0f000f000f000f00UL);
  T_REG("c.addw", 0x7fffffff, 1, 0xffffffff80000000UL);
  T_REG("c.addw", 0x1234567800000001UL, 0xabcdef0000000002UL, 3);
  T_REG("c.subw", 0x80000000UL, 1, 0x7fffffff);
  T_REG("c.subw", 0, 1, ALL_ONES);
  T_REG("c.subw", 0xffffffff00000000UL, 0x0000000100000000UL, 0);
}

/* Branches at their extreme offsets: c.beqz/c.bnez reach -256...+254, c.j -2048...+2046. */
#define C_BRANCH_FWD(insn, v) \
  ({ u64 t_; asm volatile(".option push\n.option norelax\nmv a0, %1\n" insn " a0, 1f\nc.li a1, 0\nc.j 2f\n.skip 246\n1: c.li a1, 1\n2: mv %0, a1\n.option pop" \
                          : "=r"(t_) : "r"((u64)(v)) : "a0", "a1"); t_; })
#define C_BRANCH_BACK(insn, v) \
  ({ u64 t_; asm volatile(".option push\n.option norelax\nmv a0, %1\nj 3f\n1: c.li a1, 1\nc.j 2f\n.skip 252\n3: " insn " a0, 1b\nc.li a1, 0\n2: mv %0, a1\n.option pop" \
                          : "=r"(t_) : "r"((u64)(v)) : "a0", "a1"); t_; })

static void control_transfer(void) {
  CHECK_EQ(C_BRANCH_FWD("c.beqz", 0), 1, "c.beqz 0 taken at +252");
  CHECK_EQ(C_BRANCH_FWD("c.beqz", I64_MIN), 0, "c.beqz nonzero not taken");
  CHECK_EQ(C_BRANCH_BACK("c.beqz", 0), 1, "c.beqz 0 taken at -256");
  CHECK_EQ(C_BRANCH_BACK("c.beqz", 1), 0, "c.beqz 1 not taken (backward)");
  CHECK_EQ(C_BRANCH_FWD("c.bnez", 1), 1, "c.bnez 1 taken at +252");
  CHECK_EQ(C_BRANCH_FWD("c.bnez", 0), 0, "c.bnez 0 not taken");
  CHECK_EQ(C_BRANCH_BACK("c.bnez", I64_MIN), 1, "c.bnez taken at -256");
  CHECK_EQ(C_BRANCH_BACK("c.bnez", 0), 0, "c.bnez 0 not taken (backward)");

  u64 landed;
  /* GAS widens a forward c.j this far to jal, so it is hand-assembled: 0xaffd = c.j +2046. */
  asm volatile("li %0, 0\n.hword 0xaffd\n.skip 2044\nli %0, 1" : "=&r"(landed));
  CHECK_EQ(landed, 1, "c.j +2046");
  asm volatile(".option push\n.option norelax\n.option norvc\nli %0, 0\nj 3f\n1: addi %0, zero, 1\njal zero, 2f\n"
               ".skip 2040\n.option rvc\n3: c.j 1b\n2:\n.option pop" : "=&r"(landed));
  CHECK_EQ(landed, 1, "c.j -2048");

  u64 link, expect;
  asm volatile("li %0, 0\nlla a1, 1f\nlla %2, 2f\nc.jalr a1\n2: j 3f\n1: li %0, 1\nmv %1, ra\n3:"
               : "=&r"(landed), "=&r"(link), "=&r"(expect)::"a1", "ra");
  CHECK_EQ(landed, 1, "c.jalr reaches its target");
  CHECK_EQ(link, expect, "c.jalr links pc + 2");
  asm volatile("li %0, 0\nlla a1, 1f\nc.jr a1\nj 2f\n1: li %0, 1\n2:" : "=&r"(landed)::"a1");
  CHECK_EQ(landed, 1, "c.jr jumps");

  u64 before, after;
  asm volatile("li a0, 11\nmv %0, a0\nc.nop\nc.nop\nmv %1, a0" : "=r"(before), "=r"(after)::"a0");
  CHECK_EQ(after, before, "c.nop");
  /* A 32-bit instruction at an address that is 2 mod 4. */
  asm volatile(".balign 4\nc.nop\n.option push\n.option norvc\naddi %0, zero, 77\n.option pop" : "=r"(after));
  CHECK_EQ(after, 77, "a 32-bit instruction at pc % 4 == 2");

  u64 ebreak_pc;
  struct trap_record *t = expect_trap();
  asm volatile("lla %0, 1f\n1: c.ebreak" : "=r"(ebreak_pc));
  CHECK_TRAP(CAUSE_BREAKPOINT, "c.ebreak");
  CHECK_EQ(t->epc, ebreak_pc, "c.ebreak mepc");
}

/* Runs one hand-assembled 16-bit instruction followed by a c.nop. */
#define RUN16(half) asm volatile(".balign 4\n.hword " #half "\nc.nop" ::: "memory")

static void reserved_and_hints(void) {
  expect_trap(); RUN16(0x0000); CHECK_TRAP(CAUSE_ILLEGAL, "0x0000 (all zeros)");
  expect_trap(); RUN16(0x0004); CHECK_TRAP(CAUSE_ILLEGAL, "c.addi4spn a0, sp, 0 (reserved)");
  expect_trap(); RUN16(0x6101); CHECK_TRAP(CAUSE_ILLEGAL, "c.addi16sp sp, 0 (reserved)");
  expect_trap(); RUN16(0x6501); CHECK_TRAP(CAUSE_ILLEGAL, "c.lui a0, 0 (reserved)");
  expect_trap(); RUN16(0x4002); CHECK_TRAP(CAUSE_ILLEGAL, "c.lwsp x0 (reserved)");
  expect_trap(); RUN16(0x6002); CHECK_TRAP(CAUSE_ILLEGAL, "c.ldsp x0 (reserved)");
  expect_trap(); RUN16(0x8002); CHECK_TRAP(CAUSE_ILLEGAL, "c.jr x0 (reserved)");
  expect_trap(); RUN16(0x2001); CHECK_TRAP(CAUSE_ILLEGAL, "c.addiw x0 (reserved)");

  /* HINTs: no architectural effect, no trap. a0 holds a sentinel that none of them may change. */
  u64 a0_after;
  expect_trap();
  asm volatile("li a0, 0x5a\n"
               ".hword 0x0005\n" /* c.nop 1 */
               ".hword 0x0501\n" /* c.addi a0, 0 */
               ".hword 0x4015\n" /* c.li x0, 5 */
               ".hword 0x6005\n" /* c.lui x0, 1 */
               ".hword 0x802a\n" /* c.mv x0, a0 */
               ".hword 0x902a\n" /* c.add x0, a0 */
               ".hword 0x0006\n" /* c.slli x0, 1 */
               "mv %0, a0" : "=r"(a0_after) :: "a0");
  CHECK_NO_TRAP("compressed HINTs do not trap");
  CHECK_EQ(a0_after, 0x5a, "compressed HINTs leave registers alone");
}

void test_main(void) {
  loads();
  stores();
  arithmetic();
  control_transfer();
  reserved_and_hints();
}
