/* traps: synchronous exceptions, interrupts, delegation and privilege transitions.
 * - Every synchronous cause this machine can produce without paging, with mcause, mepc and mtval:
 *   illegal instruction (16-bit all zeros, 0xffffffff, reserved OP/OP-IMM-32 encodings, custom-0,
 *   MRET from S, SRET from U), breakpoint (EBREAK, mtval 0 or pc), ecall from U, S and M, load and
 *   store access faults at an unmapped address for every width (mtval = address), instruction access
 *   fault on a jump to an unmapped address (mepc = mtval = target). Misaligned fetch (cause 0) cannot
 *   happen with the C extension (JALR clears bit 0, branch offsets are even, mepc[0] is 0); page faults
 *   (12, 13, 15) are in sv39/sv48, misaligned loads/stores in misaligned.
 * - medeleg: delegated causes from U and S go to the S handler (scause, sepc, stval, SPP, SPIE/SIE),
 *   the same cause raised in M stays in M, undelegated causes from U go to M.
 * - mideleg and interrupt enables: a delegated SSI is taken in S only with SIE set, but always while in
 *   U; a machine interrupt is taken from S even with mstatus.MIE clear; WFI returns for a pending
 *   enabled interrupt while interrupts are globally disabled, without taking it.
 * - Priority: with MSI, MTI, SSI and STI all pending, they are taken in the order MSI, MTI, SSI, STI.
 * - mtvec/stvec vectored mode: interrupt n enters at base + 4n, exceptions at base.
 * - Sstc: with menvcfg.STCE, stimecmp raises STI in S; without it, stimecmp is illegal from S.
 * - MRET/SRET: MPP/SPP select the mode, MPIE/SPIE become MIE/SIE, xPP becomes U and xPIE 1, MRET to a
 *   mode below M clears MPRV; TSR makes SRET illegal in S, TW makes WFI illegal in S, TVM makes satp and
 *   SFENCE.VMA illegal in S.
 */
#include "isa.h"

/* ---- exceptions in M ---- */

#define EXPECT_TRAP_AT(cause, insn, what) do { \
    u64 pc_; struct trap_record *t_ = expect_trap(); \
    asm volatile("lla %0, 1f\n1: " insn : "=&r"(pc_) :: "t0", "memory"); \
    CHECK_TRAP(cause, what); \
    CHECK_EQ(t_->epc, pc_, what); \
  } while (0)

static void machine_exceptions(void) {
  EXPECT_TRAP_AT(CAUSE_ILLEGAL, ".hword 0", "16-bit all-zeros instruction");
  EXPECT_TRAP_AT(CAUSE_ILLEGAL, ".word 0xffffffff", "0xffffffff");
  EXPECT_TRAP_AT(CAUSE_ILLEGAL, ".word 0x400012b3", "OP funct7 0x20 funct3 1 (reserved)");
  EXPECT_TRAP_AT(CAUSE_ILLEGAL, ".word 0x0200129b", "slliw with shamt[5] set (reserved on RV64)");
  EXPECT_TRAP_AT(CAUSE_ILLEGAL, ".word 0x0000000b", "custom-0 opcode");
  EXPECT_TRAP_AT(CAUSE_ILLEGAL, ".word 0x0000707b", "opcode 0x7b (reserved)");

  struct trap_record *t = expect_trap();
  u64 pc;
  asm volatile("lla %0, 1f\n.option push\n.option norvc\n1: ebreak\n.option pop" : "=&r"(pc));
  CHECK_TRAP(CAUSE_BREAKPOINT, "ebreak");
  CHECK_EQ(t->epc, pc, "ebreak mepc");
  CHECK(t->tval == 0 || t->tval == pc, "ebreak mtval is 0 or the pc");

  t = expect_trap();
  asm volatile("lla %0, 1f\n1: ecall" : "=&r"(pc)::"memory");
  CHECK_TRAP(CAUSE_ECALL_M, "ecall from M");
  CHECK_EQ(t->epc, pc, "ecall mepc");
  CHECK_EQ(t->tval, 0, "ecall mtval");
  CHECK_EQ(t->from, PRV_M, "ecall from M: MPP = M");

#define ACCESS(insn, off, cause, what) do { \
    struct trap_record *t_ = expect_trap(); \
    asm volatile(insn " t0, " #off "(%0)" ::"r"(UNMAPPED_ADDR) : "t0", "memory"); \
    CHECK_TRAP(cause, what); \
    CHECK_EQ(t_->tval, UNMAPPED_ADDR + off, what); \
  } while (0)
  ACCESS("lb", 0, CAUSE_LOAD_ACCESS, "lb from an unmapped address");
  ACCESS("lhu", 2, CAUSE_LOAD_ACCESS, "lhu from an unmapped address");
  ACCESS("lw", 4, CAUSE_LOAD_ACCESS, "lw from an unmapped address");
  ACCESS("ld", 8, CAUSE_LOAD_ACCESS, "ld from an unmapped address");
  ACCESS("sb", 1, CAUSE_STORE_ACCESS, "sb to an unmapped address");
  ACCESS("sh", 2, CAUSE_STORE_ACCESS, "sh to an unmapped address");
  ACCESS("sw", 4, CAUSE_STORE_ACCESS, "sw to an unmapped address");
  ACCESS("sd", 16, CAUSE_STORE_ACCESS, "sd to an unmapped address");
#undef ACCESS

  t = expect_trap();
  asm volatile("li t0, %0\njalr ra, 0(t0)" ::"i"(UNMAPPED_ADDR) : "t0", "ra", "memory");
  CHECK_TRAP(CAUSE_FETCH_ACCESS, "jump to an unmapped address");
  CHECK_EQ(t->epc, UNMAPPED_ADDR, "fetch access fault mepc");
  CHECK_EQ(t->tval, UNMAPPED_ADDR, "fetch access fault mtval");
}

