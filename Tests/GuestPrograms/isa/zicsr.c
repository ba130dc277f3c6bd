/* zicsr: the CSR instructions and the machine's CSR rules.
 * - CSRRW/CSRRS/CSRRC and the immediate forms on mscratch: the old value in rd, the new value written,
 *   rs1 = x0 / uimm = 0 reading without writing, rd = x0 writing, rd == rs1, uimm zero-extended;
 * - writing a read-only CSR (mhartid, mvendorid, cycle, time, instret) raises illegal instruction, also
 *   with CSRRW from x0 and CSRRSI with a nonzero uimm, while CSRRS/CSRRSI with x0/0 only read;
 *   CSRs that do not exist (dcsr 0x7b0, the unallocated 0x182 and 0x5c7, pmpcfg1 0x3a1 on RV64) raise illegal;
 *   M-mode CSRs from S, S-mode CSRs from U raise illegal; mtval is 0 or the instruction;
 * - misa (MXL = 64, I M A F D C S U), mhartid 0, mstatus.UXL/SXL = 64, mepc bit 0 hardwired to 0,
 *   sstatus as a view of mstatus (SIE shared, MIE invisible), sie/sip as mideleg-masked views of
 *   mie/mip, mip.MTIP/MSIP read-only, mideleg/medeleg writable bits (medeleg[11] read-only 0);
 * - counters: cycle, time and instret readable in M; time agrees with the CLINT's mtime; instret counts
 *   exactly the retired instructions (QEMU without -icount counts host ticks); minstret/mcycle writable;
 *   mcounteren gates S (and U) and scounteren gates U, bit by bit for CY, TM, IR. */
#include "isa.h"

static void read_modify_write(void) {
  u64 saved = csr_read(mscratch); /* the M trap entry keeps its stack pointer there */
  u64 old, now;
  csr_write(mscratch, 0x1234);
  asm volatile("csrrw %0, mscratch, %1" : "=r"(old) : "r"(0xf0f0f0f0f0f0f0f0UL));
  CHECK_EQ(old, 0x1234, "csrrw returns the old value");
  CHECK_EQ(csr_read(mscratch), 0xf0f0f0f0f0f0f0f0UL, "csrrw writes");
  asm volatile("csrrs %0, mscratch, %1" : "=r"(old) : "r"(0x0f0fUL));
  CHECK_EQ(old, 0xf0f0f0f0f0f0f0f0UL, "csrrs returns the old value");
  CHECK_EQ(csr_read(mscratch), 0xf0f0f0f0f0f0ffffUL, "csrrs sets bits");
  asm volatile("csrrc %0, mscratch, %1" : "=r"(old) : "r"(0xff000000000000ffUL));
  CHECK_EQ(old, 0xf0f0f0f0f0f0ffffUL, "csrrc returns the old value");
  CHECK_EQ(csr_read(mscratch), 0x00f0f0f0f0f0ff00UL, "csrrc clears bits");
  asm volatile("csrrwi %0, mscratch, 31" : "=r"(old));
  CHECK_EQ(old, 0x00f0f0f0f0f0ff00UL, "csrrwi returns the old value");
  CHECK_EQ(csr_read(mscratch), 31, "csrrwi writes the zero-extended uimm");
  asm volatile("csrrsi %0, mscratch, 0x10" : "=r"(old));
  CHECK_EQ(csr_read(mscratch), 31, "csrrsi 0x10 on 31");
  asm volatile("csrrci %0, mscratch, 0x15" : "=r"(old));
  CHECK_EQ(old, 31, "csrrci returns the old value");
  CHECK_EQ(csr_read(mscratch), 0x0a, "csrrci clears bits");
  asm volatile("csrrs %0, mscratch, x0" : "=r"(old));
  CHECK_EQ(old, 0x0a, "csrrs x0 reads");
  asm volatile("csrrsi %0, mscratch, 0\ncsrrci x0, mscratch, 0" : "=r"(old));
  CHECK_EQ(csr_read(mscratch), 0x0a, "csrrsi/csrrci 0 do not write");
  asm volatile("csrrw x0, mscratch, %0" ::"r"(0x77UL));
  CHECK_EQ(csr_read(mscratch), 0x77, "csrrw x0 writes");
  now = 0x99;
  asm volatile("csrrw %0, mscratch, %0" : "+r"(now));
  CHECK_EQ(now, 0x77, "csrrw rd == rs1 returns the old value");
  CHECK_EQ(csr_read(mscratch), 0x99, "csrrw rd == rs1 writes the old rs1");
  csr_write(mscratch, saved);
}

