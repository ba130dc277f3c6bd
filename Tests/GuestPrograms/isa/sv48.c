/* sv48: the sv39 checks (see sv39.c) with four-level tables: the same 4 KiB, 2 MiB and 1 GiB leaves,
 * plus a 512 GiB leaf and a misaligned one, the upper half starting at bit 47, non-canonical addresses
 * with bit 47 set and bits 63-48 clear, and satp mode 9. */
#define LEVELS 4
#include "paging.h"

void test_main(void) { paging_tests(); }