/* ---- ecall and illegal instructions from lower modes ---- */

static i64 do_ecall(i64 x) {
  register i64 a7 asm("a7") = 0;
  asm volatile("ecall" ::"r"(a7) : "memory");
  return x;
}
static i64 do_mret(i64 x) { asm volatile("mret" ::: "memory"); return x; }
static i64 do_sret(i64 x) { asm volatile("sret" ::: "memory"); return x; }
static i64 do_illegal(i64 x) { asm volatile(".hword 0" ::: "memory"); return x; }
static i64 do_ebreak(i64 x) { asm volatile("ebreak" ::: "memory"); return x; }
static i64 do_load_unmapped(i64 x) { return *(volatile i64 *)(x); }
static i64 do_wfi(i64 x) { asm volatile("wfi" ::: "memory"); return x; }
static i64 do_satp_read(i64 x) { (void)x; return (i64)csr_read(satp); }
static i64 do_sfence(i64 x) { asm volatile("sfence.vma" ::: "memory"); return x; }

static void lower_mode_exceptions(void) {
  struct trap_record *t = expect_trap();
  run_in_mode(PRV_U, do_ecall, 0, 0);
  CHECK_TRAP(CAUSE_ECALL_U, "ecall from U");
  CHECK_EQ(t->from, PRV_U, "ecall from U: MPP = U");
  t = expect_trap();
  run_in_mode(PRV_S, do_ecall, 0, 0);
  CHECK_TRAP(CAUSE_ECALL_S, "ecall from S");
  CHECK_EQ(t->from, PRV_S, "ecall from S: MPP = S");
  expect_trap(); run_in_mode(PRV_S, do_mret, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "mret in S");
  expect_trap(); run_in_mode(PRV_U, do_mret, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "mret in U");
  expect_trap(); run_in_mode(PRV_U, do_sret, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "sret in U");
  t = expect_trap();
  run_in_mode(PRV_U, do_load_unmapped, UNMAPPED_ADDR + 0x40, 0);
  CHECK_TRAP(CAUSE_LOAD_ACCESS, "load access fault from U");
  CHECK_EQ(t->tval, UNMAPPED_ADDR + 0x40, "load access fault from U: mtval");
}

/* ---- delegation ---- */

