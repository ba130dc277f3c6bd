/* pmp: physical memory protection with the 16 entries.
 * Regions in free RAM (F = the first 2 MiB boundary past the image), entries by priority:
 *   0 OFF (the base of 1)   1 TOR [F, F+8K) R       2 NA4 at F+64K RW      3 NAPOT [F+128K, +4K) X
 *   4 NAPOT the image's 2 MiB RWX                  5 NAPOT the devices' 1 GiB RW
 *   6 OFF (the base of 7)   7 TOR|L [F+192K, +4K) R (set last)   8 NAPOT|L [F+256K, +4K) no permission
 *   9 NAPOT [F+448K, +8K) R: a page table that S may read
 * - S and U get exactly the permissions of the first matching entry: loads, stores, fetches
 *   (access faults 5, 7, 1 with mtval = address); no matching entry denies S and U;
 * - TOR and NA4 bounds are exact; an access only partly inside the matching entry fails even in M;
 * - M-mode ignores unlocked entries; a locked entry binds M too, cannot be rewritten, and a locked
 *   TOR entry also freezes the address below it;
 * - the page-table walk is checked with S's rights: a walk through a table S may not read raises an
 *   access fault (not a page fault) for the access that needed it (here an M load with MPRV, MPP = S);
 * - pmpcfg/pmpaddr read back what was written. */
#include "isa.h"

#define OFF 0x00
#define TOR 0x08
#define NA4 0x10
#define NAPOT 0x18
#define LOCK 0x80
#define R 0x01
#define W 0x02
#define X 0x04

static u64 napot(u64 base, u64 size) { return (base >> 2) | ((size >> 3) - 1); }

#define STORE_VALUE 0x1122334455667788UL
static i64 do_load(i64 a) { return *(volatile i64 *)a; }
static i64 do_load32(i64 a) { return *(volatile i32 *)a; }
static i64 do_store(i64 a) { *(volatile u64 *)a = STORE_VALUE; return a; }
static i64 do_store32(i64 a) { *(volatile u32 *)a = (u32)STORE_VALUE; return a; }
static i64 do_fetch(i64 a) {
  register i64 a0 asm("a0") = a;
  asm volatile("jalr ra, 0(%1)" : "+r"(a0) : "r"(a) : "ra", "memory");
  return a0;
}

struct outcome { u64 traps, cause, tval; i64 value; };

static struct outcome run(u64 mode, i64 (*fn)(i64), u64 addr) {
  struct trap_record *t = expect_trap();
  struct outcome o;
  o.value = mode == PRV_M ? fn((i64)addr) : run_in_mode(mode, fn, (i64)addr, 0);
  trap_result();
  o.traps = t->count;
  o.cause = t->cause;
  o.tval = t->tval;
  return o;
}

static void check_allowed(struct outcome o, const char *what) { CHECK_EQ(o.traps, 0, what); }
static void check_denied(struct outcome o, u64 cause, u64 addr, const char *what) {
  CHECK_EQ(o.traps, 1, what);
  CHECK_EQ(o.cause, cause, what);
  CHECK_EQ(o.tval, addr, what);
}

static u64 F, tor, na4, xonly, locked_tor, locked_none, nowhere, table_ok, table_denied;

static void configure(void) {
  F = (u64)_free_ram;
  tor = F;
  na4 = F + 0x10000;
  xonly = F + 0x20000;
  locked_tor = F + 0x30000;
  locked_none = F + 0x40000;
  nowhere = F + 0x50000;
  table_denied = F + 0x60000;
  table_ok = F + 0x70000;
  /* "li a0, 7; ret" at the start of the execute-only region and of the unprotected one */
  *(volatile u32 *)xonly = 0x8082451d;
  *(volatile u32 *)nowhere = 0x8082451d;
  *(volatile u32 *)locked_none = 0x8082451d;
  asm volatile("fence.i" ::: "memory");

  csr_write(pmpcfg0, 0); /* everything off while the addresses change */
  csr_write(pmpcfg2, 0);
  csr_write(pmpaddr0, tor >> 2);
  csr_write(pmpaddr1, (tor + 0x2000) >> 2);
  csr_write(pmpaddr2, na4 >> 2);
  csr_write(pmpaddr3, napot(xonly, 0x1000));
  csr_write(pmpaddr4, napot(RAM_BASE, 2UL << 20));
  csr_write(pmpaddr5, napot(0, 1UL << 30));
  csr_write(pmpaddr9, napot(table_ok, 0x2000));
  u64 cfg0 = (u64)OFF | (u64)(TOR | R) << 8 | (u64)(NA4 | R | W) << 16 | (u64)(NAPOT | X) << 24 |
             (u64)(NAPOT | R | W | X) << 32 | (u64)(NAPOT | R | W) << 40;
  csr_write(pmpcfg0, cfg0);
  csr_write(pmpcfg2, (u64)(NAPOT | R) << 8);
  CHECK_EQ(csr_read(pmpcfg0), cfg0, "pmpcfg0 reads back");
  CHECK_EQ(csr_read(pmpaddr1), (tor + 0x2000) >> 2, "pmpaddr1 (TOR) reads back");
  CHECK_EQ(csr_read(pmpaddr3), napot(xonly, 0x1000), "pmpaddr3 (NAPOT) reads back");
  asm volatile("sfence.vma" ::: "memory");
}

