/* random-code: blocks of random straight-line code, written into a code buffer at run time (then FENCE.I) and
 * run from random registers and memory; after each block, one hash of the 31 registers and the data it used:
 *   "block 17 3c9a..."
 * The program cannot know the right hashes; a test runs it on rrvm and on QEMU (the reference) and compares
 * the lines. The mix leans on what an interpreter fuses or treats apart: pairs of adjacent instructions (an
 * addition or a load then a branch, a store then an addition, shift pairs, two loads or stores off one base,
 * auipc then addi or jalr, two c.add/c.mv), runs of compressed stack saves and restores with the stack
 * adjustment (and the return after them), each with random registers, x0 and aliasing included; besides,
 * every RV64I/M integer operation, loads and stores of every width, compressed forms and forward branches.
 * Code is rewritten in place for every block, so a stale decoded copy would show too, and every block
 * crosses a page boundary. BLOCKS blocks access their data physically, then BLOCKS more through swapped pages
 * (translate_data), then BLOCKS more physically with 128 bytes of the data denied by a locked PMP entry, each
 * fault's epc, tval and cause hashed (guard_data), so that a pair or run whose first or later access faults must
 * stop exactly there.
 *
 * Registers: x8 (s0) is the data base and x2 (sp) a stack inside the data, never written by the random
 * code except for balanced stack adjustments; x3 (gp) and x4 (tp) are left alone. Every other register,
 * x0 included as a destination, is fair game. Accesses are aligned (misaligned ones may trap or not). */
#include "isa.h"

#ifndef BLOCKS /* -DBLOCKS=N for a longer search */
#define BLOCKS 400
#endif
#ifndef SEED
#define SEED 0
#endif
#define BLOCK_INSTRUCTIONS 96
#define DATA_BYTES 8192 /* two pages; the base register points at the boundary between them */

static u64 rng_state;
static u64 rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dUL;
}
static u64 below(u64 n) { return rnd() % n; }

/* Data, the stack inside it; registers in and out; the code buffer. */
static u8 data[DATA_BYTES] __attribute__((aligned(4096)));
/* x0-x31; the harness's own registers (32-47); the fault handler's scratch (48-49, 51), its fault count (50), the
 * library's mscratch while a block runs (52) and the fault records (64-127: epc, tval, cause for the first 21). */
u64 block_state[128];
u16 code[8192] __attribute__((aligned(4096)));
static u64 at; /* the next halfword of code */
static int guard_on; /* the guarded blocks have begun */

/* run_block: saves the harness's registers, loads x1-x31 from block_state, runs the code; the code ends by
 * jumping to block_exit, which stores x1-x31 back and returns. */