static void delegation(void) {
  csr_write(stvec, (u64)s_trap_entry);
  csr_write(medeleg, (1UL << CAUSE_ILLEGAL) | (1UL << CAUSE_ECALL_U) | (1UL << CAUSE_LOAD_ACCESS));

  struct trap_record *t = expect_trap();
  run_in_mode(PRV_U, do_illegal, 0, 0);
  CHECK_TRAP(CAUSE_ILLEGAL, "delegated illegal instruction from U");
  CHECK_EQ(t->level, PRV_S, "delegated illegal from U is taken in S");
  CHECK_EQ(t->from, PRV_U, "sstatus.SPP = U");

  /* SPIE takes SIE, SIE is cleared. */
  csr_set(sstatus, MSTATUS_SIE);
  t = expect_trap();
  run_in_mode(PRV_S, do_illegal, 0, 0);
  CHECK_TRAP(CAUSE_ILLEGAL, "delegated illegal instruction from S");
  CHECK_EQ(t->level, PRV_S, "delegated illegal from S is taken in S");
  CHECK_EQ(t->from, PRV_S, "sstatus.SPP = S");
  CHECK(t->status & MSTATUS_SPIE, "sstatus.SPIE holds the old SIE (1)");
  CHECK(!(t->status & MSTATUS_SIE), "sstatus.SIE is cleared on entry");
  csr_clear(sstatus, MSTATUS_SIE);

  t = expect_trap();
  run_in_mode(PRV_U, do_ecall, 0, 0);
  CHECK_TRAP(CAUSE_ECALL_U, "delegated ecall from U");
  CHECK_EQ(t->level, PRV_S, "delegated ecall from U is taken in S");
  t = expect_trap();
  run_in_mode(PRV_S, do_ecall, 0, 0);
  CHECK_TRAP(CAUSE_ECALL_S, "ecall from S (not delegated)");
  CHECK_EQ(t->level, PRV_M, "undelegated ecall from S is taken in M");
  t = expect_trap();
  run_in_mode(PRV_U, do_load_unmapped, UNMAPPED_ADDR + 8, 0);
  CHECK_TRAP(CAUSE_LOAD_ACCESS, "delegated load access fault from U");
  CHECK_EQ(t->level, PRV_S, "delegated load access fault is taken in S");
  CHECK_EQ(t->tval, UNMAPPED_ADDR + 8, "stval of the delegated load access fault");
  t = expect_trap();
  run_in_mode(PRV_U, do_ebreak, 0, 0);
  CHECK_TRAP(CAUSE_BREAKPOINT, "undelegated ebreak from U");
  CHECK_EQ(t->level, PRV_M, "undelegated ebreak from U is taken in M");
  t = expect_trap();
  asm volatile(".hword 0" ::: "memory");
  CHECK_TRAP(CAUSE_ILLEGAL, "illegal instruction in M with medeleg set");
  CHECK_EQ(t->level, PRV_M, "traps in M are never delegated");
  csr_write(medeleg, 0);
}

/* ---- interrupts ---- */

static volatile u64 irq_causes[16], irq_vectors[16], irq_levels[16], irq_count;

static void clear_source(u64 cause) {
  switch (cause) {
  case IRQ_S_SOFT: csr_clear(mip, MIP_SSIP); break;
  case IRQ_S_TIMER: csr_clear(mip, MIP_STIP); break;
  case IRQ_M_SOFT: mmio_write32(CLINT_MSIP(hart_id()), 0); wait_mip(MIP_MSIP, 0); break;
  case IRQ_M_TIMER: mmio_write64(CLINT_MTIMECMP(hart_id()), ~0UL); wait_mip(MIP_MTIP, 0); break;
  default: break;
  }
}

static void log_irq(u64 cause, struct trap_frame *f, u64 level) {
  if (irq_count < 16) {
    irq_causes[irq_count] = cause;
    irq_vectors[irq_count] = f->vector;
    irq_levels[irq_count] = level;
  }
  irq_count++;
}

static void m_hook(u64 cause, struct trap_frame *f) {
  log_irq(cause, f, PRV_M);
  clear_source(cause);
}

static void s_hook(u64 cause, struct trap_frame *f) {
  log_irq(cause, f, PRV_S);
  if (cause == IRQ_S_SOFT) csr_clear(sip, MIP_SSIP);
  if (cause == IRQ_S_TIMER) csr_write(0x14d, ~0UL); /* stimecmp */
}

static void reset_irq_log(void) {
  irq_count = 0;
  for (int i = 0; i < 16; i++) irq_causes[i] = irq_vectors[i] = irq_levels[i] = 0;
}

static i64 enable_sie_briefly(i64 x) {
  csr_set(sstatus, MSTATUS_SIE);
  asm volatile("nop\nnop" ::: "memory");
  csr_clear(sstatus, MSTATUS_SIE);
  return x;
}
/* Spins until an interrupt has been logged (a device's line may take a moment to arrive) or 10^6 turns. */
static i64 spin_until_interrupt(i64 x) {
  for (volatile int i = 0; i < 1000000 && irq_count == 0; i++) {}
  return x;
}
static i64 wfi_with_sie_clear(i64 x) {
  csr_clear(sstatus, MSTATUS_SIE);
  asm volatile("wfi" ::: "memory");
  return (i64)(csr_read(sip) & MIP_SSIP) | x;
}