#define EXPECT_ILLEGAL(insn, what) do { expect_trap(); asm volatile(insn ::: "t0", "memory"); CHECK_TRAP(CAUSE_ILLEGAL, what); } while (0)
#define EXPECT_LEGAL(insn, what) do { expect_trap(); asm volatile(insn ::: "t0", "memory"); CHECK_NO_TRAP(what); } while (0)

static void access_rules(void) {
  EXPECT_ILLEGAL("li t0, 1\ncsrw mhartid, t0", "csrw mhartid");
  EXPECT_ILLEGAL("csrw mvendorid, x0", "csrrw x0 to mvendorid");
  EXPECT_ILLEGAL("csrrsi t0, mhartid, 1", "csrrsi 1 on mhartid");
  EXPECT_ILLEGAL("csrw cycle, x0", "csrw cycle");
  EXPECT_ILLEGAL("li t0, 4\ncsrs time, t0", "csrs time with a nonzero register");
  EXPECT_ILLEGAL("csrrci t0, instret, 1", "csrrci 1 on instret");
  EXPECT_ILLEGAL("csrrw t0, marchid, x0", "csrrw marchid");
  EXPECT_LEGAL("csrrsi t0, mhartid, 0\ncsrrs t0, cycle, x0\ncsrrc t0, mimpid, x0\ncsrrci t0, time, 0",
               "CSRRS/CSRRC with x0 and CSRRSI/CSRRCI with 0 only read read-only CSRs");
  EXPECT_ILLEGAL("csrr t0, 0x7b0", "dcsr outside debug mode");
  EXPECT_ILLEGAL("csrr t0, 0x182", "unallocated CSR 0x182");
  EXPECT_ILLEGAL("csrw 0x5c7, x0", "unallocated CSR 0x5c7");
  EXPECT_ILLEGAL("csrr t0, 0x3a1", "pmpcfg1 on RV64");
  EXPECT_ILLEGAL("csrw 0x3a1, x0", "writing pmpcfg1 on RV64");

  u32 insn;
  struct trap_record *t = expect_trap();
  asm volatile("lla t0, 1f\nlwu %0, 0(t0)\n.option push\n.option norvc\n1: csrw mhartid, x0\n.option pop"
               : "=&r"(insn)::"t0");
  CHECK_TRAP(CAUSE_ILLEGAL, "csrw mhartid, x0");
  CHECK(t->tval == 0 || t->tval == insn, "mtval of an illegal CSR access is 0 or the instruction");
}

static i64 read_mstatus(i64 x) { (void)x; return (i64)csr_read(mstatus); }
static i64 read_sstatus(i64 x) { (void)x; return (i64)csr_read(sstatus); }
static i64 write_mscratch(i64 x) { csr_write(mscratch, x); return 0; }
static i64 read_satp(i64 x) { (void)x; return (i64)csr_read(satp); }
static i64 read_cycle(i64 x) { (void)x; return (i64)csr_read(cycle); }
static i64 read_time(i64 x) { (void)x; return (i64)csr_read(time); }
static i64 read_instret(i64 x) { (void)x; return (i64)csr_read(instret); }

static void privilege_rules(void) {
  expect_trap(); run_in_mode(PRV_S, read_mstatus, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "mstatus from S");
  u64 saved = csr_read(mscratch);
  expect_trap(); run_in_mode(PRV_S, write_mscratch, 5, 0); CHECK_TRAP(CAUSE_ILLEGAL, "mscratch write from S");
  CHECK_EQ(csr_read(mscratch), saved, "mscratch unchanged by the refused write");
  expect_trap(); run_in_mode(PRV_S, read_sstatus, 0, 0); CHECK_NO_TRAP("sstatus from S");
  expect_trap(); run_in_mode(PRV_U, read_sstatus, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "sstatus from U");
  expect_trap(); run_in_mode(PRV_U, read_satp, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "satp from U");
  expect_trap(); run_in_mode(PRV_U, read_mstatus, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "mstatus from U");
}

