/* smp-contend: four harts (-smp 4) contend through an LR/SC spinlock, AMOs, IPIs and timer
 * interrupts, and hart 0 prints values that depend on the exact interleaving:
 *   smp-contend: order <the first 64 lock holders, one digit per acquisition>
 *   smp-contend: lock order hash 0x<16 hex digits>
 *   smp-contend: interleaving hash 0x<16 hex digits>
 * On QEMU these vary from run to run. On rrvm, whose schedule is deterministic, every run (and every
 * replay) must print the same lines: that is the check of issue 5, made by whoever runs it twice.
 * What each hart does, ITERATIONS times: take the spinlock (LR.W/SC.W), append its id to the shared
 * order hash with the shared sequence number (a plain counter the lock protects), release it (AMOSWAP
 * .RL), AMOADD its id + 1 into a shared total, every 16 iterations send an IPI to the next hart, and
 * spin a hart- and iteration-dependent while. Meanwhile each hart takes timer interrupts (period 0.5 ms
 * + 0.17 ms x hart id) and IPIs, each of which folds the shared AMO total as it finds it into the
 * hart's own interrupt hash. The interleaving hash combines the order hash and the four interrupt
 * hashes. The program also checks what must hold on every interleaving (exit status = check number):
 * the lock lost no update (sequence = 4 x ITERATIONS), the AMO total is exact, every hart received at
 * least one IPI and no more than were sent to it, and every hart took timer interrupts. */
#include "guest.h"

#define HARTS 4
#ifndef ITERATIONS
#define ITERATIONS 1000  /* the benchmarks build a longer run (Benchmarks/cluster-speed.sh) */
#endif
#define IPI_EVERY 16
#define ORDER_SHOWN 64

static volatile u32 lock;
static volatile u64 sequence, order_hash, amo_total, timer_total;
static volatile u64 arrived, finished, all_done;
static volatile u64 ipis_sent[HARTS], ipis_received[HARTS], timer_ticks[HARTS], irq_hash[HARTS];
static volatile u64 next_deadline[HARTS];
static char order_digits[ORDER_SHOWN + 1];

static u64 mix(u64 h, u64 x) {
  h ^= x;
  h = (h << 27) | (h >> 37);
  return h * 0x9e3779b97f4a7c15UL + 0x632be59bd9b4e019UL;
}

static void lock_acquire(void) {
  u32 busy, failed;
  asm volatile("1: lr.w.aq %0, (%2)\n"
               "bnez %0, 1b\n"
               "sc.w %1, %3, (%2)\n"
               "bnez %1, 1b"
               : "=&r"(busy), "=&r"(failed) : "r"(&lock), "r"(1u) : "memory");
}

static void lock_release(void) { asm volatile("amoswap.w.rl zero, zero, (%0)" ::"r"(&lock) : "memory"); }

static u64 timer_period(u64 h) { return 5000 + 1700 * h; }

/* Interrupt lines from the CLINT may lag behind the writes that change them, so a handler can find
 * its cause already gone: an IPI whose msip reads 0, or a timer whose deadline has not come. Such
 * spurious entries are ignored (and are themselves part of the deterministic interleaving on rrvm). */
static void on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  u64 h = hart_id();
  u64 seen = __atomic_load_n(&amo_total, __ATOMIC_RELAXED);
  if (cause == IRQ_M_SOFT) {
    if (!mmio_read32(CLINT_MSIP(h))) return;
    mmio_write32(CLINT_MSIP(h), 0);
    ipis_received[h]++;
    irq_hash[h] = mix(irq_hash[h], (1UL << 63) | seen);
  } else if (cause == IRQ_M_TIMER) {
    u64 now = rdtime();
    if (all_done) {
      mmio_write64(CLINT_MTIMECMP(h), ~0UL);
      return;
    }
    if (now < next_deadline[h]) return;
    next_deadline[h] += timer_period(h);
    if (next_deadline[h] <= now) next_deadline[h] = now + timer_period(h); /* a late handler skips periods */
    mmio_write64(CLINT_MTIMECMP(h), next_deadline[h]);
    timer_ticks[h]++;
    __atomic_fetch_add(&timer_total, 1, __ATOMIC_RELAXED);
    irq_hash[h] = mix(irq_hash[h], seen);
  } else {
    fail("an unexpected interrupt cause");
  }
}

