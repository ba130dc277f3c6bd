/* input-while-computing: one hart computes (no device access at all) while console input arrives; the
 * UART's received-data interrupt (PLIC source 10, hart 0's M context) interrupts the computation. For
 * every character it prints the character, the retired count when the interrupt was taken and a hash of
 * the computation so far: all three depend on the exact instruction at which the input reached the
 * guest, so a replay must print them again exactly. 'q' ends it; it gives up after 60 s of mtime.
 * (On rrvm a hart no other hart can run beside runs to its next event, here the 60 s timer, unless host
 * input cuts its slice: the end-to-end test types characters and expects them echoed within seconds.)
 * Not in programs.txt: it needs input typed while it runs, which ReplayTests does. */
#include "machine.h"

static volatile u64 stop, timed_out, hash = 1;

static void on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  if (cause == IRQ_M_TIMER) {
    timed_out = stop = 1;
    disarm_timer();
    return;
  }
  CHECK_EQ(cause, IRQ_M_EXT, "interrupt cause is the machine external interrupt");
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == 0) return;
  CHECK_EQ(source, UART_IRQ, "the PLIC claim names the UART");
  u64 retired = csr_read(minstret);
  while (uart_read(UART_LSR) & UART_LSR_DR) {
    char c = (char)uart_read(UART_RBR);
    if (c == 'q') stop = 1;
    gprintf("input-while-computing: got %c at instret %lu, hash %lx\n", c, retired, hash);
  }
  plic_complete(PLIC_CONTEXT_M(0), source);
}

void test_main(void) {
  m_irq_hook = on_interrupt;
  plic_route_to_hart0(UART_IRQ);
  uart_write(UART_IER, UART_IER_RDI);
  arm_timer(SECONDS(60));
  print("input-while-computing: computing; type characters, q ends\n");
  csr_write(mie, MIP_MEIP | MIP_MTIP);
  csr_set(mstatus, MSTATUS_MIE);
  /* Registers and RAM only: no device access until an interrupt comes. */
  while (!stop) {
    u64 h = hash;
    for (int i = 0; i < 1000; i++) h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9UL + (u64)i;
    hash = h;
  }
  csr_clear(mstatus, MSTATUS_MIE);
  disarm_timer();
  uart_write(UART_IER, 0);
  if (timed_out) harness_error("no 'q' within 60 s of mtime");
}
