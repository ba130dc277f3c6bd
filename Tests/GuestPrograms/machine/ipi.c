/* ipi: inter-processor interrupts through the CLINT's msip registers; run with 4 harts (-smp 4).
 * - all four harts start (hart 0 waits up to 2 s of mtime for them, else exits 255);
 * - msip keeps only bit 0: writing 0xfffffffe raises nothing, 0xffffffff reads back as 1;
 * - round 1: every hart sends an IPI to the next one (h -> h+1 mod 4) at the same time; every hart
 *   takes exactly one machine software interrupt (cause 3) with mip.MSIP set, and clearing its msip
 *   clears mip.MSIP;
 * - round 2: a token passed around the ring three times (0 -> 1 -> 2 -> 3 -> 0), each hart forwarding
 *   it from its interrupt handler: the receivers are logged in the order 1 2 3 0 1 2 3 0 1 2 3 0. */
#include "machine.h"

#define HARTS 4
#define ROUNDS 3

static volatile u64 arrived, round1_go, round1_done, round2_go;
static volatile u64 received[HARTS], msip_seen[HARTS];
static volatile u64 token_log[HARTS * ROUNDS + 4], token_count, ring_done;

static void send_ipi(u64 hart) { mmio_write32(CLINT_MSIP(hart), 1); }

static void on_ipi(u64 cause, struct trap_frame *f) {
  (void)f;
  u64 h = hart_id();
  CHECK_EQ(cause, IRQ_M_SOFT, "an IPI arrives as a machine software interrupt");
  msip_seen[h] = (csr_read(mip) & MIP_MSIP) != 0;
  mmio_write32(CLINT_MSIP(h), 0);
  CHECK(wait_mip(MIP_MSIP, 0), "clearing msip clears mip.MSIP");
  received[h]++;
  if (round2_go) {
    u64 n = __atomic_fetch_add(&token_count, 1, __ATOMIC_ACQ_REL);
    token_log[n] = h;
    if (n + 1 < HARTS * ROUNDS) send_ipi((h + 1) % HARTS);
    else ring_done = 1;
  }
}

static void wait_for(volatile u64 *flag) {
  while (!*flag) barrier();
}

/* Every hart: take IPIs while waiting for the rounds. */
static void hart_body(u64 h) {
  m_irq_hook = on_ipi;
  csr_write(mie, MIP_MSIP);
  __atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL);
  wait_for(&round1_go);
  send_ipi((h + 1) % HARTS);
  wfi_until(&received[h]);
  __atomic_fetch_add(&round1_done, 1, __ATOMIC_ACQ_REL);
  wait_for(&round2_go);
}

void secondary_main(u64 hartid) {
  if (hartid >= HARTS) return;
  hart_body(hartid);
  /* round 2: forward the token from the handler until the ring is done */
  wfi_until(&ring_done);
  for (;;) asm volatile("wfi");
}

void test_main(void) {
  mmio_write32(CLINT_MSIP(0), 0xfffffffeu);
  CHECK_EQ(mmio_read32(CLINT_MSIP(0)), 0, "msip bit 0 clear: no IPI");
  CHECK(!(csr_read(mip) & MIP_MSIP), "no MSIP from an even value");
  mmio_write32(CLINT_MSIP(0), 0xffffffffu);
  CHECK_EQ(mmio_read32(CLINT_MSIP(0)), 1, "msip keeps only bit 0");
  CHECK(wait_mip(MIP_MSIP, 1), "mip.MSIP follows msip");
  mmio_write32(CLINT_MSIP(0), 0);
  CHECK(wait_mip(MIP_MSIP, 0), "msip cleared");

  m_irq_hook = on_ipi;
  csr_write(mie, MIP_MSIP);
  __atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL);
  u64 start = rdtime();
  while (arrived < HARTS && rdtime() - start < SECONDS(2)) {}
  if (arrived < HARTS) {
    char text[80];
    gsprintf(text, sizeof text, "only %lu of %d harts started (run with -smp %d)", arrived, HARTS, HARTS);
    harness_error(text);
  }

  round1_go = 1;
  send_ipi(1);
  wfi_until(&received[0]);
  __atomic_fetch_add(&round1_done, 1, __ATOMIC_ACQ_REL);
  start = rdtime();
  while (round1_done < HARTS && rdtime() - start < SECONDS(2)) {}
  CHECK_EQ(round1_done, HARTS, "every hart received its IPI in round 1");
  char what[64];
  for (int h = 0; h < HARTS; h++) {
    gsprintf(what, sizeof what, "hart %d took exactly one IPI in round 1", h);
    CHECK_EQ(received[h], 1, what);
    gsprintf(what, sizeof what, "hart %d saw mip.MSIP set", h);
    CHECK_EQ(msip_seen[h], 1, what);
  }

  round2_go = 1;
  send_ipi(1);
  wfi_until(&ring_done);
  for (int i = 0; i < HARTS * ROUNDS; i++) {
    gsprintf(what, sizeof what, "ring step %d went to the next hart", i);
    CHECK_EQ(token_log[i], (u64)((i + 1) % HARTS), what);
  }
  for (int h = 0; h < HARTS; h++) {
    gsprintf(what, sizeof what, "hart %d took one IPI per ring round", h);
    CHECK_EQ(received[h], 1 + ROUNDS, what);
  }
}
