/* Helpers for the ISA programs: run one instruction on given operands with inline assembly.
 * The 32-bit forms are forced (.option norvc) so that the assembler cannot substitute a compressed one. */
#ifndef ISA_H
#define ISA_H
#include "guest.h"

#define NORVC(body) ".option push\n.option norvc\n" body "\n.option pop"

/* rd = op rs1, rs2 */
#define RR(op, a, b) \
  ({ u64 r_; asm volatile(NORVC(op " %0, %1, %2") : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b))); r_; })
/* rd = op rs1, imm */
#define RI(op, a, imm) \
  ({ u64 r_; asm volatile(NORVC(op " %0, %1, %2") : "=r"(r_) : "r"((u64)(a)), "i"(imm)); r_; })
#define T_RR(op, a, b, want) CHECK_EQ(RR(op, a, b), want, op " " #a ", " #b)
#define T_RI(op, a, imm, want) CHECK_EQ(RI(op, a, imm), want, op " " #a ", " #imm)

/* FNV-1a over a 64-bit word's bytes, from FNV_START: the hash that sweep, random-code, pte-sweep and encodings print
 * for the comparison with QEMU. */
#define FNV_START 0xcbf29ce484222325UL
static inline u64 fold(u64 hash, u64 word) {
  for (int i = 0; i < 8; i++) hash = (hash ^ ((word >> (8 * i)) & 0xff)) * 0x100000001b3UL;
  return hash;
}

/* For harnesses that run code owning every register (random-code, encodings), the assembly that loads x1-x31 from
 * the 32 doublewords at t0 (x0's place unused; t0 itself last) and the one that stores them there, all but t0 (the
 * caller has swapped it out and stores it itself). */
#define LOAD_X1_TO_X31_FROM_T0 \
  "  ld x1, 8(t0)\n  ld x2, 16(t0)\n  ld x3, 24(t0)\n  ld x4, 32(t0)\n  ld x6, 48(t0)\n  ld x7, 56(t0)\n" \
  "  ld x8, 64(t0)\n  ld x9, 72(t0)\n  ld x10, 80(t0)\n  ld x11, 88(t0)\n  ld x12, 96(t0)\n  ld x13, 104(t0)\n" \
  "  ld x14, 112(t0)\n  ld x15, 120(t0)\n  ld x16, 128(t0)\n  ld x17, 136(t0)\n  ld x18, 144(t0)\n" \
  "  ld x19, 152(t0)\n  ld x20, 160(t0)\n  ld x21, 168(t0)\n  ld x22, 176(t0)\n  ld x23, 184(t0)\n" \
  "  ld x24, 192(t0)\n  ld x25, 200(t0)\n  ld x26, 208(t0)\n  ld x27, 216(t0)\n  ld x28, 224(t0)\n" \
  "  ld x29, 232(t0)\n  ld x30, 240(t0)\n  ld x31, 248(t0)\n  ld x5, 40(t0)\n"
#define STORE_X1_TO_X31_BUT_T0_AT_T0 \
  "  sd x1, 8(t0)\n  sd x2, 16(t0)\n  sd x3, 24(t0)\n  sd x4, 32(t0)\n  sd x6, 48(t0)\n  sd x7, 56(t0)\n" \
  "  sd x8, 64(t0)\n  sd x9, 72(t0)\n  sd x10, 80(t0)\n  sd x11, 88(t0)\n  sd x12, 96(t0)\n  sd x13, 104(t0)\n" \
  "  sd x14, 112(t0)\n  sd x15, 120(t0)\n  sd x16, 128(t0)\n  sd x17, 136(t0)\n  sd x18, 144(t0)\n" \
  "  sd x19, 152(t0)\n  sd x20, 160(t0)\n  sd x21, 168(t0)\n  sd x22, 176(t0)\n  sd x23, 184(t0)\n" \
  "  sd x24, 192(t0)\n  sd x25, 200(t0)\n  sd x26, 208(t0)\n  sd x27, 216(t0)\n  sd x28, 224(t0)\n" \
  "  sd x29, 232(t0)\n  sd x30, 240(t0)\n  sd x31, 248(t0)\n"

#define I64_MIN 0x8000000000000000UL
#define I64_MAX 0x7fffffffffffffffUL
#define ALL_ONES 0xffffffffffffffffUL

#endif
