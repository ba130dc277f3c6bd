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

/* FNV-1a over a 64-bit word's bytes, from FNV_START: the hash that sweep, random-code and pte-sweep print for the
 * comparison with QEMU. */
#define FNV_START 0xcbf29ce484222325UL
static inline u64 fold(u64 hash, u64 word) {
  for (int i = 0; i < 8; i++) hash = (hash ^ ((word >> (8 * i)) & 0xff)) * 0x100000001b3UL;
  return hash;
}

#define I64_MIN 0x8000000000000000UL
#define I64_MAX 0x7fffffffffffffffUL
#define ALL_ONES 0xffffffffffffffffUL

#endif
