/* sv39: three-level page tables built at run time (see paging.h for the address space):
 * - 4 KiB, 2 MiB and 1 GiB leaves, a 1 GiB leaf at the top of the sign-extended upper half, loads and
 *   stores reaching the mapped physical pages; non-canonical addresses (bit 38 set, bits 63-39 clear)
 *   and unmapped pages fault with the address in mtval;
 * - permissions: R/W/X for loads, stores, AMOs, LR and fetches; U pages from U and from S with and
 *   without SUM (never executable from S); MXR making X-only pages readable from S and U;
 * - invalid PTEs: W without R, reserved bits 54, 61 and 63 (Svnapot/Svpbmt absent), V clear, a pointer
 *   at the last level, misaligned 2 MiB and 1 GiB leaves, each a page fault of the access's type;
 * - A/D: hardware may set them or fault; either way consistently, never D on a load;
 * - SFENCE.VMA (all, by address, by ASID: 0, and 1 held in satp) making changed PTEs visible;
 * - an instruction spanning two pages whose second page is not executable: fetch page fault with
 *   mepc at the instruction and mtval at the second page;
 * - an ld and an sd crossing into an unmapped, then a read-only page: the page fault's mtval at the second page
 *   (the portion that faulted), nothing written on either side;
 * - page faults delegated to S through medeleg; MPRV translating M-mode loads with MPP's privilege;
 * - satp: the mode and root read back, the ASID bits kept the low ones, reserved modes (5, 11) ignored, bare
 *   mode physical. */
#define LEVELS 3
#include "paging.h"

void test_main(void) { paging_tests(); }
