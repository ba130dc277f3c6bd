/* pte-sweep: every combination of a leaf PTE's eight flag bits (V R W X U G A D), a load and a store through it,
 * from S and from U, with SUM and MXR off and on (data accesses made in M-mode through MPRV with MPP = S or U);
 * then superpages (aligned and misaligned), the high PTE bits one at a time, and PTE_V clear in a pointer. For each
 * access: whether it faulted and with which cause and tval, the value read, and the PTE and the data afterwards
 * (A and D as the hart left them), folded into one hash per group; last, a fetch from S through each flag combination:
 *   "pte S sum=0 mxr=0 load 1f0c2b..."
 * The program cannot know the right hashes; a test compares its lines with QEMU's. */
#include "isa.h"

#define VA 0x40000000UL /* the page under test: root[1] -> middle -> leaves[0] */
static u64 root[512] __attribute__((aligned(4096))), middle[512] __attribute__((aligned(4096))),
    leaves[512] __attribute__((aligned(4096)));
static u64 target[512] __attribute__((aligned(4096))); /* the page the PTE under test maps */
#define PTE_TABLE(table) ((((u64)(table)) >> 12) << 10 | 1)

/* A fetch from S: calls the address in a0 (the target page holds "c.li a0, 7; c.jr ra"); a fetch fault resumes at ra
 * (the library's handler), so a0 comes back unchanged. */
asm(".globl sweep_fetch\n"
    "sweep_fetch: mv t1, ra\njalr ra, 0(a0)\nmv ra, t1\nret\n");
i64 sweep_fetch(i64 va);

/* One access through VA with mstatus set for it (MPRV and the given MPP, SUM, MXR) and back: nothing else may touch
 * memory while MPRV is on (the harness's own pages are not user pages). A fault is taken by the library's handler
 * (in M-mode, which the trap makes MPP: its own accesses are not translated) and the access skipped; `fault` gets
 * its cause + 1 (0: none) and tval. */
static u64 access(u64 status, int store, u64 address, u64 value, u64 fault[2]) {
  u64 saved, result = value;
  asm volatile("sfence.vma" ::: "memory");
  struct trap_record *record = expect_trap();
  if (store)
    asm volatile(".option push\n.option norvc\n"
                 "csrr %0, mstatus\ncsrw mstatus, %1\nsd %3, 0(%2)\ncsrw mstatus, %0\n.option pop"
                 : "=&r"(saved) : "r"(status), "r"(address), "r"(value) : "memory");
  else
    asm volatile(".option push\n.option norvc\n"
                 "csrr %0, mstatus\ncsrw mstatus, %2\nld %1, 0(%3)\ncsrw mstatus, %0\n.option pop"
                 : "=&r"(saved), "+&r"(result) : "r"(status), "r"(address) : "memory");
  trap_result();
  fault[0] = record->count ? record->cause + 1 : 0;
  fault[1] = record->count ? record->tval : 0;
  return result;
}

/* Sets the PTE under test (at level 0, 1 or 2), makes one access at `va`, which it maps to `word`, and folds what
 * happened into `hash`. */
static u64 access_at(u64 hash, u64 *slot, u64 pte, u64 status, int store, u64 va, volatile u64 *word) {
  *slot = pte;
  *word = 0x1122334455667788UL;
  u64 fault[2];
  u64 value = access(status, store, va, 0xa5a5a5a5a5a5a5a5UL, fault);
  hash = fold(hash, fault[0]);
  hash = fold(hash, fault[1]);
  hash = fold(hash, store ? 0 : value);
  hash = fold(hash, *slot);
  return fold(hash, *word);
}
/* Through the 4 KiB leaf: VA + 8 is target[1] when the PTE maps the target. */
static u64 one(u64 hash, u64 *slot, u64 pte, u64 status, int store) {
  return access_at(hash, slot, pte, status, store, VA + 8, &target[1]);
}

static u64 status_for(u64 mode, u64 sum, u64 mxr) {
  u64 status = csr_read(mstatus) & ~(MSTATUS_MPP | MSTATUS_SUM | MSTATUS_MXR);
  return status | MSTATUS_MPRV | mode << MSTATUS_MPP_SHIFT | (sum ? MSTATUS_SUM : 0) | (mxr ? MSTATUS_MXR : 0);
}

