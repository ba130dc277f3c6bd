/* uart-hello: prints a fixed text through the NS16550A (polling LSR.THRE before each byte) and passes.
 * The run's output must contain the line
 *   Hello from rrvm guest uart-hello: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ ~!@#$%^&*()_+
 * followed by "PASS uart-hello". Checks: the UART's LSR reports THRE (transmitter ready) and the
 * scratch register (offset 7) holds what was written. */
#include "guest.h"

void test_main(void) {
  print("Hello from rrvm guest uart-hello: 0123456789 abcdefghijklmnopqrstuvwxyz "
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ ~!@#$%^&*()_+\n");
  CHECK(mmio_read8(UART_BASE + 5) & 0x20, "LSR.THRE shows the transmitter ready");
  mmio_write8(UART_BASE + 7, 0xa5);
  CHECK_EQ(mmio_read8(UART_BASE + 7), 0xa5, "scratch register keeps 0xa5");
  mmio_write8(UART_BASE + 7, 0x5a);
  CHECK_EQ(mmio_read8(UART_BASE + 7), 0x5a, "scratch register keeps 0x5a");
}
