/* The page-table checks shared by sv39 and sv48: the including file defines LEVELS (3 or 4) and then
 * calls paging_tests(). Tables are built at run time in free RAM past the image.
 *
 * Address space while paging is on (S-mode code runs at its physical addresses):
 *   0 .. 1 GiB            devices, one 1 GiB leaf, S read/write
 *   RAM, first 2 MiB      the image, 4 KiB leaves: S RWX, the user section U RWX
 *   RAM, next 30 MiB      2 MiB leaves, S read/write (tables, test pages)
 *   TEST_VA ...           4 KiB test pages with the permissions under test (slot 1 GiB..2 GiB)
 *   TEST_VA + 2 MiB       a 2 MiB leaf;   GIGA_VA (3 GiB) a 1 GiB leaf onto RAM
 *   the top of the canonical range: a 1 GiB leaf onto RAM (the sign-extended upper half)
 * Loads, stores, AMOs and fetches are made from S or U by small accessors (s_* in .text, u_* in the
 * user section) that take the virtual address in a0 and return the loaded value (a fetched page holds
 * "li a0, 7; ret"). Page faults go to the M handler (or, where delegated, to the S handler) which
 * records them; a faulting access returns its address unchanged.
 */
#ifndef PAGING_H
#define PAGING_H
#include "isa.h"

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PTE_AD (PTE_A | PTE_D)
#define PAGE 4096UL
#define MEGA (2UL << 20)
#define GIGA (1UL << 30)

#if LEVELS == 3
#define SATP_MODE 8UL
#define VA_BITS 39
#else
#define SATP_MODE 9UL
#define VA_BITS 48
#endif
#define TOP_VA (~0UL << (VA_BITS - 1))   /* the lowest address of the upper half */
#define NONCANONICAL_VA (1UL << (VA_BITS - 1)) /* bit VA_BITS-1 set, the bits above clear */

#define TEST_VA 0x40000000UL
#define MEGA_VA (TEST_VA + MEGA)
#define GIGA_VA 0xc0000000UL
#define STORE_PATTERN 0x5354524553544f52 /* no suffix: also used in assembly */

/* ---- accessors (S copies in .text, U copies in the user section) ---- */
#define ACCESSORS(p, section)                                                        \
  asm(".pushsection " section ", \"ax\"\n"                                          \
      ".balign 4\n"                                                                  \
      ".globl " p "_load\n" p "_load: ld a0, 0(a0)\nret\n"                           \
      ".globl " p "_store\n" p "_store: li t0, " STR(STORE_PATTERN) "\nsd t0, 0(a0)\nret\n" \
      ".globl " p "_amo\n" p "_amo: li t0, 1\namoadd.d a0, t0, (a0)\nret\n"          \
      ".globl " p "_lr\n" p "_lr: lr.d a0, (a0)\nret\n"                              \
      ".globl " p "_fetch\n" p "_fetch: mv t1, ra\njalr ra, 0(a0)\nmv ra, t1\nret\n" \
      ".popsection");
ACCESSORS("s", ".text")
ACCESSORS("u", ".user_text")
extern i64 s_load(i64), s_store(i64), s_amo(i64), s_lr(i64), s_fetch(i64);
extern i64 u_load(i64), u_store(i64), u_amo(i64), u_lr(i64), u_fetch(i64);

/* ---- page tables ---- */
static u64 *table_pool, *root;
static u64 pool_used;

static u64 *new_table(void) {
  u64 *t = table_pool + pool_used * 512;
  pool_used++;
  if (pool_used > 400) harness_error("page-table pool exhausted");
  memset(t, 0, PAGE);
  return t;
}

static unsigned vpn(u64 va, int level) { return (va >> (12 + 9 * level)) & 511; }
static u64 pte_to_pa(u64 pte) { return (pte >> 10) << 12; }
static u64 pointer_pte(u64 *table) { return (((u64)table >> 12) << 10) | PTE_V; }

/* The PTE slot for va at `level` (0 = 4 KiB leaf), creating the tables above it. */
static volatile u64 *slot(u64 va, int level) {
  u64 *t = root;
  for (int l = LEVELS - 1; l > level; l--) {
    u64 *entry = &t[vpn(va, l)];
    if (!(*entry & PTE_V)) *entry = pointer_pte(new_table());
    t = (u64 *)pte_to_pa(*entry);
  }
  return &t[vpn(va, level)];
}