static void supervisor_and_user(void) {
  check_allowed(run(PRV_S, do_load, tor + 8), "S load in the TOR R region");
  check_allowed(run(PRV_U, do_load, tor + 0x1ff8), "U load at the top of the TOR region");
  check_denied(run(PRV_S, do_store, tor + 16), CAUSE_STORE_ACCESS, tor + 16, "S store in the TOR R region");
  check_denied(run(PRV_U, do_fetch, tor), CAUSE_FETCH_ACCESS, tor, "U fetch in the TOR R region");
  check_denied(run(PRV_S, do_load, tor + 0x2000), CAUSE_LOAD_ACCESS, tor + 0x2000,
               "S load just past the TOR region");
  CHECK_EQ(*(volatile u64 *)(tor + 16), 0, "the denied store wrote nothing");

  check_allowed(run(PRV_S, do_load32, na4), "S lw of the NA4 word");
  check_allowed(run(PRV_U, do_store32, na4), "U sw to the NA4 word");
  check_denied(run(PRV_S, do_load32, na4 + 4), CAUSE_LOAD_ACCESS, na4 + 4, "S lw of the next word");
  check_denied(run(PRV_S, do_load32, na4 - 4), CAUSE_LOAD_ACCESS, na4 - 4, "S lw of the word before");
  check_denied(run(PRV_S, do_load, na4), CAUSE_LOAD_ACCESS, na4, "S ld covering the NA4 word and the next");

  struct outcome o = run(PRV_S, do_fetch, xonly);
  check_allowed(o, "S fetch from the NAPOT X region");
  CHECK_EQ(o.value, 7, "the fetched code ran");
  check_allowed(run(PRV_U, do_fetch, xonly), "U fetch from the NAPOT X region");
  check_denied(run(PRV_S, do_load, xonly + 0x800), CAUSE_LOAD_ACCESS, xonly + 0x800, "S load from the X region");
  check_denied(run(PRV_U, do_store, xonly + 0xff8), CAUSE_STORE_ACCESS, xonly + 0xff8, "U store to the X region");
  check_denied(run(PRV_S, do_load, xonly + 0x1000), CAUSE_LOAD_ACCESS, xonly + 0x1000, "S load past the NAPOT region");

  check_denied(run(PRV_S, do_load, nowhere), CAUSE_LOAD_ACCESS, nowhere, "S load where no entry matches");
  check_denied(run(PRV_U, do_store, nowhere + 8), CAUSE_STORE_ACCESS, nowhere + 8, "U store where no entry matches");
  check_denied(run(PRV_S, do_fetch, nowhere), CAUSE_FETCH_ACCESS, nowhere, "S fetch where no entry matches");
}

static void machine_mode(void) {
  check_allowed(run(PRV_M, do_store, tor + 24), "M store in the TOR R region (unlocked)");
  CHECK_EQ(*(volatile u64 *)(tor + 24), STORE_VALUE, "the M store happened");
  struct outcome o = run(PRV_M, do_fetch, nowhere);
  check_allowed(o, "M fetch where no entry matches");
  CHECK_EQ(o.value, 7, "M ran the unprotected code");
  check_denied(run(PRV_M, do_load, na4), CAUSE_LOAD_ACCESS, na4, "M ld partly inside the NA4 entry fails");
  check_allowed(run(PRV_M, do_load32, na4), "M lw wholly inside the NA4 entry");
}