static void contend(u64 h) {
  m_irq_hook = on_interrupt;
  next_deadline[h] = rdtime() + timer_period(h);
  mmio_write64(CLINT_MTIMECMP(h), next_deadline[h]);
  csr_write(mie, MIP_MSIP | MIP_MTIP);
  csr_set(mstatus, MSTATUS_MIE);
  __atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL);
  while (arrived < HARTS) barrier();

  for (u64 i = 0; i < ITERATIONS; i++) {
    lock_acquire();
    u64 n = sequence;
    order_hash = mix(order_hash, (h << 32) | n);
    if (n < ORDER_SHOWN) order_digits[n] = (char)('0' + h);
    sequence = n + 1;
    lock_release();
    __atomic_fetch_add(&amo_total, h + 1, __ATOMIC_RELAXED);
    if (i % IPI_EVERY == IPI_EVERY - 1) {
      __atomic_fetch_add(&ipis_sent[(h + 1) % HARTS], 1, __ATOMIC_RELAXED);
      mmio_write32(CLINT_MSIP((h + 1) % HARTS), 1);
    }
    for (volatile u64 spin = 0; spin < (h * 7 + i) % 29; spin++) {}
  }
  __atomic_fetch_add(&finished, 1, __ATOMIC_ACQ_REL);
}

void secondary_main(u64 hartid) {
  if (hartid >= HARTS) return;
  contend(hartid);
  while (!all_done) barrier(); /* interrupts still taken while waiting */
  csr_clear(mstatus, MSTATUS_MIE);
  csr_write(mie, 0);
  mmio_write64(CLINT_MTIMECMP(hartid), ~0UL);
}

static int quiescent(void) {
  for (int h = 0; h < HARTS; h++)
    if (mmio_read32(CLINT_MSIP(h)) || timer_ticks[h] == 0) return 0;
  return 1;
}

void test_main(void) {
  u64 start = rdtime();
  m_irq_hook = on_interrupt;
  /* wait for the others before starting, with a bound, so that -smp 1 fails clearly */
  while (arrived < HARTS - 1 && rdtime() - start < 2 * TIMEBASE_HZ) barrier();
  if (arrived < HARTS - 1) {
    char text[80];
    gsprintf(text, sizeof text, "only %lu of %d harts started (run with -smp %d)", arrived + 1, HARTS, HARTS);
    harness_error(text);
  }
  contend(0);
  start = rdtime();
  while (finished < HARTS && rdtime() - start < 20 * TIMEBASE_HZ) barrier();
  CHECK_EQ(finished, HARTS, "every hart finished its iterations");
  /* Before the counts are compared: every IPI sent has been taken (all msip clear) and every hart has
   * taken a timer interrupt. On QEMU a hart may not have run for a while; on rrvm this is immediate. */
  u64 settle = rdtime();
  while (!quiescent() && rdtime() - settle < 5 * TIMEBASE_HZ) barrier();
  all_done = 1;
  csr_clear(mstatus, MSTATUS_MIE);
  csr_write(mie, 0);
  mmio_write64(CLINT_MTIMECMP(0), ~0UL);

  CHECK_EQ(sequence, HARTS * ITERATIONS, "the spinlock lost no update");
  CHECK_EQ(amo_total, ITERATIONS * (HARTS * (HARTS + 1) / 2), "the AMO total is exact");
  char what[64];
  u64 interleaving = order_hash;
  for (int h = 0; h < HARTS; h++) {
    gsprintf(what, sizeof what, "hart %d received at least one IPI", h);
    CHECK(ipis_received[h] >= 1, what);
    gsprintf(what, sizeof what, "hart %d received no more IPIs than were sent to it", h);
    CHECK(ipis_received[h] <= ipis_sent[h], what);
    gsprintf(what, sizeof what, "hart %d took timer interrupts", h);
    CHECK(timer_ticks[h] >= 1, what);
    interleaving = mix(interleaving, irq_hash[h]);
    interleaving = mix(interleaving, (ipis_received[h] << 32) | timer_ticks[h]);
  }
  order_digits[ORDER_SHOWN] = 0;
  gprintf("smp-contend: order %s\n", order_digits);
  gprintf("smp-contend: lock order hash 0x%016lx\n", order_hash);
  gprintf("smp-contend: interleaving hash 0x%016lx\n", interleaving);
  gprintf("smp-contend: %lu IPIs received, %lu timer interrupts\n",
          ipis_received[0] + ipis_received[1] + ipis_received[2] + ipis_received[3], timer_total);
}