void test_main(void) {
  root[0] = (0UL << 10) | 0xcf;                /* devices: a gigapage, RWX, A, D */
  root[2] = ((0x80000000UL >> 12) << 10) | 0xcf; /* RAM */
  root[1] = PTE_TABLE(middle);
  middle[0] = PTE_TABLE(leaves);
  csr_write(satp, 8UL << 60 | (u64)root >> 12);
  const u64 ppn = ((u64)target >> 12) << 10;

  /* Every flag combination, 4 KiB leaf. */
  for (u64 mode = 0; mode < 2; mode++)
    for (u64 sum = 0; sum < 2; sum++)
      for (u64 mxr = 0; mxr < 2; mxr++)
        for (int store = 0; store < 2; store++) {
          u64 hash = FNV_START, status = status_for(mode, sum, mxr);
          for (u64 flags = 0; flags < 256; flags++) hash = one(hash, &leaves[0], ppn | flags, status, store);
          gprintf("pte %s sum=%lu mxr=%lu %s %016lx\n", mode ? "S" : "U", sum, mxr, store ? "store" : "load", hash);
        }

  /* The high bits one at a time (reserved, PBMT, N), on a valid RW leaf with A and D. */
  for (int store = 0; store < 2; store++) {
    u64 hash = FNV_START;
    for (u64 bit = 54; bit < 64; bit++) hash = one(hash, &leaves[0], ppn | 1UL << bit | 0xc7, status_for(1, 0, 0), store);
    gprintf("pte high-bits %s %016lx\n", store ? "store" : "load", hash);
  }

  /* Superpages: a 2 MiB leaf in middle[0] mapping the free RAM past the image (2 MiB aligned), a 1 GiB leaf in
   * root[1] mapping the RAM's base (the access lands on the same free word); and each misaligned (the target's own
   * PPN); with and without A and D. Then a pointer PTE with V clear, and one with U set. */
  volatile u64 *free_word = (volatile u64 *)(_free_ram + 8);
  const u64 free_ppn = ((u64)_free_ram >> 12) << 10, ram_ppn = (RAM_BASE >> 12) << 10;
  const u64 giga_va = VA + ((u64)_free_ram - RAM_BASE) + 8;
  for (int store = 0; store < 2; store++) {
    u64 hash = FNV_START, status = status_for(1, 0, 0);
    static const u64 rights[] = {0x07, 0xc7, 0x47, 0x03, 0x0f};
    for (u64 r = 0; r < sizeof rights / sizeof rights[0]; r++) {
      hash = access_at(hash, &middle[0], free_ppn | rights[r], status, store, VA + 8, free_word);
      hash = one(hash, &middle[0], ppn | rights[r], status, store);
      middle[0] = PTE_TABLE(leaves);
      hash = access_at(hash, &root[1], ram_ppn | rights[r], status, store, giga_va, free_word);
      hash = one(hash, &root[1], ppn | rights[r], status, store);
      root[1] = PTE_TABLE(middle);
    }
    hash = one(hash, &middle[0], PTE_TABLE(leaves) & ~1UL, status, store);
    middle[0] = PTE_TABLE(leaves);
    hash = one(hash, &middle[0], PTE_TABLE(leaves) | 0x10, status, store); /* a pointer with U set */
    middle[0] = PTE_TABLE(leaves);
    gprintf("pte superpages %s %016lx\n", store ? "store" : "load", hash);
  }

  /* Fetches from S through every flag combination (run_in_mode). */
  target[0] = 0x8082451d; /* the low word: little-endian */
  asm volatile("fence.i" ::: "memory");
  u64 hash = FNV_START;
  for (u64 flags = 0; flags < 256; flags++) {
    leaves[0] = ppn | flags;
    asm volatile("sfence.vma" ::: "memory");
    struct trap_record *record = expect_trap();
    u64 value = (u64)run_in_mode(PRV_S, sweep_fetch, (i64)VA, 0);
    trap_result();
    hash = fold(fold(fold(hash, value), record->count), record->count ? record->cause << 32 ^ record->tval : 0);
    hash = fold(hash, leaves[0]);
  }
  gprintf("pte S fetch %016lx\n", hash);
  csr_write(satp, 0);
  asm volatile("sfence.vma" ::: "memory");
}
