/* finisher-code: exits through the test finisher with status 42, i.e. writes (42 << 16) | 0x3333 to
 * 0x10_0000. The run must end with exit status 42 after the line
 *   finisher-code: exiting with status 42
 * Before that, a write whose low 16 bits select no action (0x00421234) must be ignored. */
#include "guest.h"

void test_main(void) {
  mmio_write32(FINISHER_BASE, 0x00421234u);
  print("finisher-code: the finisher ignored 0x00421234\n");
  print("finisher-code: exiting with status 42\n");
  finish(42);
}