asm(".text\n"
    ".globl run_block\n"
    "run_block:\n"
    "  la t0, block_state\n"
    "  sd ra, 256(t0)\n  sd sp, 264(t0)\n  sd gp, 272(t0)\n  sd tp, 280(t0)\n"
    "  sd s0, 288(t0)\n  sd s1, 296(t0)\n  sd s2, 304(t0)\n  sd s3, 312(t0)\n  sd s4, 320(t0)\n  sd s5, 328(t0)\n"
    "  sd s6, 336(t0)\n  sd s7, 344(t0)\n  sd s8, 352(t0)\n  sd s9, 360(t0)\n  sd s10, 368(t0)\n  sd s11, 376(t0)\n"
    "  csrr t1, mscratch\n  sd t1, 416(t0)\n" /* the trap stack of the library's handler, back at the end */
    "  csrw mscratch, t0\n"
    LOAD_X1_TO_X31_FROM_T0
    "  j code\n"
    ".globl block_exit\n"
    "block_exit:\n"
    "  csrrw t0, mscratch, t0\n"
    STORE_X1_TO_X31_BUT_T0_AT_T0
    "  csrr t1, mscratch\n  sd t1, 40(t0)\n"
    "  ld t1, 416(t0)\n  csrw mscratch, t1\n"
    "  ld ra, 256(t0)\n  ld sp, 264(t0)\n  ld gp, 272(t0)\n  ld tp, 280(t0)\n"
    "  ld s0, 288(t0)\n  ld s1, 296(t0)\n  ld s2, 304(t0)\n  ld s3, 312(t0)\n  ld s4, 320(t0)\n  ld s5, 328(t0)\n"
    "  ld s6, 336(t0)\n  ld s7, 344(t0)\n  ld s8, 352(t0)\n  ld s9, 360(t0)\n  ld s10, 368(t0)\n  ld s11, 376(t0)\n"
    "  ret\n"
    /* The guarded blocks' exception handler (mtvec): records epc, tval and cause, skips the instruction and goes
     * on; mscratch holds block_state while a block runs. */
    ".balign 4\n"
    ".globl skip_fault\n"
    "skip_fault:\n"
    "  csrrw t0, mscratch, t0\n"
    "  sd t1, 384(t0)\n  sd t2, 392(t0)\n  sd t3, 408(t0)\n"
    "  ld t1, 400(t0)\n"
    "  li t2, 21\n"
    "  bgeu t1, t2, 1f\n"
    "  slli t2, t1, 4\n  slli t3, t1, 3\n  add t2, t2, t3\n  add t2, t2, t0\n" /* t0 + 24 * count */
    "  csrr t3, mepc\n  sd t3, 512(t2)\n  csrr t3, mtval\n  sd t3, 520(t2)\n  csrr t3, mcause\n  sd t3, 528(t2)\n"
    "1:\n"
    "  addi t1, t1, 1\n  sd t1, 400(t0)\n"
    "  csrr t3, mepc\n  lhu t2, 0(t3)\n  andi t2, t2, 3\n  addi t3, t3, 2\n"
    "  li t1, 3\n  bne t2, t1, 2f\n  addi t3, t3, 2\n"
    "2:\n"
    "  csrw mepc, t3\n"
    "  ld t1, 384(t0)\n  ld t2, 392(t0)\n  ld t3, 408(t0)\n"
    "  csrrw t0, mscratch, t0\n"
    "  mret\n");
void run_block(void);
extern char skip_fault[];
extern char block_exit[];

/* ---- Encoding ---- */
#define BASE 8  /* s0: the data base, at the boundary of its two pages */
#define STACK 2 /* sp: 256 bytes below that boundary at the start */

static void emit16(u64 half) { code[at++] = (u16)half; }
static void emit32(u64 word) { emit16(word & 0xffff); emit16(word >> 16); }
static u64 here(void) { return (u64)&code[at]; }