static void interrupt_enables(void) {
  m_irq_hook = m_hook;
  s_irq_hook = s_hook;
  csr_write(stvec, (u64)s_trap_entry);
  csr_write(mideleg, MIP_SSIP);
  csr_write(mie, MIP_SSIP);

  /* Delegated SSI in S with SIE clear: pending, not taken; WFI still returns. */
  reset_irq_log();
  csr_set(mip, MIP_SSIP);
  i64 pending = run_in_mode(PRV_S, wfi_with_sie_clear, 0, 0);
  CHECK_EQ(irq_count, 0, "SSI is not taken in S with SIE clear");
  CHECK(pending & MIP_SSIP, "WFI returned with SSI pending and SIE clear");
  run_in_mode(PRV_S, enable_sie_briefly, 0, 0);
  CHECK_EQ(irq_count, 1, "SSI is taken once SIE is set");
  CHECK_EQ(irq_causes[0], IRQ_S_SOFT, "delegated SSI cause");
  CHECK_EQ(irq_levels[0], PRV_S, "delegated SSI is taken in S");

  /* In U, S interrupts are enabled whatever SIE says. */
  reset_irq_log();
  csr_clear(sstatus, MSTATUS_SIE);
  csr_set(mip, MIP_SSIP);
  run_in_mode(PRV_U, spin_until_interrupt, 0, 0);
  CHECK_EQ(irq_count, 1, "a delegated SSI is taken while in U even with SIE clear");
  CHECK_EQ(irq_levels[0], PRV_S, "SSI from U is taken in S");

  /* A machine interrupt is taken from S even with mstatus.MIE clear. */
  reset_irq_log();
  csr_write(mideleg, 0);
  csr_write(mie, MIP_MSIP);
  csr_clear(mstatus, MSTATUS_MIE);
  mmio_write32(CLINT_MSIP(0), 1);
  run_in_mode(PRV_S, spin_until_interrupt, 0, 0);
  CHECK_EQ(irq_count, 1, "MSI is taken from S with MIE clear");
  CHECK_EQ(irq_causes[0], IRQ_M_SOFT, "MSI cause");
  CHECK_EQ(irq_levels[0], PRV_M, "MSI is taken in M");

  /* In M with MIE clear, WFI returns for a pending enabled interrupt without taking it. */
  reset_irq_log();
  mmio_write32(CLINT_MSIP(0), 1);
  asm volatile("wfi" ::: "memory");
  CHECK_EQ(irq_count, 0, "WFI in M with MIE clear takes nothing");
  CHECK(wait_mip(MIP_MSIP, 1), "mip.MSIP follows the CLINT's msip");
  csr_set(mstatus, MSTATUS_MIE);
  asm volatile("nop" ::: "memory");
  csr_clear(mstatus, MSTATUS_MIE);
  CHECK_EQ(irq_count, 1, "the pending MSI is taken once MIE is set");
  CHECK(!(csr_read(mip) & MIP_MSIP), "clearing msip clears mip.MSIP");
  csr_write(mie, 0);
}

