/* uart-flood: prints numbered lines as fast as it can until it reads a 'q' on the console (polling the
 * UART's LSR, no interrupts), then prints how many and passes. Gives up after 120 s of mtime (exit 1).
 * For rrvm's console tests: a host standard output that nobody reads, or one closed under it (`| head`),
 * must neither block rrctl nor change what the guest sees. */
#include "machine.h"

void test_main(void) {
  u64 lines = 0;
  u64 deadline = rdtime() + SECONDS(120);
  for (;;) {
    gprintf("uart-flood: line %08lu the quick brown fox jumps over the lazy dog\n", lines++);
    if ((uart_read(UART_LSR) & UART_LSR_DR) && (char)uart_read(UART_RBR) == 'q') break;
    if (rdtime() > deadline) {
      print("uart-flood: no 'q' within 120 s\n");
      finish(1);
    }
  }
  gprintf("uart-flood: %lu lines\n", lines);
  pass();
}