static u64 r_type(u64 f7, u64 rs2, u64 rs1, u64 f3, u64 rd, u64 op) {
  return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static u64 i_type(i64 imm, u64 rs1, u64 f3, u64 rd, u64 op) {
  return ((u64)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static u64 s_type(i64 imm, u64 rs2, u64 rs1, u64 f3) {
  u64 i = (u64)imm;
  return (i >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (i & 0x1f) << 7 | 0x23;
}
static u64 b_type(i64 offset, u64 rs2, u64 rs1, u64 f3) {
  u64 o = (u64)offset;
  return (o >> 12 & 1) << 31 | (o >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (o >> 1 & 0xf) << 8 |
         (o >> 11 & 1) << 7 | 0x63;
}
static u64 j_type(i64 offset, u64 rd) {
  u64 o = (u64)offset;
  return (o >> 20 & 1) << 31 | (o >> 1 & 0x3ff) << 21 | (o >> 11 & 1) << 20 | (o >> 12 & 0xff) << 12 | rd << 7 | 0x6f;
}

/* A register the random code may write: x0, x1, x5-x7, x9-x31. */
static u64 dest(void) {
  static const u8 set[] = {0, 1, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                           28, 29, 30, 31};
  return set[below(sizeof set)];
}
static u64 source(void) { return below(32); } /* any register may be read */
static u64 dest_c(void) { return 9 + below(7); } /* x9-x15: compressed destinations other than the base */
static u64 nonzero_dest(void) { u64 r; do r = dest(); while (r == 0); return r; }
static i64 imm12(void) {
  static const i64 edges[] = {0, 1, -1, 2047, -2048, 31, 32, 63, 0x7ff, -0x800, 0x555};
  return below(3) == 0 ? edges[below(sizeof edges / sizeof edges[0])] : (i64)below(4096) - 2048;
}
/* An aligned offset of a `size`-byte access off the base (data + 2048), inside the data. */
static i64 data_offset(u64 size) { return ((i64)below(4096 / size) * (i64)size) - 2048; }

/* ---- Instructions ---- */
static void alu_register(void) {
  static const u64 ops[][3] = { /* funct7, funct3, opcode */
    {0, 0, 0x33}, {0x20, 0, 0x33}, {0, 1, 0x33}, {0, 2, 0x33}, {0, 3, 0x33}, {0, 4, 0x33}, {0, 5, 0x33},
    {0x20, 5, 0x33}, {0, 6, 0x33}, {0, 7, 0x33}, {1, 0, 0x33}, {1, 1, 0x33}, {1, 2, 0x33}, {1, 3, 0x33},
    {1, 4, 0x33}, {1, 5, 0x33}, {1, 6, 0x33}, {1, 7, 0x33}, {0, 0, 0x3b}, {0x20, 0, 0x3b}, {0, 1, 0x3b},
    {0, 5, 0x3b}, {0x20, 5, 0x3b}, {1, 0, 0x3b}, {1, 4, 0x3b}, {1, 5, 0x3b}, {1, 6, 0x3b}, {1, 7, 0x3b},
  };
  const u64 *op = ops[below(sizeof ops / sizeof ops[0])];
  emit32(r_type(op[0], source(), source(), op[1], dest(), op[2]));
}
static void alu_immediate(void) {
  switch (below(6)) {
  case 0: emit32(i_type(imm12(), source(), (u64[]){0, 2, 3, 4, 6, 7}[below(6)], dest(), 0x13)); break;
  case 1: { u64 right = below(2); /* slli, srli, srai (funct6 0x10 only for a right shift) */
            emit32(i_type((i64)below(64) | (right && below(2) ? 0x400 : 0), source(), right ? 5 : 1, dest(), 0x13)); break; }
  case 2: emit32(i_type(imm12(), source(), 0, dest(), 0x1b)); break; /* addiw */
  case 3: { u64 right = below(2); /* slliw, srliw, sraiw */
            emit32(i_type((i64)below(32) | (right && below(2) ? 0x400 : 0), source(), right ? 5 : 1, dest(), 0x1b)); break; }
  case 4: emit32(below(1u << 20) << 12 | dest() << 7 | 0x37); break; /* lui */
  default: emit32(below(1u << 20) << 12 | dest() << 7 | 0x17); break; /* auipc */
  }
}
static void load(void) {
  static const u64 widths[][2] = {{0, 1}, {1, 2}, {2, 4}, {3, 8}, {4, 1}, {5, 2}, {6, 4}}; /* funct3, bytes */
  const u64 *w = widths[below(7)];
  emit32(i_type(data_offset(w[1]), BASE, w[0], dest(), 0x03));
}
static void store(void) {
  u64 f3 = below(4);
  emit32(s_type(data_offset(1u << f3), source(), BASE, f3));
}
static void compressed_alu(void) {
  u64 rd = nonzero_dest(), rdc = dest_c() - 8, rs2c = below(8);
  u64 imm = below(64);
  switch (below(14)) {
  case 12: { u64 upper = 1 + below(63); /* c.lui (not x2, whose encoding is c.addi16sp) */
             u64 r = rd == 2 ? 1 : rd;
             emit16(0x6001 | (upper >> 5) << 12 | r << 7 | (upper & 31) << 2); break; }
  case 13: { u64 n = 4 * (1 + below(255)); /* c.addi4spn rd', sp, n */
             emit16(0x0000 | (n >> 4 & 3) << 11 | (n >> 6 & 15) << 7 | (n >> 2 & 1) << 6 | (n >> 3 & 1) << 5 | rdc << 2);
             break; }
  case 0: emit16(0x0001 | (imm >> 5) << 12 | rd << 7 | (imm & 31) << 2); break;          /* c.addi */
  case 1: emit16(0x4001 | (imm >> 5) << 12 | rd << 7 | (imm & 31) << 2); break;          /* c.li */
  case 2: emit16(0x2001 | (imm >> 5) << 12 | rd << 7 | (imm & 31) << 2); break;          /* c.addiw */
  case 3: emit16(0x0002 | ((imm | 1) >> 5) << 12 | rd << 7 | ((imm | 1) & 31) << 2); break; /* c.slli */
  case 4: emit16(0x8001 | ((imm | 1) >> 5) << 12 | rdc << 7 | ((imm | 1) & 31) << 2); break; /* c.srli */
  case 5: emit16(0x8401 | ((imm | 1) >> 5) << 12 | rdc << 7 | ((imm | 1) & 31) << 2); break; /* c.srai */
  case 6: emit16(0x8801 | (imm >> 5) << 12 | rdc << 7 | (imm & 31) << 2); break;          /* c.andi */
  case 7: emit16(0x8c01 | rdc << 7 | below(4) << 5 | rs2c << 2); break;                  /* c.sub/xor/or/and */
  case 8: emit16(0x9c01 | rdc << 7 | below(2) << 5 | rs2c << 2); break;                  /* c.subw/addw */
  case 9: emit16(0x8002 | rd << 7 | (1 + below(31)) << 2); break;                         /* c.mv */
  default: emit16(0x9002 | rd << 7 | (1 + below(31)) << 2); break;                        /* c.add */
  }
}
/* c.lw/c.ld/c.sw/c.sd off the base (x8: offsets 0-124 or 0-248 past data + 2048). */
static void compressed_access(int doubleword, int is_store, u64 offset, u64 reg) {
  u64 r = reg - 8;
  offset &= doubleword ? 0xf8 : 0x7c;
  if (doubleword)
    emit16((is_store ? 0xe000 : 0x6000) | (offset >> 3 & 7) << 10 | 0 << 7 | (offset >> 6 & 3) << 5 | r << 2);
  else
    emit16((is_store ? 0xc000 : 0x4000) | (offset >> 3 & 7) << 10 | 0 << 7 | (offset >> 2 & 1) << 6 |
           (offset >> 6 & 1) << 5 | r << 2);
}
/* c.sdsp / c.ldsp at sp + offset (a multiple of 8, below 512). */
static void c_sdsp(u64 offset, u64 reg) { emit16(0xe002 | (offset >> 3 & 7) << 10 | (offset >> 6 & 7) << 7 | reg << 2); }
static void c_ldsp(u64 offset, u64 reg) {
  emit16(0x6002 | (offset >> 5 & 1) << 12 | reg << 7 | (offset >> 3 & 3) << 5 | (offset >> 6 & 7) << 2);
}
/* c.addi16sp by a multiple of 16 in -512..496 (not 0). */
static void c_addi16sp(i64 amount) {
  u64 i = (u64)amount;
  emit16(0x6101 | (i >> 9 & 1) << 12 | (i >> 4 & 1) << 6 | (i >> 6 & 1) << 5 | (i >> 7 & 3) << 3 | (i >> 5 & 1) << 2);
}

/* A forward branch or jump over what `body` emits: the offset is patched once the body is there. */
static void forward(void (*body)(void)) {
  u64 kind = below(5), start = at, rs1 = source(), rs2 = source(), rc = 8 + below(8);
  u64 link = dest();
  if (kind < 3) emit32(0); else emit16(0);
  body();
  i64 offset = (i64)(at - start) * 2;
  switch (kind) {
  case 0: { u64 w = b_type(offset, rs2, rs1, (u64[]){0, 1, 4, 5, 6, 7}[below(6)]);
            code[start] = (u16)w; code[start + 1] = (u16)(w >> 16); break; }
  case 1: { u64 w = j_type(offset, link); code[start] = (u16)w; code[start + 1] = (u16)(w >> 16); break; }
  case 2: { /* auipc t, 0 then jalr: written as a pair at the start instead */
            u64 w = b_type(offset, rs2, rs1, 0); code[start] = (u16)w; code[start + 1] = (u16)(w >> 16); break; }
  case 3: { u64 o = (u64)offset; /* c.beqz / c.bnez (offset < 256 here) */
            code[start] = (u16)((below(2) ? 0xe001 : 0xc001) | (o >> 8 & 1) << 12 | (o >> 3 & 3) << 10 | (rc - 8) << 7 |
                                (o >> 6 & 3) << 5 | (o >> 1 & 3) << 3 | (o >> 5 & 1) << 2); break; }
  default: { u64 o = (u64)offset; /* c.j */
             code[start] = (u16)(0xa001 | (o >> 11 & 1) << 12 | (o >> 4 & 1) << 11 | (o >> 8 & 3) << 9 | (o >> 10 & 1) << 8 |
                                 (o >> 6 & 1) << 7 | (o >> 7 & 1) << 6 | (o >> 1 & 7) << 3 | (o >> 5 & 1) << 2); break; }
  }
}
static void simple(void);
static void one_or_two(void) { simple(); if (below(2)) simple(); }

/* ---- The pairs and runs ---- */
static void pair_then_branch(void) { /* an addition, andi or load, then a branch (often on its result) */
  u64 rd = dest(), start;
  switch (below(6)) {
  case 0: emit32(i_type(imm12(), source(), 0, rd, 0x13)); break;
  case 1: emit32(i_type(imm12(), source(), 0, rd, 0x1b)); break;
  case 2: emit32(i_type(imm12(), source(), 7, rd, 0x13)); break;
  case 3: emit32(i_type(data_offset(4), BASE, 2, rd, 0x03)); break;
  case 4: emit32(i_type(data_offset(8), BASE, 3, rd, 0x03)); break;
  default: rd = dest_c(); compressed_access(below(2), 0, below(32) * 8, rd); break;
  }
  start = at;
  emit32(0);
  one_or_two();
  u64 rs1 = below(3) ? rd : source(), rs2 = below(3) ? 0 : source();
  u64 w = b_type((i64)(at - start) * 2, rs2, rs1, (u64[]){0, 1, 4, 5, 6, 7}[below(6)]);
  code[start] = (u16)w;
  code[start + 1] = (u16)(w >> 16);
}
static void store_then_add(void) {
  u64 which = below(4);
  if (which < 2) store(); else compressed_access(below(2), 1, below(32) * 8, 8 + below(8));
  switch (below(4)) {
  case 0: emit32(i_type(imm12(), source(), 0, dest(), 0x13)); break;
  case 1: emit32(i_type(imm12(), source(), 0, dest(), 0x1b)); break;
  default: { u64 imm = below(64), rd = nonzero_dest();
             emit16((below(2) ? 0x0001 : 0x2001) | (imm >> 5) << 12 | rd << 7 | (imm & 31) << 2); }
  }
}
static void shift_pair(void) {
  u64 t = dest(), rd = dest();
  switch (below(3)) {
  case 0: emit32(i_type(32, source(), 1, t, 0x13)); emit32(i_type(32, below(4) ? t : source(), 5, rd, 0x13)); break;
  case 1: emit32(i_type((i64)below(64), source(), 1, t, 0x13)); emit32(r_type(0, source(), t, 0, rd, 0x33)); break;
  default: emit32(i_type((i64)below(64), source(), 5, t, 0x13)); emit32(r_type(0, below(2) ? t : source(), source(), 4, rd, 0x33));
  }
}
static void kernel_pair(void) {
  u64 a = dest(), b = dest(), t = dest();
  switch (below(7)) {
  case 0: emit32(i_type(data_offset(1), BASE, 4, a, 0x03)); emit32(i_type(data_offset(1), BASE, 4, b, 0x03)); break;
  case 1: emit32(s_type(data_offset(8), source(), BASE, 3)); emit32(s_type(data_offset(8), source(), BASE, 3)); break;
  case 2: emit32(below(1u << 20) << 12 | a << 7 | 0x17); emit32(i_type(imm12(), below(4) ? a : source(), 0, below(4) ? a : b, 0x13));
          break;
  case 3: { u64 shift = below(32); /* slliw/srliw t then or */
            emit32(i_type((i64)shift, source(), below(2) ? 1 : 5, t, 0x1b));
            emit32(r_type(0, below(2) ? t : source(), below(2) ? t : source(), 6, a, 0x33)); break; }
  case 4: emit32(i_type((i64)below(32), source(), 1, t, 0x1b)); emit32(i_type((i64)below(32) | 0x400, t, 5, a, 0x1b)); break;
  case 5: emit16(0x9002 | nonzero_dest() << 7 | (1 + below(31)) << 2); emit16(0x9002 | nonzero_dest() << 7 | (1 + below(31)) << 2);
          break;
  default: { /* auipc t, 0 then jalr rd, off(t) over one or two instructions */
             u64 start = at;
             emit32(0); emit32(0);
             one_or_two();
             i64 offset = (i64)(at - start) * 2;
             u64 auipc = t << 7 | 0x17, jalr = i_type(offset, t, 0, below(2) ? 0 : dest(), 0x67);
             if (t == 0) { auipc = 0x17 | 5 << 7; jalr = i_type(offset, 5, 0, dest(), 0x67); }
             code[start] = (u16)auipc; code[start + 1] = (u16)(auipc >> 16);
             code[start + 2] = (u16)jalr; code[start + 3] = (u16)(jalr >> 16); }
  }
}
static void access_run(void) { /* 2-4 compressed stores or loads off one base */
  u64 n = 2 + below(3), on_stack = below(2), is_store = below(2), offset = below(16) * 8;
  for (u64 i = 0; i < n; i++, offset += 8) {
    if (on_stack) {
      if (is_store) c_sdsp(offset, source()); else c_ldsp(offset, nonzero_dest());
    } else {
      compressed_access(1, is_store, offset % 256, is_store ? 8 + below(8) : dest_c());
    }
  }
}
static void push_pop(void) { /* a push, some code, the matching pop; sometimes the pop returns (c.jr ra) */
  i64 frame = 16 * (i64)(1 + below(4));
  u64 saves = 1 + below(3);
  /* c.addi16sp, or c.addi sp (-32..-16 only) */
  if (frame > 32 || below(2)) c_addi16sp(-frame);
  else emit16(0x0101 | (((u64)-frame >> 5) & 1) << 12 | (((u64)-frame) & 31) << 2);
  for (u64 i = 0; i < saves; i++) c_sdsp(8 * i, source());
  one_or_two();
  int returns = below(2);
  u64 start = at;
  if (returns) { emit32(0); emit32(0); } /* auipc ra, 0; addi ra, ra, past the return */
  for (u64 i = 0; i < saves; i++) {
    u64 r = nonzero_dest();
    if (returns && r == 1) r = 5;
    c_ldsp(8 * i, r);
  }
  c_addi16sp(frame);
  if (returns) {
    emit16(0x8082); /* c.jr ra */
    u64 auipc = 1 << 7 | 0x17, addi = i_type((i64)(at - start) * 2, 1, 0, 1, 0x13);
    code[start] = (u16)auipc; code[start + 1] = (u16)(auipc >> 16);
    code[start + 2] = (u16)addi; code[start + 3] = (u16)(addi >> 16);
  }
}

/* c.lwsp / c.swsp at sp + a multiple of 4 below 256. */
static void stack_word(void) {
  u64 offset = 4 * below(64);
  if (below(2))
    emit16(0x4002 | (offset >> 5 & 1) << 12 | nonzero_dest() << 7 | (offset >> 2 & 7) << 4 | (offset >> 6 & 3) << 2);
  else
    emit16(0xc002 | (offset >> 2 & 15) << 9 | (offset >> 6 & 3) << 7 | source() << 2);
}

static void simple(void) {
  switch (below(7)) {
  case 6: stack_word(); break;
  case 0: alu_register(); break;
  case 1: alu_immediate(); break;
  case 2: load(); break;
  case 3: store(); break;
  default: compressed_alu(); break;
  }
}

/* Each block starts up to 400 bytes before a page boundary of the code buffer, so that pairs, runs and
 * 4-byte instructions fall across it; code[0] jumps there. */
static void generate_block(void) {
  u64 start = 2048 - below(200);
  u64 jump = j_type((i64)start * 2, 0);
  code[0] = (u16)jump;
  code[1] = (u16)(jump >> 16);
  at = start;
  while (at < start + BLOCK_INSTRUCTIONS * 2) {
    switch (below(12)) {
    case 0: case 1: simple(); break;
    case 2: pair_then_branch(); break;
    case 3: store_then_add(); break;
    case 4: shift_pair(); break;
    case 5: case 6: kernel_pair(); break;
    case 7: access_run(); break;
    case 8: push_pop(); break;
    case 9: forward(one_or_two); break;
    case 10: compressed_alu(); compressed_alu(); break;
    default: alu_register(); break;
    }
  }
  emit32(j_type((i64)((u64)block_exit - here()), 0));
}


/* The translated blocks: Sv39 with the data's two pages mapped swapped at DATA_VA (and RAM and the devices
 * identity-mapped by gigapages), data accesses translated through MPRV with MPP = S while fetches stay physical.
 * A pair or run of accesses crossing the boundary must translate each access on its own. */
#define DATA_VA 0x40000000UL
static u64 root[512] __attribute__((aligned(4096))), middle[512] __attribute__((aligned(4096))),
    leaves[512] __attribute__((aligned(4096)));
#define PTE_LEAF(pa, rights) ((((u64)(pa)) >> 12) << 10 | (rights) | 0xc1) /* V, A, D */
#define PTE_TABLE(table) ((((u64)(table)) >> 12) << 10 | 1)

static void translate_data(void) {
  root[0] = PTE_LEAF(0, 0xe);          /* devices: RWX */
  root[2] = PTE_LEAF(0x80000000, 0xe); /* RAM */
  root[1] = PTE_TABLE(middle);
  middle[0] = PTE_TABLE(leaves);
  leaves[0] = PTE_LEAF(&data[4096], 0x6); /* RW */
  leaves[1] = PTE_LEAF(&data[0], 0x6);
  csr_write(satp, 8UL << 60 | (u64)root >> 12);
  asm volatile("sfence.vma" ::: "memory");
  csr_clear(mstatus, MSTATUS_MPP);
  csr_set(mstatus, MSTATUS_MPRV | 1UL << 11); /* MPP = S */
}

/* The guarded blocks: a locked PMP entry (it binds M-mode too) denies every access to 128 bytes of the data
 * (GUARD, from 256 bytes below the base), so that some accesses, the first or a later one of a pair or run,
 * fault; skip_fault records each fault and skips its instruction. */
#define GUARD 3840
#define GUARD_BYTES 128
static int guarded(u64 i) { return guard_on && i >= GUARD && i < GUARD + GUARD_BYTES; }

static void guard_data(void) {
  csr_clear(mstatus, MSTATUS_MPRV);
  csr_write(satp, 0);
  asm volatile("sfence.vma" ::: "memory");
  csr_write(pmpaddr0, ((u64)&data[GUARD] >> 2) | (GUARD_BYTES / 8 - 1));
  csr_write(pmpaddr1, ~0UL);
  csr_write(pmpcfg0, 0x1f98UL); /* entry 0: L, NAPOT, no access; entry 1: NAPOT, RWX */
  csr_write(mtvec, (u64)skip_fault);
  guard_on = 1;
}

static void run_blocks(u64 first, u64 count, u64 base) {
  for (u64 block = first; block < first + count; block++) {
    rng_state = 0x9e3779b97f4a7c15UL * (block + 1 + SEED * 3 * BLOCKS);
    generate_block();
    asm volatile("fence.i" ::: "memory");
#ifdef DUMP_BLOCK /* -DDUMP_BLOCK=N: block N's code as halfwords, for objdump -b binary when a hash differs */
    if (block == DUMP_BLOCK) { for (u64 i = 0; i < at; i++) gprintf("%04x\n", code[i]); }
#endif
    for (u64 i = 0; i < DATA_BYTES; i++) {
      u8 byte = (u8)rnd();
      if (!guarded(i)) data[i] = byte;
    }
    for (u64 r = 0; r < 32; r++) block_state[r] = below(4) ? rnd() : (u64[]){0, 1, (u64)-1, 0x80000000}[below(4)];
    block_state[0] = 0;
    block_state[STACK] = base - 256;
    block_state[BASE] = base;
    block_state[3] = 0; /* gp, tp: loaded and stored back, never written by the block */
    block_state[4] = 0;
    block_state[50] = 0;
    run_block();
    u64 hash = FNV_START;
    for (u64 r = 1; r < 32; r++) hash = fold(hash, block_state[r]);
    for (u64 i = 0; i < DATA_BYTES; i += 8)
      if (!guarded(i)) hash = fold(hash, *(u64 *)&data[i]);
    u64 faults = block_state[50];
    for (u64 f = 0; f < faults && f < 21; f++)
      for (u64 w = 0; w < 3; w++) hash = fold(hash, block_state[64 + 3 * f + w] - (w == 0 ? (u64)code : 0));
    if (guard_on) gprintf("block %lu %016lx %lu faults\n", block, hash, faults);
    else gprintf("block %lu %016lx\n", block, hash);
  }
}

void test_main(void) {
  run_blocks(0, BLOCKS, (u64)&data[4096]);
  translate_data();
  run_blocks(BLOCKS, BLOCKS, DATA_VA + 4096);
  guard_data();
  run_blocks(2 * BLOCKS, BLOCKS, (u64)&data[4096]);
  csr_write(mtvec, (u64)m_trap_entry);
}