static volatile u64 *map(u64 va, u64 pa, int level, u64 flags) {
  volatile u64 *pte = slot(va, level);
  *pte = ((pa >> 12) << 10) | flags | PTE_V;
  return pte;
}

static void sfence(void) { asm volatile("sfence.vma" ::: "memory"); }

/* Test pages: each 4 KiB test page gets its own physical page, stamped with its own addresses. */
static u64 data_pages;      /* physical, 4 KiB pages for the test mappings */
static u64 data_used;
static u64 new_data_page(void) {
  u64 pa = data_pages + data_used * PAGE;
  data_used++;
  for (u64 i = 0; i < PAGE; i += 8) *(volatile u64 *)(pa + i) = pa + i;
  *(volatile u32 *)pa = 0x8082451d; /* c.li a0, 7; c.jr ra: what a fetch from the page runs */
  asm volatile("fence.i" ::: "memory");
  return pa;
}
#define FETCH_RESULT 7

static u64 next_test_va = TEST_VA;
/* Maps a fresh data page at the next test address with `flags`; returns the virtual address. */
static u64 test_page(u64 flags, volatile u64 **pte_out, u64 *pa_out) {
  u64 pa = new_data_page(), va = next_test_va;
  next_test_va += PAGE;
  volatile u64 *pte = map(va, pa, 0, flags);
  if (pte_out) *pte_out = pte;
  if (pa_out) *pa_out = pa;
  return va;
}

static void build_address_space(void) {
  u64 free = (u64)_free_ram;
  table_pool = (u64 *)free;
  data_pages = free + 8 * MEGA;
  root = new_table();
  map(0, 0, 2, PTE_R | PTE_W | PTE_AD);
  u64 user_start = (u64)_user_start, user_end = (u64)_user_end;
  for (u64 pa = RAM_BASE; pa < RAM_BASE + MEGA; pa += PAGE) {
    u64 flags = PTE_R | PTE_W | PTE_X | PTE_AD;
    if (pa >= user_start && pa < user_end) flags |= PTE_U;
    map(pa, pa, 0, flags);
  }
  for (u64 pa = RAM_BASE + MEGA; pa < RAM_BASE + 32 * MEGA; pa += MEGA) map(pa, pa, 1, PTE_R | PTE_W | PTE_AD);
  csr_write(satp, (SATP_MODE << 60) | ((u64)root >> 12));
  sfence();
}

/* ---- running accessors ---- */
struct outcome { u64 traps, cause, tval, value, level; };

static struct outcome access(u64 mode, i64 (*fn)(i64), u64 va) {
  struct trap_record *t = expect_trap();
  struct outcome o;
  o.value = (u64)run_in_mode(mode, fn, (i64)va, 0);
  trap_result();
  o.traps = t->count;
  o.cause = t->cause;
  o.tval = t->tval;
  o.level = t->level;
  return o;
}

static void check_ok_at(struct outcome o, u64 want, const char *file, int line, const char *what) {
  char text[128];
  gsprintf(text, sizeof text, "%s: no fault", what);
  check_eq_at(o.traps, 0, file, line, text);
  check_eq_at(o.value, want, file, line, what);
}
static void check_fault_at(struct outcome o, u64 cause, u64 va, const char *file, int line, const char *what) {
  char text[128];
  gsprintf(text, sizeof text, "%s: one fault", what);
  check_eq_at(o.traps, 1, file, line, text);
  gsprintf(text, sizeof text, "%s: cause", what);
  check_eq_at(o.cause, cause, file, line, text);
  gsprintf(text, sizeof text, "%s: tval", what);
  check_eq_at(o.tval, va, file, line, text);
}
/* The access succeeds with `want` (a load's value; a store returns its address, a fetch 7). */
#define CHECK_OK(o, want, what) check_ok_at((o), (want), __FILE__, __LINE__, (what))
#define CHECK_FAULT(o, cause, va, what) check_fault_at((o), (cause), (va), __FILE__, __LINE__, (what))

/* ---- the checks ---- */

