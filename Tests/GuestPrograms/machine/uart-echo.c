/* uart-echo: reads the console through the UART's received-data interrupt, routed by the PLIC
 * (source 10, hart 0's M context), and echoes every character until it receives 'q'; then prints a
 * newline and passes. Checks: every external interrupt claims source 10 (or nothing: a claim may find
 * the line already gone) and is completed, the data came with interrupts (one may find the FIFO
 * already drained: the PLIC may latch the line again while a claim is in flight), and no data is left
 * at the end. Gives up after 60 s of mtime without a 'q' (exit 255).
 * Run it with console input, e.g. `printf 'hello,rrvm!q' | qemu-system-riscv64 ... -nographic`; the
 * output then contains "hello,rrvm!q". */
#include "machine.h"

static volatile u64 got_quit, received, interrupts, interrupts_with_data, timed_out, stop;

static void on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  if (cause == IRQ_M_TIMER) {
    timed_out = stop = 1;
    disarm_timer();
    return;
  }
  CHECK_EQ(cause, IRQ_M_EXT, "interrupt cause is the machine external interrupt");
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == 0) return; /* spurious: the line dropped before the claim */
  interrupts++;
  CHECK_EQ(source, UART_IRQ, "the PLIC claim names the UART");
  if (uart_read(UART_LSR) & UART_LSR_DR) interrupts_with_data++;
  while (uart_read(UART_LSR) & UART_LSR_DR) {
    char c = (char)uart_read(UART_RBR);
    putc_raw(c);
    received++;
    if (c == 'q') got_quit = stop = 1;
  }
  plic_complete(PLIC_CONTEXT_M(0), source);
}

void test_main(void) {
  print("uart-echo: type characters; q ends\n");
  m_irq_hook = on_interrupt;
  plic_route_to_hart0(UART_IRQ);
  uart_write(UART_IER, UART_IER_RDI);
  arm_timer(SECONDS(60));
  csr_write(mie, MIP_MEIP | MIP_MTIP);
  wfi_until(&stop);
  disarm_timer();
  uart_write(UART_IER, 0);
  print("\n");
  if (!got_quit) harness_error("no 'q' received within 60 s of mtime");
  CHECK(interrupts_with_data >= 1 && interrupts_with_data <= received, "the data came with interrupts");
  CHECK(!(uart_read(UART_LSR) & UART_LSR_DR), "no data left in the UART");
  gprintf("uart-echo: %lu characters in %lu interrupts\n", received, interrupts);
}
