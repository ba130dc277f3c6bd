/* input-while-computing: one hart computes (no device access at all) while console input arrives; the
 * UART's received-data interrupt (PLIC source 10, hart 0's M context) interrupts the computation. For
 * every character it prints the character, the retired count when the interrupt was taken and a hash of
 * the computation so far: all three depend on the exact instruction at which the input reached the
 * guest, so a replay must print them again exactly. 'q' ends it; it gives up after about 2e9
 * instructions. No timer is set: on rrvm a hart no other hart can run beside, with no event scheduled,
 * runs in one slice until host input cuts it (the end-to-end test types and expects the echo at once).
 * Not in programs.txt: it needs input typed while it runs, which ReplayTests does. */
#include "machine.h"

#define ROUNDS_BEFORE_GIVING_UP 400000UL

static volatile u64 stop, hash = 1;

static void on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  CHECK_EQ(cause, IRQ_M_EXT, "the only interrupt is the machine external interrupt");
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == 0) return; /* the line dropped before the claim */
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
  print("input-while-computing: computing; type characters, q ends\n");
  csr_write(mie, MIP_MEIP);
  csr_set(mstatus, MSTATUS_MIE);
  /* Registers and RAM only: no device access until an interrupt comes. */
  for (u64 round = 0; !stop; round++) {
    if (round == ROUNDS_BEFORE_GIVING_UP) harness_error("no 'q' within 2e9 instructions");
    u64 h = hash;
    for (int i = 0; i < 1000; i++) h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9UL + (u64)i;
    hash = h;
  }
  csr_clear(mstatus, MSTATUS_MIE);
  uart_write(UART_IER, 0);
}