static void mappings(void) {
  u64 pa;
  u64 va = test_page(PTE_R | PTE_W | PTE_AD, 0, &pa);
  CHECK_OK(access(PRV_S, s_load, va + 0x18), pa + 0x18, "4 KiB page: load");
  CHECK_OK(access(PRV_S, s_store, va + 0x20), va + 0x20, "4 KiB page: store");
  CHECK_EQ(*(volatile u64 *)(pa + 0x20), STORE_PATTERN, "4 KiB page: the store reached its physical page");

  u64 mega_pa = (u64)_free_ram + 4 * MEGA;
  map(MEGA_VA, mega_pa, 1, PTE_R | PTE_W | PTE_AD);
  *(volatile u64 *)(mega_pa + 0x12340) = 0x2020202020202020UL;
  *(volatile u64 *)(mega_pa + MEGA - 8) = 0x2121212121212121UL;
  sfence();
  CHECK_OK(access(PRV_S, s_load, MEGA_VA + 0x12340), 0x2020202020202020UL, "2 MiB page: load inside");
  CHECK_OK(access(PRV_S, s_load, MEGA_VA + MEGA - 8), 0x2121212121212121UL, "2 MiB page: load at its end");

  map(GIGA_VA, RAM_BASE, 2, PTE_R | PTE_AD);
  map(TOP_VA, RAM_BASE, 2, PTE_R | PTE_AD);
#if LEVELS == 4
  map(512 * GIGA, 0, 3, PTE_R | PTE_AD);
#endif
  sfence();
  CHECK_OK(access(PRV_S, s_load, GIGA_VA + (pa - RAM_BASE) + 8), pa + 8, "1 GiB page: load");
  CHECK_OK(access(PRV_S, s_load, TOP_VA + (pa - RAM_BASE) + 16), pa + 16, "1 GiB page at the top of the upper half");
#if LEVELS == 4
  CHECK_OK(access(PRV_S, s_load, 512 * GIGA + pa + 24), pa + 24, "512 GiB page: load");
#endif
  CHECK_FAULT(access(PRV_S, s_load, NONCANONICAL_VA), CAUSE_LOAD_PAGE, NONCANONICAL_VA, "non-canonical load");
  CHECK_FAULT(access(PRV_S, s_store, NONCANONICAL_VA + 8), CAUSE_STORE_PAGE, NONCANONICAL_VA + 8,
              "non-canonical store");
  CHECK_FAULT(access(PRV_S, s_fetch, NONCANONICAL_VA | 0x100), CAUSE_FETCH_PAGE, NONCANONICAL_VA | 0x100,
              "non-canonical fetch");
  CHECK_FAULT(access(PRV_S, s_load, TEST_VA + 0x10000000), CAUSE_LOAD_PAGE, TEST_VA + 0x10000000,
              "load from an unmapped page");
}