/* An M load with MPRV and MPP = S walks the tables with S's rights. */
static struct outcome mprv_load(u64 va) {
  struct trap_record *t = expect_trap();
  u64 v = 0;
  asm volatile("csrc mstatus, %2\ncsrs mstatus, %3\ncsrs mstatus, %4\nld %0, 0(%1)\ncsrc mstatus, %4"
               : "+r"(v) : "r"(va), "r"(MSTATUS_MPP), "r"((u64)PRV_S << MSTATUS_MPP_SHIFT), "r"(MSTATUS_MPRV)
               : "memory");
  trap_result();
  struct outcome o = {t->count, t->cause, t->tval, (i64)v};
  return o;
}

static void page_table_walk(void) {
  const u64 va = 0x40000000UL; /* a 1 GiB leaf onto RAM */
  const u64 leaf = ((RAM_BASE >> 12) << 10) | 0x4f; /* V R W X A */
  volatile u64 *ok = (volatile u64 *)table_ok, *denied = (volatile u64 *)table_denied;
  for (int i = 0; i < 512; i++) ok[i] = denied[i] = 0;
  ok[1] = denied[1] = leaf;
  u64 probe = (u64)&F; /* a word in the image, readable by S */
  csr_write(satp, (8UL << 60) | (table_ok >> 12));
  asm volatile("sfence.vma" ::: "memory");
  struct outcome o = mprv_load(va + (probe - RAM_BASE));
  CHECK_EQ(o.traps, 0, "a walk through a table S may read");
  CHECK_EQ((u64)o.value, F, "the walk reached the right page");
  csr_write(satp, (8UL << 60) | (table_denied >> 12));
  asm volatile("sfence.vma" ::: "memory");
  o = mprv_load(va + (probe - RAM_BASE));
  CHECK_EQ(o.traps, 1, "a walk through a table S may not read faults");
  CHECK_EQ(o.cause, CAUSE_LOAD_ACCESS, "... with a load access fault, not a page fault");
  csr_write(satp, 0);
  csr_clear(mstatus, MSTATUS_MPP);
  asm volatile("sfence.vma" ::: "memory");
}

static void locked_entries(void) {
  csr_write(pmpaddr6, locked_tor >> 2);
  csr_write(pmpaddr7, (locked_tor + 0x1000) >> 2);
  csr_write(pmpaddr8, napot(locked_none, 0x1000));
  u64 cfg0 = csr_read(pmpcfg0);
  cfg0 = (cfg0 & 0x0000ffffffffffffUL) | (u64)OFF << 48 | (u64)(TOR | R | LOCK) << 56;
  csr_write(pmpcfg0, cfg0);
  csr_write(pmpcfg2, (csr_read(pmpcfg2) & ~0xffUL) | (NAPOT | LOCK));
  CHECK_EQ(csr_read(pmpcfg0) >> 56, TOR | R | LOCK, "entry 7 is locked");

  check_allowed(run(PRV_M, do_load, locked_tor + 8), "M load in a locked R region");
  check_denied(run(PRV_M, do_store, locked_tor + 8), CAUSE_STORE_ACCESS, locked_tor + 8,
               "M store in a locked R region");
  check_denied(run(PRV_M, do_load, locked_none + 8), CAUSE_LOAD_ACCESS, locked_none + 8,
               "M load in a locked region without permissions");
  check_denied(run(PRV_M, do_store, locked_none + 8), CAUSE_STORE_ACCESS, locked_none + 8,
               "M store in a locked region without permissions");
  check_denied(run(PRV_M, do_fetch, locked_none), CAUSE_FETCH_ACCESS, locked_none,
               "M fetch in a locked region without permissions");

  csr_write(pmpcfg0, cfg0 & ~(0xffUL << 56));
  CHECK_EQ(csr_read(pmpcfg0) >> 56, TOR | R | LOCK, "a locked pmpcfg entry cannot be rewritten");
  csr_write(pmpaddr7, 0x1234);
  CHECK_EQ(csr_read(pmpaddr7), (locked_tor + 0x1000) >> 2, "a locked pmpaddr cannot be rewritten");
  csr_write(pmpaddr6, 0x1234);
  CHECK_EQ(csr_read(pmpaddr6), locked_tor >> 2, "a locked TOR entry freezes the address below it");
  csr_write(pmpaddr8, 0x1234);
  CHECK_EQ(csr_read(pmpaddr8), napot(locked_none, 0x1000), "a locked NAPOT pmpaddr cannot be rewritten");
  check_denied(run(PRV_M, do_store, locked_tor + 16), CAUSE_STORE_ACCESS, locked_tor + 16,
               "the locked region still binds M after the refused rewrites");
}

void test_main(void) {
  configure();
  supervisor_and_user();
  machine_mode();
  page_table_walk();
  locked_entries();
}
