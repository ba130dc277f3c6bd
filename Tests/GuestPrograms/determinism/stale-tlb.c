/* stale-tlb: a guest that breaks the SFENCE.VMA rule, for checkpoint restore (a restore must put the
 * hart's TLB back). Paging is on (Sv39) for M-mode loads and stores through mstatus.MPRV with MPP = S;
 * TEST_VA maps page `old_load`, TEST_VA + 4 KiB page `old_store`. One load and one store fill the TLB,
 * then both PTEs are pointed at other pages (`new_load`, `new_store`) WITHOUT SFENCE.VMA, and ROUNDS
 * loads and stores go through the two addresses. The privileged spec lets each use either translation
 * (rrvm keeps using the cached one until a fence; QEMU may refill at any time): every load must give the
 * old or the new page's pattern, and every store land in one of the two pages. After SFENCE.VMA the new
 * translations must be used. The counts of old and new translations used are printed (a replay must
 * print the same). */
#include "guest.h"

#define ROUNDS 200000
#define TEST_VA 0x40000000UL
#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_AD (3UL << 6)
#define OLD_PATTERN 0x6f6c64206f6c6421UL
#define NEW_PATTERN 0x6e6577206e657721UL

static u64 root[512] __attribute__((aligned(4096)));
static u64 middle[512] __attribute__((aligned(4096)));
static u64 leaves[512] __attribute__((aligned(4096)));
static u64 old_load[512] __attribute__((aligned(4096)));
static u64 new_load[512] __attribute__((aligned(4096)));
static u64 old_store[512] __attribute__((aligned(4096)));
static u64 new_store[512] __attribute__((aligned(4096)));

/* A load and a store with mstatus.MPRV set: translated as S-mode accesses (MPP = S). */
extern u64 mprv_load(u64 va);
extern void mprv_store(u64 va, u64 value);
asm(".pushsection .text\n"
    ".balign 4\n"
    "mprv_load: li t0, 1 << 17\ncsrs mstatus, t0\nld a0, 0(a0)\ncsrc mstatus, t0\nret\n"
    "mprv_store: li t0, 1 << 17\ncsrs mstatus, t0\nsd a1, 0(a0)\ncsrc mstatus, t0\nret\n"
    ".popsection");

static u64 pointer_pte(u64 *table) { return (((u64)table >> 12) << 10) | PTE_V; }
static u64 leaf_pte(u64 *page) { return (((u64)page >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_AD; }

void test_main(void) {
  for (int i = 0; i < 512; i++) {
    old_load[i] = OLD_PATTERN;
    new_load[i] = NEW_PATTERN;
  }
  root[(TEST_VA >> 30) & 511] = pointer_pte(middle);
  middle[(TEST_VA >> 21) & 511] = pointer_pte(leaves);
  leaves[0] = leaf_pte(old_load);
  leaves[1] = leaf_pte(old_store);
  csr_write(mstatus, (csr_read(mstatus) & ~MSTATUS_MPP) | ((u64)PRV_S << MSTATUS_MPP_SHIFT));
  csr_write(satp, (8UL << 60) | ((u64)root >> 12));
  asm volatile("sfence.vma" ::: "memory");

  CHECK_EQ(mprv_load(TEST_VA), OLD_PATTERN, "the first load uses the page table");
  mprv_store(TEST_VA + 4096, 1);
  CHECK_EQ(old_store[0], 1, "the first store uses the page table");

  /* Both PTEs changed, no SFENCE.VMA. */
  leaves[0] = leaf_pte(new_load);
  leaves[1] = leaf_pte(new_store);
  fence();
  u64 old_loads = 0, new_loads = 0, odd = 0;
  for (u64 round = 0; round < ROUNDS; round++) {
    u64 offset = (round % 512) * 8;
    u64 value = mprv_load(TEST_VA + offset);
    if (value == OLD_PATTERN) old_loads++;
    else if (value == NEW_PATTERN) new_loads++;
    else odd++;
    mprv_store(TEST_VA + 4096 + offset, round + 2);
  }
  CHECK_EQ(odd, 0, "every load gives the old or the new page's bytes");
  u64 old_stores = 0, new_stores = 0;
  for (int i = 0; i < 512; i++) {
    old_stores += old_store[i] > 1;
    new_stores += new_store[i] > 1;
  }
  CHECK(old_stores + new_stores >= 512, "every store lands in the old or the new page");
  gprintf("stale-tlb: %lu loads through the old translation, %lu through the new; stores: %lu words old, %lu new\n",
          old_loads, new_loads, old_stores, new_stores);

  asm volatile("sfence.vma" ::: "memory");
  CHECK_EQ(mprv_load(TEST_VA), NEW_PATTERN, "after SFENCE.VMA loads use the new translation");
  mprv_store(TEST_VA + 4096, 7);
  CHECK_EQ(new_store[0], 7, "after SFENCE.VMA stores use the new translation");
  csr_write(satp, 0);
}