static void permissions(void) {
  u64 pa;
  u64 ro = test_page(PTE_R | PTE_AD, 0, &pa);
  CHECK_OK(access(PRV_S, s_load, ro + 8), pa + 8, "S load from R");
  CHECK_FAULT(access(PRV_S, s_store, ro + 8), CAUSE_STORE_PAGE, ro + 8, "S store to R");
  CHECK_FAULT(access(PRV_S, s_amo, ro + 16), CAUSE_STORE_PAGE, ro + 16, "S amo on R");
  CHECK_FAULT(access(PRV_S, s_fetch, ro), CAUSE_FETCH_PAGE, ro, "S fetch from R");
  CHECK_FAULT(access(PRV_U, u_load, ro + 8), CAUSE_LOAD_PAGE, ro + 8, "U load from an S page");
  CHECK_EQ(*(volatile u64 *)(pa + 8), pa + 8, "the refused store changed nothing");

  u64 rw = test_page(PTE_R | PTE_W | PTE_AD, 0, &pa);
  CHECK_OK(access(PRV_S, s_amo, rw + 24), pa + 24, "S amo on RW");
  CHECK_EQ(*(volatile u64 *)(pa + 24), pa + 25, "the amo added 1");
  CHECK_OK(access(PRV_S, s_lr, rw + 32), pa + 32, "S lr on RW");
  CHECK_FAULT(access(PRV_S, s_fetch, rw), CAUSE_FETCH_PAGE, rw, "S fetch from RW");

  u64 xo = test_page(PTE_X | PTE_AD, 0, &pa);
  CHECK_OK(access(PRV_S, s_fetch, xo), FETCH_RESULT, "S fetch from X");
  CHECK_FAULT(access(PRV_S, s_load, xo + 8), CAUSE_LOAD_PAGE, xo + 8, "S load from X without MXR");
  CHECK_FAULT(access(PRV_S, s_lr, xo + 8), CAUSE_LOAD_PAGE, xo + 8, "S lr from X without MXR");
  csr_set(mstatus, MSTATUS_MXR);
  CHECK_OK(access(PRV_S, s_load, xo + 8), pa + 8, "S load from X with MXR");
  CHECK_FAULT(access(PRV_S, s_store, xo + 8), CAUSE_STORE_PAGE, xo + 8, "S store to X with MXR");
  csr_clear(mstatus, MSTATUS_MXR);

  u64 user = test_page(PTE_U | PTE_R | PTE_W | PTE_X | PTE_AD, 0, &pa);
  CHECK_OK(access(PRV_U, u_load, user + 8), pa + 8, "U load from U");
  CHECK_OK(access(PRV_U, u_store, user + 16), user + 16, "U store to U");
  CHECK_OK(access(PRV_U, u_fetch, user), FETCH_RESULT, "U fetch from U");
  CHECK_FAULT(access(PRV_S, s_load, user + 8), CAUSE_LOAD_PAGE, user + 8, "S load from U without SUM");
  CHECK_FAULT(access(PRV_S, s_store, user + 8), CAUSE_STORE_PAGE, user + 8, "S store to U without SUM");
  csr_set(mstatus, MSTATUS_SUM);
  CHECK_OK(access(PRV_S, s_load, user + 8), pa + 8, "S load from U with SUM");
  CHECK_OK(access(PRV_S, s_store, user + 24), user + 24, "S store to U with SUM");
  CHECK_FAULT(access(PRV_S, s_fetch, user), CAUSE_FETCH_PAGE, user, "S fetch from U even with SUM");
  csr_clear(mstatus, MSTATUS_SUM);

  u64 ux = test_page(PTE_U | PTE_X | PTE_AD, 0, &pa);
  CHECK_FAULT(access(PRV_U, u_load, ux + 8), CAUSE_LOAD_PAGE, ux + 8, "U load from U X-only");
  csr_set(mstatus, MSTATUS_MXR);
  CHECK_OK(access(PRV_U, u_load, ux + 8), pa + 8, "U load from U X-only with MXR");
  csr_clear(mstatus, MSTATUS_MXR);
  CHECK_FAULT(access(PRV_U, u_fetch, ro), CAUSE_FETCH_PAGE, ro, "U fetch from an S page");
  CHECK_FAULT(access(PRV_U, u_store, ro + 8), CAUSE_STORE_PAGE, ro + 8, "U store to an S page");
}

static void invalid_entries(void) {
  u64 va;
  volatile u64 *pte;
  va = test_page(PTE_W | PTE_AD, 0, 0);
  CHECK_FAULT(access(PRV_S, s_load, va), CAUSE_LOAD_PAGE, va, "W without R: load");
  CHECK_FAULT(access(PRV_S, s_store, va), CAUSE_STORE_PAGE, va, "W without R: store");
  va = test_page(PTE_W | PTE_X | PTE_AD, 0, 0);
  CHECK_FAULT(access(PRV_S, s_fetch, va), CAUSE_FETCH_PAGE, va, "W without R: fetch (X set)");
  va = test_page(PTE_R | PTE_AD, &pte, 0);
  *pte |= 1UL << 54;
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, va), CAUSE_LOAD_PAGE, va, "reserved bit 54 set");
  *pte &= ~(1UL << 54);
  *pte |= 1UL << 63;
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, va), CAUSE_LOAD_PAGE, va, "bit 63 (N, Svnapot absent) set");
  *pte &= ~(1UL << 63);
  *pte |= 1UL << 61;
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, va), CAUSE_LOAD_PAGE, va, "bit 61 (PBMT, Svpbmt absent) set");
  *pte &= ~(1UL << 61);
  *pte &= ~PTE_V;
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, va), CAUSE_LOAD_PAGE, va, "V clear");
  *pte = pointer_pte(root);
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, va), CAUSE_LOAD_PAGE, va, "a pointer PTE at the last level");

  /* Misaligned superpages: a 2 MiB leaf whose PPN[0] is not 0, a 1 GiB leaf whose PPN[1] is not 0. */
  u64 mega = MEGA_VA + MEGA;
  map(mega, (u64)_free_ram + 6 * MEGA + PAGE, 1, PTE_R | PTE_AD);
  u64 giga_va = 5 * GIGA;
  map(giga_va, RAM_BASE + MEGA, 2, PTE_R | PTE_AD);
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, mega + 8), CAUSE_LOAD_PAGE, mega + 8, "misaligned 2 MiB page");
  CHECK_FAULT(access(PRV_S, s_load, giga_va + 8), CAUSE_LOAD_PAGE, giga_va + 8, "misaligned 1 GiB page");