static void priority_and_vectoring(void) {
  reset_irq_log();
  csr_write(mideleg, 0);
  csr_clear(mstatus, MSTATUS_MIE);
  csr_write(mtvec, (u64)m_vector_table | 1);
  csr_set(mip, MIP_SSIP | MIP_STIP);
  mmio_write32(CLINT_MSIP(0), 1);
  mmio_write64(CLINT_MTIMECMP(0), 0);
  CHECK(wait_mip(MIP_MSIP | MIP_MTIP, 1), "MSIP and MTIP pending");
  csr_write(mie, MIP_SSIP | MIP_STIP | MIP_MSIP | MIP_MTIP);
  csr_set(mstatus, MSTATUS_MIE);
  asm volatile("nop\nnop" ::: "memory");
  csr_clear(mstatus, MSTATUS_MIE);
  static const u64 spec_order[4] = {IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_SOFT, IRQ_S_TIMER};
  static const u64 lowest_first[4] = {IRQ_S_SOFT, IRQ_M_SOFT, IRQ_S_TIMER, IRQ_M_TIMER};
  const u64 *order = spec_order;
  CHECK_EQ(irq_count, 4, "four pending interrupts are taken");
  if (irq_causes[0] == IRQ_S_SOFT &&
      qemu_deviation("pending interrupts are taken lowest cause first, not MEI, MSI, MTI, SEI, SSI, STI"))
    order = lowest_first;
  char what[64];
  for (int i = 0; i < 4; i++) {
    gsprintf(what, sizeof what, "interrupt %d in priority order", i);
    CHECK_EQ(irq_causes[i], order[i], what);
    gsprintf(what, sizeof what, "interrupt %d entered at its vector", i);
    CHECK_EQ(irq_vectors[i], order[i], what);
  }
  struct trap_record *t = expect_trap();
  asm volatile("ecall" ::: "memory");
  CHECK_TRAP(CAUSE_ECALL_M, "ecall with mtvec vectored");
  CHECK_EQ(t->vector, (u64)-1, "exceptions enter vectored mtvec at its base");

  /* stvec vectored: a delegated SSI enters at base + 4. */
  reset_irq_log();
  csr_write(mideleg, MIP_SSIP);
  csr_write(stvec, (u64)s_vector_table | 1);
  csr_set(mip, MIP_SSIP);
  run_in_mode(PRV_U, spin_until_interrupt, 0, 0);
  CHECK_EQ(irq_count, 1, "SSI taken with stvec vectored");
  CHECK_EQ(irq_vectors[0], IRQ_S_SOFT, "SSI enters vectored stvec at base + 4");
  csr_write(stvec, (u64)s_trap_entry);
  csr_write(mtvec, (u64)m_trap_entry);
  csr_write(mideleg, 0);
  csr_write(mie, 0);
}

#define MENVCFG 0x30a
#define STIMECMP 0x14d
#define MENVCFG_STCE (1UL << 63)

static i64 arm_stimecmp_and_wait(i64 delta) {
  u64 now = csr_read(time);
  csr_write(STIMECMP, now + (u64)delta);
  csr_set(sstatus, MSTATUS_SIE);
  u64 start = csr_read(time);
  while (irq_count == 0 && csr_read(time) - start < 10 * TIMEBASE_HZ / 100) {}
  csr_clear(sstatus, MSTATUS_SIE);
  return (i64)irq_count;
}
static i64 read_stimecmp(i64 x) { (void)x; return (i64)csr_read(STIMECMP); }

static void supervisor_timer(void) {
  csr_write(mcounteren, 2); /* S may read time */
  csr_write(MENVCFG, 0);
  expect_trap();
  run_in_mode(PRV_S, read_stimecmp, 0, 0);
  CHECK_TRAP(CAUSE_ILLEGAL, "stimecmp from S without menvcfg.STCE");
  csr_write(MENVCFG, MENVCFG_STCE);
  CHECK(csr_read(MENVCFG) & MENVCFG_STCE, "menvcfg.STCE is writable (Sstc)");
  csr_write(STIMECMP, ~0UL);
  csr_write(mideleg, MIP_STIP);
  csr_write(mie, MIP_STIP);
  reset_irq_log();
  i64 taken = run_in_mode(PRV_S, arm_stimecmp_and_wait, 1000, 0);
  CHECK_EQ(taken, 1, "stimecmp raises STI in S");
  CHECK_EQ(irq_causes[0], IRQ_S_TIMER, "STI cause");
  CHECK_EQ(irq_levels[0], PRV_S, "STI delegated to S");
  CHECK(!(csr_read(mip) & MIP_STIP), "STIP clears when stimecmp moves to the future");
  csr_write(MENVCFG, 0);
  csr_write(mideleg, 0);
  csr_write(mie, 0);
  csr_write(mcounteren, 0);
}

/* ---- xRET ---- */

