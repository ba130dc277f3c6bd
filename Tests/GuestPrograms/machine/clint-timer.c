/* clint-timer: the CLINT's mtime and mtimecmp and the machine timer interrupt on hart 0.
 * - mtime never goes backwards over many reads and advances while the hart runs;
 * - mtimecmp reads back what was written, as one 64-bit word and as two 32-bit halves;
 * - mip.MTIP is set exactly while mtime >= mtimecmp: clear for a deadline in the future (none fires
 *   early), set for one in the past, cleared again by moving mtimecmp ahead;
 * - timer interrupts: WFI sleeps until the deadline (a timer that never fires hangs the program), the interrupt (cause 7) arrives no earlier than
 *   mtimecmp, and ten periodic 1 ms interrupts, each re-armed from the handler, take at least 10 ms. */
#include "machine.h"

static volatile u64 fired, fired_at, deadline, periodic_left, period, periodic_done;

/* The CLINT is a device: after the handler moves mtimecmp ahead, MTIP may still read set for a moment
 * and the handler may be entered once more, finding mtime < mtimecmp. Such an entry is spurious. An
 * entry with mtime < mtimecmp while the handler has not touched mtimecmp since the test armed it
 * (from a state with MTIP clear) is an interrupt that came early: a failure. */
static volatile u64 handler_moved_timer, spurious;

static void arm(u64 at) {
  CHECK(wait_mip(MIP_MTIP, 0), "MTIP is clear before the timer is armed");
  handler_moved_timer = 0;
  deadline = at;
  mmio_write64(CLINT_MTIMECMP(0), at);
}

static void on_timer(u64 cause, struct trap_frame *f) {
  (void)f;
  CHECK_EQ(cause, IRQ_M_TIMER, "only timer interrupts arrive");
  u64 now = mtime();
  if (now < deadline) {
    CHECK(handler_moved_timer, "the timer interrupt does not arrive before mtimecmp");
    spurious++;
    return;
  }
  fired++;
  fired_at = now;
  handler_moved_timer = 1;
  if (periodic_left > 0 && --periodic_left > 0) {
    deadline += period;
    if (deadline <= now) deadline = now + period; /* a late handler (a busy host) skips a period */
    mmio_write64(CLINT_MTIMECMP(0), deadline);
  } else {
    deadline = ~0UL;
    disarm_timer();
    periodic_done = 1;
  }
}

static void monotonic(void) {
  u64 previous = mtime(), first = previous;
  for (int i = 0; i < 1000; i++) {
    u64 now = mtime();
    if (now < previous) fail("mtime went backwards");
    previous = now;
  }
  CHECK(1, "mtime never went backwards over 1000 reads");
  for (volatile int i = 0; i < 100000 && mtime() == first; i++) {}
  CHECK(mtime() > first, "mtime advances while the hart runs");
  u64 low = mmio_read32(CLINT_MTIME), high = mmio_read32(CLINT_MTIME + 4);
  CHECK(((high << 32) | low) >= previous, "mtime read as two 32-bit halves");
}

static void compare_register(void) {
  mmio_write64(CLINT_MTIMECMP(0), 0x123456789abcdef0UL);
  CHECK_EQ(mmio_read64(CLINT_MTIMECMP(0)), 0x123456789abcdef0UL, "mtimecmp reads back (64-bit)");
  /* the usual 32-bit sequence: high half to all ones first so that no interrupt fires in between */
  mmio_write32(CLINT_MTIMECMP(0) + 4, 0xffffffffu);
  mmio_write32(CLINT_MTIMECMP(0), 0x11223344u);
  mmio_write32(CLINT_MTIMECMP(0) + 4, 0x00000055u);
  CHECK_EQ(mmio_read64(CLINT_MTIMECMP(0)), 0x0000005511223344UL, "mtimecmp written as two halves");
  CHECK_EQ(mmio_read32(CLINT_MTIMECMP(0) + 4), 0x55, "mtimecmp high half read alone");

  deadline = mtime() + MILLISECONDS(500);
  mmio_write64(CLINT_MTIMECMP(0), deadline);
  CHECK(!(csr_read(mip) & MIP_MTIP), "MTIP clear while mtime < mtimecmp");
  mmio_write64(CLINT_MTIMECMP(0), 0);
  CHECK(wait_mip(MIP_MTIP, 1), "MTIP set once mtimecmp is in the past");
  disarm_timer();
  CHECK(wait_mip(MIP_MTIP, 0), "moving mtimecmp ahead clears MTIP");
}

static void interrupts(void) {
  m_irq_hook = on_timer;
  csr_write(mie, MIP_MTIP);

  u64 delays[] = {MILLISECONDS(1), MILLISECONDS(5), 10, MILLISECONDS(20)};
  for (unsigned i = 0; i < sizeof delays / sizeof delays[0]; i++) {
    fired = 0;
    u64 armed_at = mtime();
    arm(armed_at + delays[i]);
    u64 armed_deadline = deadline;
    wfi_until(&fired); /* a timer that never fires hangs here: the runner's timeout reports it */
    char what[64];
    gsprintf(what, sizeof what, "one timer interrupt %lu ticks ahead", delays[i]);
    CHECK_EQ(fired, 1, what);
    CHECK(fired_at >= armed_deadline, "the interrupt came at or after the deadline");
  }

  fired = 0;
  periodic_done = 0;
  period = MILLISECONDS(1);
  periodic_left = 10;
  u64 start = mtime();
  arm(start + period);
  wfi_until(&periodic_done);
  CHECK_EQ(fired, 10, "ten periodic interrupts");
  CHECK(fired_at - start >= 10 * period, "ten 1 ms periods took at least 10 ms of mtime");
  csr_write(mie, 0);
  disarm_timer();
  if (spurious) gprintf("clint-timer: %lu spurious timer entries (MTIP still set after mtimecmp moved)\n", spurious);
}

void test_main(void) {
  monotonic();
  compare_register();
  interrupts();
}