static void machine_registers(void) {
  u64 misa = csr_read(misa);
  CHECK_EQ(misa >> 62, 2, "misa.MXL = 64");
  const char *letters = "IMAFDCSU";
  for (const char *l = letters; *l; l++) {
    char what[] = "misa has extension ?";
    what[sizeof what - 2] = *l;
    CHECK(misa & (1UL << (*l - 'A')), what);
  }
  CHECK_EQ(csr_read(mhartid), 0, "mhartid of hart 0");
  (void)csr_read(mvendorid);
  (void)csr_read(marchid);
  (void)csr_read(mimpid);
  u64 mstatus = csr_read(mstatus);
  CHECK_EQ((mstatus & MSTATUS_UXL) >> 32, 2, "mstatus.UXL = 64");
  CHECK_EQ((mstatus & MSTATUS_SXL) >> 34, 2, "mstatus.SXL = 64");
  CHECK_EQ((csr_read(sstatus) & MSTATUS_UXL) >> 32, 2, "sstatus.UXL = 64");

  u64 saved_mepc = csr_read(mepc);
  csr_write(mepc, 0x80001233UL);
  u64 mepc = csr_read(mepc);
  if (mepc != 0x80001233UL || !qemu_deviation("mepc bit 0 reads back as written; the spec makes it always 0"))
    CHECK_EQ(mepc, 0x80001232UL, "mepc bit 0 is hardwired to 0, bit 1 writable with C");
  csr_write(mepc, saved_mepc);

  csr_clear(mstatus, MSTATUS_SIE);
  csr_set(sstatus, MSTATUS_SIE);
  CHECK(csr_read(mstatus) & MSTATUS_SIE, "sstatus.SIE is mstatus.SIE");
  csr_clear(sstatus, MSTATUS_SIE);
  CHECK(!(csr_read(mstatus) & MSTATUS_SIE), "clearing sstatus.SIE clears mstatus.SIE");
  csr_clear(mstatus, MSTATUS_MIE | MSTATUS_MPIE);
  csr_set(sstatus, MSTATUS_MIE | MSTATUS_MPIE);
  CHECK(!(csr_read(mstatus) & (MSTATUS_MIE | MSTATUS_MPIE)), "sstatus cannot set MIE/MPIE");
  CHECK(!(csr_read(sstatus) & (MSTATUS_MIE | MSTATUS_MPP)), "sstatus does not show MIE or MPP");
  csr_set(mstatus, MSTATUS_FS_DIRTY);
  CHECK(csr_read(mstatus) & MSTATUS_SD, "mstatus.SD with FS dirty");
  CHECK(csr_read(sstatus) & MSTATUS_SD, "sstatus.SD with FS dirty");

  csr_write(mideleg, ALL_ONES);
  u64 mideleg = csr_read(mideleg);
  CHECK_EQ(mideleg & (MIP_SSIP | MIP_STIP | MIP_SEIP), MIP_SSIP | MIP_STIP | MIP_SEIP,
           "mideleg delegates SSI, STI, SEI");
  CHECK_EQ(mideleg & (MIP_MSIP | MIP_MTIP | MIP_MEIP), 0, "M interrupts cannot be delegated");
  csr_write(medeleg, ALL_ONES);
  u64 medeleg = csr_read(medeleg);
  CHECK_EQ(medeleg & 0xb3ff, 0xb3ff & ~(1UL << CAUSE_ECALL_M) & ~(1UL << 10),
           "medeleg delegates causes 0-9, 12, 13, 15");
  if (!(medeleg & (1UL << CAUSE_ECALL_M)) ||
      !qemu_deviation("medeleg bit 11 (ecall from M) is writable; the spec makes it read-only 0"))
    CHECK_EQ(medeleg & (1UL << CAUSE_ECALL_M), 0, "medeleg[11] is read-only 0");
  csr_write(medeleg, 0);

  /* sie/sip show only the delegated bits. */
  csr_write(mideleg, 0);
  csr_write(mie, 0);
  csr_write(sie, ALL_ONES);
  CHECK_EQ(csr_read(mie), 0, "sie writes without delegation change nothing");
  csr_write(mideleg, MIP_SSIP | MIP_STIP);
  csr_write(sie, ALL_ONES);
  CHECK_EQ(csr_read(mie), MIP_SSIP | MIP_STIP, "sie writes reach the delegated mie bits only");
  CHECK_EQ(csr_read(sie), MIP_SSIP | MIP_STIP, "sie reads the delegated mie bits");
  csr_write(mie, 0);
  csr_set(mip, MIP_SSIP);
  CHECK(csr_read(sip) & MIP_SSIP, "sip shows a delegated SSIP set through mip");
  csr_clear(sip, MIP_SSIP);
  CHECK(!(csr_read(mip) & MIP_SSIP), "clearing sip.SSIP clears mip.SSIP");
  csr_write(mideleg, 0);
  csr_set(mip, MIP_SSIP);
  CHECK_EQ(csr_read(sip) & MIP_SSIP, 0, "sip hides an undelegated SSIP");
  csr_clear(mip, MIP_SSIP);
  csr_set(mip, MIP_MTIP | MIP_MSIP);
  CHECK_EQ(csr_read(mip) & (MIP_MTIP | MIP_MSIP), 0, "mip.MTIP and mip.MSIP are read-only");
  csr_set(mip, MIP_STIP);
  CHECK(csr_read(mip) & MIP_STIP, "M-mode can set mip.STIP");
  csr_clear(mip, MIP_STIP);
  CHECK(!(csr_read(mip) & MIP_STIP), "M-mode can clear mip.STIP");
}