static void returns(void) {
  u64 status;
  /* mret to M: MPP becomes U, MPIE 1, MIE the old MPIE (0). */
  csr_clear(mstatus, MSTATUS_MPIE | MSTATUS_MIE);
  asm volatile("lla t0, 1f\ncsrw mepc, t0\nli t0, %1\ncsrs mstatus, t0\nmret\n1: csrr %0, mstatus"
               : "=r"(status) : "i"(MSTATUS_MPP) : "t0", "memory");
  CHECK_EQ(status & MSTATUS_MPP, 0, "mret sets MPP to U");
  CHECK(status & MSTATUS_MPIE, "mret sets MPIE");
  CHECK(!(status & MSTATUS_MIE), "mret copies MPIE (0) into MIE");

  /* Through run_in_mode: the ecall from S shows MPIE = the MIE that mret gave S. */
  struct trap_record *t;
  for (u64 mpie = 0; mpie <= 1; mpie++) {
    if (mpie) csr_set(mstatus, MSTATUS_MPIE); else csr_clear(mstatus, MSTATUS_MPIE);
    t = expect_trap();
    run_in_mode(PRV_S, do_ecall, 0, 0);
    CHECK_TRAP(CAUSE_ECALL_S, "ecall from S after mret");
    CHECK_EQ((t->status & MSTATUS_MPIE) != 0, mpie, "MIE in S was the MPIE before mret");
  }

  /* mret to S clears MPRV. */
  csr_set(mstatus, MSTATUS_MPRV);
  t = expect_trap();
  run_in_mode(PRV_S, do_ecall, 0, 0);
  CHECK_TRAP(CAUSE_ECALL_S, "ecall from S after mret with MPRV set");
  if (!(t->status & MSTATUS_MPRV) ||
      !qemu_deviation("mret to a mode below M leaves MPRV set (privileged spec 1.12 clears it)"))
    CHECK(!(t->status & MSTATUS_MPRV), "mret to S clears MPRV");
  csr_clear(mstatus, MSTATUS_MPRV);
}

/* In S: sret to the next instruction with SPP = S and SPIE = 1, SIE = 0; returns sstatus after it. */
static i64 sret_to_s(i64 x) {
  (void)x;
  u64 status;
  asm volatile("csrc sstatus, %1\ncsrs sstatus, %2\nlla t0, 1f\ncsrw sepc, t0\nsret\n1: csrr %0, sstatus"
               : "=r"(status) : "r"(MSTATUS_SIE), "r"(MSTATUS_SPP | MSTATUS_SPIE) : "t0", "memory");
  return (i64)status;
}

/* In S: sret with SPP = U into code that ecalls (recorded) and then leaves through run_in_mode's exit. */
extern char lower_mode_exit[];
static i64 sret_to_u(i64 x) {
  asm volatile("csrc sstatus, %0\nlla t0, 1f\ncsrw sepc, t0\nsret\n"
               "1: li a7, 0\necall\nmv a0, %1\nj lower_mode_exit"
               ::"r"(MSTATUS_SPP), "r"(x) : "t0", "a0", "a7", "memory");
  return 0;
}

static void supervisor_returns(void) {
  u64 status = (u64)run_in_mode(PRV_S, sret_to_s, 0, 0);
  CHECK_EQ(status & MSTATUS_SPP, 0, "sret sets SPP to U");
  CHECK(status & MSTATUS_SPIE, "sret sets SPIE");
  CHECK(status & MSTATUS_SIE, "sret copies SPIE (1) into SIE");
  struct trap_record *t = expect_trap();
  i64 r = run_in_mode(PRV_S, sret_to_u, 0x55, 0);
  CHECK_TRAP(CAUSE_ECALL_U, "sret with SPP = U enters U");
  CHECK_EQ(t->from, PRV_U, "the ecall after sret came from U");
  CHECK_EQ(r, 0x55, "U reached run_in_mode's exit");
}

static void trap_virtualization(void) {
  csr_set(mstatus, MSTATUS_TSR);
  expect_trap(); run_in_mode(PRV_S, sret_to_s, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "sret in S with TSR");
  csr_clear(mstatus, MSTATUS_TSR);

  csr_set(mstatus, MSTATUS_TW);
  expect_trap(); run_in_mode(PRV_S, do_wfi, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "wfi in S with TW");
  csr_clear(mstatus, MSTATUS_TW);

  csr_set(mstatus, MSTATUS_TVM);
  expect_trap(); run_in_mode(PRV_S, do_satp_read, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "satp in S with TVM");
  expect_trap(); run_in_mode(PRV_S, do_sfence, 0, 0); CHECK_TRAP(CAUSE_ILLEGAL, "sfence.vma in S with TVM");
  expect_trap(); (void)csr_read(satp); asm volatile("sfence.vma" ::: "memory");
  CHECK_NO_TRAP("TVM does not apply to M");
  csr_clear(mstatus, MSTATUS_TVM);
  expect_trap(); run_in_mode(PRV_S, do_satp_read, 0, 0); run_in_mode(PRV_S, do_sfence, 0, 0);
  CHECK_NO_TRAP("satp and sfence.vma in S without TVM");
}

void test_main(void) {
  machine_exceptions();
  lower_mode_exceptions();
  delegation();
  interrupt_enables();
  priority_and_vectoring();
  supervisor_timer();
  returns();
  supervisor_returns();
  trap_virtualization();
}