#if LEVELS == 4
  u64 tera_va = 2 * 512 * GIGA;
  map(tera_va, GIGA, 3, PTE_R | PTE_AD);
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, tera_va + 8), CAUSE_LOAD_PAGE, tera_va + 8, "misaligned 512 GiB page");
#endif
}

/* Hardware may set A and D itself or raise a page fault: both are allowed, but each must be whole. */
static void accessed_and_dirty(void) {
  volatile u64 *pte;
  u64 pa, va;
  int hardware = 0, faults = 0;
  va = test_page(PTE_R | PTE_W, &pte, &pa);
  struct outcome o = access(PRV_S, s_load, va + 8);
  if (o.traps == 0) {
    hardware++;
    CHECK_EQ(o.value, pa + 8, "load with A clear");
    CHECK((*pte & PTE_A), "a load through a PTE with A clear sets A");
    CHECK(!(*pte & PTE_D), "a load does not set D");
  } else {
    faults++;
    CHECK_FAULT(o, CAUSE_LOAD_PAGE, va + 8, "load with A clear faults");
    CHECK(!(*pte & (PTE_A | PTE_D)), "a faulting load leaves A and D clear");
  }

  va = test_page(PTE_R | PTE_W | PTE_A, &pte, &pa);
  o = access(PRV_S, s_store, va + 16);
  if (o.traps == 0) {
    hardware++;
    CHECK((*pte & PTE_D), "a store through a PTE with D clear sets D");
    CHECK_EQ(*(volatile u64 *)(pa + 16), STORE_PATTERN, "the store with D clear was done");
  } else {
    faults++;
    CHECK_FAULT(o, CAUSE_STORE_PAGE, va + 16, "store with D clear faults");
    CHECK(!(*pte & PTE_D), "a faulting store leaves D clear");
    CHECK_EQ(*(volatile u64 *)(pa + 16), pa + 16, "a faulting store writes nothing");
  }

  va = test_page(PTE_R | PTE_W, &pte, &pa);
  o = access(PRV_S, s_amo, va + 24);
  if (o.traps == 0) {
    hardware++;
    CHECK_EQ(*pte & PTE_AD, PTE_AD, "an amo through a PTE with A and D clear sets both");
  } else {
    faults++;
    CHECK_FAULT(o, CAUSE_STORE_PAGE, va + 24, "amo with A and D clear faults");
  }

  va = test_page(PTE_X, &pte, &pa);
  o = access(PRV_S, s_fetch, va);
  if (o.traps == 0) {
    hardware++;
    CHECK_EQ(o.value, FETCH_RESULT, "fetch with A clear");
    CHECK((*pte & PTE_A), "a fetch through a PTE with A clear sets A");
  } else {
    faults++;
    CHECK_FAULT(o, CAUSE_FETCH_PAGE, va, "fetch with A clear faults");
  }
  CHECK(hardware == 0 || faults == 0, "A/D handling is consistent (all by hardware or all by faults)");
  gprintf("%s: A/D bits %s\n", TEST_NAME, hardware ? "set by hardware" : "left to software (page faults)");
}