static void counters(void) {
  u64 c0 = csr_read(cycle), i0 = csr_read(instret);
  for (volatile int i = 0; i < 1000; i++) {}
  u64 c1 = csr_read(cycle), i1 = csr_read(instret);
  CHECK(c1 > c0, "cycle advances");
  CHECK(i1 > i0, "instret advances");

  u64 before, after;
  asm volatile(".option push\n.option norvc\ncsrr %0, instret\n"
               "addi zero, zero, 0\naddi zero, zero, 0\naddi zero, zero, 0\naddi zero, zero, 0\naddi zero, zero, 0\n"
               "addi zero, zero, 0\naddi zero, zero, 0\naddi zero, zero, 0\naddi zero, zero, 0\naddi zero, zero, 0\n"
               "csrr %1, instret\n.option pop"
               : "=&r"(before), "=&r"(after));
  if (after - before != 11 && qemu_deviation("instret counts host ticks without -icount"))
    CHECK(after > before, "instret advances over 11 instructions");
  else
    CHECK_EQ(after - before, 11, "instret counts the 11 instructions from one read to the next");

  u64 m0 = mtime(), t = csr_read(time), m1 = mtime();
  CHECK(m0 <= t && t <= m1, "the time CSR agrees with the CLINT's mtime");

  csr_write(minstret, 1000000);
  u64 now = csr_read(minstret);
  CHECK(now >= 1000000 && now < 1000000 + 1000000, "minstret is writable");
  csr_write(mcycle, 5000000);
  now = csr_read(mcycle);
  CHECK(now >= 5000000, "mcycle is writable");
}

static void counter_enables(void) {
  static const struct { i64 (*read)(i64); u64 bit; const char *name; } regs[] = {
    {read_cycle, 1 << 0, "cycle"}, {read_time, 1 << 1, "time"}, {read_instret, 1 << 2, "instret"},
  };
  char what[96];
#define GATED(mode, want_trap, how) do { \
    gsprintf(what, sizeof what, "%s from %s " how, regs[i].name, mode == PRV_S ? "S" : "U"); \
    expect_trap(); \
    run_in_mode(mode, regs[i].read, 0, 0); \
    if (want_trap) CHECK_TRAP(CAUSE_ILLEGAL, what); else CHECK_NO_TRAP(what); \
  } while (0)
  for (unsigned i = 0; i < 3; i++) {
    csr_write(mcounteren, 0);
    csr_write(scounteren, 7);
    GATED(PRV_S, 1, "with mcounteren clear");
    GATED(PRV_U, 1, "with mcounteren clear");
    csr_write(mcounteren, 7 & ~regs[i].bit);
    GATED(PRV_S, 1, "with only the other mcounteren bits");
    csr_write(mcounteren, regs[i].bit);
    GATED(PRV_S, 0, "with its mcounteren bit");
    csr_write(scounteren, 7 & ~regs[i].bit);
    GATED(PRV_U, 1, "without its scounteren bit");
    csr_write(scounteren, regs[i].bit);
    GATED(PRV_U, 0, "with both bits");
    csr_write(mcounteren, 0);
    GATED(PRV_U, 1, "with only its scounteren bit");
  }
#undef GATED
  csr_write(mcounteren, 7);
  csr_write(scounteren, 7);
  u64 t0 = mtime();
  u64 t = (u64)run_in_mode(PRV_U, read_time, 0, 0);
  CHECK(t >= t0 && t <= mtime(), "time read from U agrees with mtime");
  csr_write(mcounteren, 0);
  csr_write(scounteren, 0);
}

void test_main(void) {
  read_modify_write();
  access_rules();
  privilege_rules();
  machine_registers();
  counters();
  counter_enables();
}
