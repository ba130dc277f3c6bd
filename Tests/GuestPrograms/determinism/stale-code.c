/* stale-code: a guest that breaks the FENCE.I rule across harts, for checkpoint restore (a restore must
 * put the decoded code a hart still runs back). Run with -smp 2. Hart 0 calls `patched` (it returns 1),
 * then hart 1 rewrites it to return 2, and hart 0 calls it ROUNDS more times WITHOUT FENCE.I: the ISA lets
 * each call run either version (rrvm keeps running what hart 0 decoded until it executes FENCE.I; QEMU may
 * see the store at any time). Before the rewrite hart 0 runs a while without calling it (code decoded
 * earlier must stay as it was decoded too). Every call must return 1 or 2, and 2 after FENCE.I. The counts
 * of old and new results are printed (a replay must print the same). */
#include "guest.h"

#define ROUNDS 200000
#define WAIT_ROUNDS 100000
#define LI_A0_2 0x00200513u /* addi a0, zero, 2 */

static volatile u64 started, rewritten;

/* Its own page, so that nothing else hart 0 runs shares it. */
extern u64 patched(void);
asm(".pushsection .text.patched, \"ax\"\n"
    ".balign 4096\n"
    "patched: .option push\n.option norvc\naddi a0, zero, 1\nret\n.option pop\n"
    ".balign 4096\n"
    ".popsection");

static u64 __attribute__((noinline)) busy(u64 n) {
  u64 sum = 0;
  for (u64 i = 0; i < n; i++) {
    sum += i ^ (sum >> 3);
    barrier();
  }
  return sum;
}

void secondary_main(u64 hartid) {
  if (hartid != 1) return;
  while (!started) barrier();
  busy(WAIT_ROUNDS);
  *(volatile u32 *)patched = LI_A0_2;
  fence();
  rewritten = 1;
}

void test_main(void) {
  CHECK_EQ(patched(), 1, "the code as linked returns 1");
  fence();
  started = 1;
  /* Hart 1 rewrites `patched` meanwhile; hart 0 does not call it. */
  busy(2 * WAIT_ROUNDS);
  u64 start = rdtime();
  while (!rewritten && rdtime() - start < 10 * TIMEBASE_HZ) barrier();
  CHECK(rewritten, "hart 1 rewrote the code (run with -smp 2)");
  u64 old_results = 0, new_results = 0, odd = 0;
  for (u64 round = 0; round < ROUNDS; round++) {
    u64 result = patched();
    if (result == 1) old_results++;
    else if (result == 2) new_results++;
    else odd++;
  }
  CHECK_EQ(odd, 0, "every call runs the old or the new code");
  gprintf("stale-code: %lu calls ran the old code, %lu the new\n", old_results, new_results);
  asm volatile("fence.i" ::: "memory");
  CHECK_EQ(patched(), 2, "after FENCE.I the new code runs");
}