static void tlb_maintenance(void) {
  volatile u64 *pte;
  u64 pa1, pa2 = new_data_page();
  u64 va = test_page(PTE_R | PTE_AD, &pte, &pa1);
  CHECK_OK(access(PRV_S, s_load, va + 8), pa1 + 8, "before remapping");
  *pte = ((pa2 >> 12) << 10) | PTE_R | PTE_AD | PTE_V;
  sfence();
  CHECK_OK(access(PRV_S, s_load, va + 8), pa2 + 8, "sfence.vma makes a remapped page visible");
  *pte = ((pa1 >> 12) << 10) | PTE_R | PTE_AD | PTE_V;
  asm volatile("sfence.vma %0, zero" ::"r"(va) : "memory");
  CHECK_OK(access(PRV_S, s_load, va + 8), pa1 + 8, "sfence.vma va remaps");
  *pte = 0;
  asm volatile("sfence.vma %0, zero" ::"r"(va + 0x800) : "memory");
  CHECK_FAULT(access(PRV_S, s_load, va + 8), CAUSE_LOAD_PAGE, va + 8, "sfence.vma va invalidates the page");
  /* By ASID, with an odd one in satp (when the hart keeps ASID 1): a fence for it remaps the page. */
  u64 satp0 = csr_read(satp);
  csr_write(satp, satp0 | (1UL << 44));
  if (((csr_read(satp) >> 44) & 0xffff) == 1) {
    *pte = ((pa2 >> 12) << 10) | PTE_R | PTE_AD | PTE_V;
    asm volatile("sfence.vma zero, %0" ::"r"(1UL) : "memory");
    CHECK_OK(access(PRV_S, s_load, va + 8), pa2 + 8, "with ASID 1 in satp");
    *pte = ((pa1 >> 12) << 10) | PTE_R | PTE_AD | PTE_V;
    asm volatile("sfence.vma zero, %0" ::"r"(1UL) : "memory");
    CHECK_OK(access(PRV_S, s_load, va + 8), pa1 + 8, "sfence.vma of satp's ASID (1) remaps");
  }
  csr_write(satp, satp0);
  sfence();
  *pte = ((pa1 >> 12) << 10) | PTE_R | PTE_G | PTE_AD | PTE_V;
  asm volatile("sfence.vma zero, %0" ::"r"(0UL) : "memory");
  asm volatile("sfence.vma" ::: "memory");
  CHECK_OK(access(PRV_S, s_load, va + 8), pa1 + 8, "a global page after sfence.vma");
}

static void page_crossing_fetch(void) {
  /* "addi a0, zero, 9" across two pages, then "c.jr ra": the first page executable, the second not. */
  volatile u64 *second_pte;
  u64 pa_first, pa_second;
  u64 first = test_page(PTE_X | PTE_R | PTE_AD, 0, &pa_first);
  u64 second = test_page(PTE_R | PTE_AD, &second_pte, &pa_second);
  if (second != first + PAGE) harness_error("test pages not contiguous");
  *(volatile u16 *)(pa_first + PAGE - 2) = 0x0513;
  *(volatile u16 *)(pa_second) = 0x0090;
  *(volatile u16 *)(pa_second + 2) = 0x8082;
  asm volatile("fence.i" ::: "memory");
  CHECK_FAULT(access(PRV_S, s_fetch, second - 2), CAUSE_FETCH_PAGE, second,
              "an instruction whose second half is on a non-executable page");
  struct trap_record *t = &trap_records[0];
  CHECK_EQ(t->epc, second - 2, "the fault's epc is the start of the instruction");
  *second_pte |= PTE_X;
  sfence();
  CHECK_OK(access(PRV_S, s_fetch, second - 2), 9, "the spanning instruction runs once both pages are X");
}

static void page_crossing_data(void) {
  /* An ld and an sd 4 bytes before the end of a read-write page whose next page is unmapped, then read-only: the
   * fault names the portion that faulted (its first byte, the next page's start: the privileged specification's
   * rule for a misaligned access), and the store writes nothing past the boundary. */
  u64 pa_first, pa_second;
  volatile u64 *second_pte;
  u64 first = test_page(PTE_R | PTE_W | PTE_AD, 0, &pa_first);
  u64 second = test_page(PTE_R | PTE_AD, &second_pte, &pa_second);
  if (second != first + PAGE) harness_error("test pages not contiguous");
  u64 ro = *second_pte, last = *(volatile u64 *)(pa_first + PAGE - 8);
  *(volatile u64 *)pa_second = 0;
  *second_pte = 0;
  sfence();
  CHECK_FAULT(access(PRV_S, s_load, second - 4), CAUSE_LOAD_PAGE, second, "an ld across into an unmapped page");
  *second_pte = ro;
  sfence();
  CHECK_FAULT(access(PRV_S, s_store, second - 4), CAUSE_STORE_PAGE, second, "an sd across into a read-only page");
  CHECK_EQ(*(volatile u64 *)pa_second, 0, "the faulting sd wrote nothing past the boundary");
  CHECK_OK(access(PRV_S, s_load, second - 8), last, "the first page's last doubleword, after the faults");
}

