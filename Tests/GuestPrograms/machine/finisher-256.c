/* finisher-256: a failing guest whose status has 0 in its low 8 bits: writes (256 << 16) | 0x3333 to the
 * test finisher. Exit statuses are 8 bits, so rrctl must still fail (255), not exit 0 as 256 & 0xff
 * would. Not in programs.txt: QEMU exits 0 here (exit(256)); EndToEndTests.ClusterTests checks rrvm. */
#include "guest.h"

void test_main(void) {
  print("finisher-256: exiting with status 256\n");
  finish(256);
}