static void delegated_faults(void) {
  csr_write(stvec, (u64)s_trap_entry);
  csr_write(medeleg, (1UL << CAUSE_LOAD_PAGE) | (1UL << CAUSE_STORE_PAGE) | (1UL << CAUSE_FETCH_PAGE));
  u64 ro = test_page(PTE_R | PTE_AD, 0, 0);
  struct outcome o = access(PRV_U, u_load, ro + 8);
  CHECK_FAULT(o, CAUSE_LOAD_PAGE, ro + 8, "delegated load page fault from U");
  CHECK_EQ(o.level, PRV_S, "the delegated load page fault is taken in S");
  o = access(PRV_S, s_store, ro + 8);
  CHECK_FAULT(o, CAUSE_STORE_PAGE, ro + 8, "delegated store page fault from S");
  CHECK_EQ(o.level, PRV_S, "the delegated store page fault is taken in S");
  o = access(PRV_S, s_fetch, ro);
  CHECK_FAULT(o, CAUSE_FETCH_PAGE, ro, "delegated fetch page fault from S");
  CHECK_EQ(o.level, PRV_S, "the delegated fetch page fault is taken in S");
  csr_write(medeleg, 0);
}

/* M-mode loads and stores with MPRV translate with the privilege in MPP; fetches do not. */
static u64 mprv_load(u64 va, u64 mpp, struct trap_record **t) {
  u64 v = 0;
  *t = expect_trap();
  asm volatile("csrc mstatus, %2\ncsrs mstatus, %3\ncsrs mstatus, %4\nld %0, 0(%1)\ncsrc mstatus, %4"
               : "+r"(v) : "r"(va), "r"(MSTATUS_MPP), "r"(mpp << MSTATUS_MPP_SHIFT), "r"(MSTATUS_MPRV) : "memory");
  trap_result();
  return v;
}

static void modify_privilege(void) {
  u64 pa;
  u64 va = test_page(PTE_R | PTE_W | PTE_AD, 0, &pa);
  struct trap_record *t;
  CHECK_EQ(mprv_load(va + 8, PRV_S, &t), pa + 8, "M load with MPRV and MPP = S translates");
  CHECK_EQ(t->count, 0, "M load with MPRV and MPP = S does not fault");
  mprv_load(va + 8, PRV_U, &t);
  CHECK_EQ(t->count, 1, "M load with MPRV and MPP = U from an S page faults");
  CHECK_EQ(t->cause, CAUSE_LOAD_PAGE, "... with a load page fault");
  CHECK_EQ(t->level, PRV_M, "... taken in M");
  CHECK(!(csr_read(mstatus) & MSTATUS_MPRV), "MPRV cleared again");
  csr_clear(mstatus, MSTATUS_MPP);
}

static void satp_register(void) {
  u64 satp = csr_read(satp);
  CHECK_EQ(satp >> 60, SATP_MODE, "satp holds the paging mode written");
  CHECK_EQ(satp & ((1UL << 44) - 1), (u64)root >> 12, "satp holds the root PPN");
  /* ASIDLEN: of the ASID bits written as ones, the low ones are implemented first (privileged spec 4.1.11). */
  csr_write(satp, satp | (0xffffUL << 44));
  u64 asids = (csr_read(satp) >> 44) & 0xffff;
  CHECK((asids & (asids + 1)) == 0, "the ASID bits kept are the low ones");
  CHECK_EQ(csr_read(satp) & ~(0xffffUL << 44), satp, "an ASID written leaves the mode and root");
  csr_write(satp, satp);
  sfence();
  csr_write(satp, (11UL << 60) | 0x1234);
  CHECK_EQ(csr_read(satp), satp, "writing a reserved mode (11) leaves satp unchanged");
  csr_write(satp, (5UL << 60) | 0x1234);
  CHECK_EQ(csr_read(satp), satp, "writing a reserved mode (5) leaves satp unchanged");
  csr_write(satp, 0);
  CHECK_EQ(csr_read(satp), 0, "bare mode");
  CHECK_OK(access(PRV_S, s_load, (u64)_free_ram), *(volatile u64 *)_free_ram, "S loads are physical when bare");
  csr_write(satp, satp);
  sfence();
}

static void paging_tests(void) {
  build_address_space();
  satp_register();
  mappings();
  permissions();
  invalid_entries();
  accessed_and_dirty();
  tlb_maintenance();
  page_crossing_fetch();
  page_crossing_data();
  delegated_faults();
  modify_privilege();
  csr_write(satp, 0);
  sfence();
}

#endif
