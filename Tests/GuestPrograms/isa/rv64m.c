/* rv64m: every RV64M instruction: MUL/MULH/MULHSU/MULHU (signed x signed, signed x unsigned and
 * unsigned x unsigned high halves at the corners), DIV/DIVU/REM/REMU (rounding toward zero, the sign
 * of the remainder, division by zero giving -1 / 2^64-1 / the dividend without a trap, and the
 * overflow -2^63 / -1 giving -2^63 with remainder 0), and the W forms (MULW, DIVW, DIVUW, REMW, REMUW:
 * only the low 32 bits of the operands count and the 32-bit result is sign-extended, including
 * DIVUW by zero = 2^64-1 and REMUW of a word with bit 31 set).
 * The expected values follow the ISA manual's definitions (table of division special cases). */
#include "isa.h"

static void products(void) {
  T_RR("mul", 0x5UL, 0x7UL, 0x23UL);
  T_RR("mul", 0xffffffffffffffffUL, 0xffffffffffffffffUL, 0x1UL);
  T_RR("mul", 0x7fffffffffffffffUL, 0x7fffffffffffffffUL, 0x1UL);
  T_RR("mul", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x8000000000000000UL);
  T_RR("mul", 0x123456789abcdef0UL, 0xfedcba9876543210UL, 0x236d88fe5618cf00UL);
  T_RR("mul", 0x0UL, 0xffffffffffffffffUL, 0x0UL);
  T_RR("mulh", 0x5UL, 0x7UL, 0x0UL);
  T_RR("mulh", 0xffffffffffffffffUL, 0xffffffffffffffffUL, 0x0UL);
  T_RR("mulh", 0x8000000000000000UL, 0x8000000000000000UL, 0x4000000000000000UL);
  T_RR("mulh", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x0UL);
  T_RR("mulh", 0x123456789abcdef0UL, 0xfedcba9876543210UL, 0xffeb49923cc09532UL);
  T_RR("mulh", 0x7fffffffffffffffUL, 0x7fffffffffffffffUL, 0x3fffffffffffffffUL);
  T_RR("mulh", 0xffffffffffffffffUL, 0x2UL, 0xffffffffffffffffUL);
  T_RR("mulhsu", 0x5UL, 0x7UL, 0x0UL);
  T_RR("mulhsu", 0xffffffffffffffffUL, 0xffffffffffffffffUL, 0xffffffffffffffffUL);
  T_RR("mulhsu", 0x8000000000000000UL, 0x8000000000000000UL, 0xc000000000000000UL);
  T_RR("mulhsu", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x8000000000000000UL);
  T_RR("mulhsu", 0x123456789abcdef0UL, 0xfedcba9876543210UL, 0x121fa00ad77d7422UL);
  T_RR("mulhsu", 0xffffffffffffffffUL, 0x2UL, 0xffffffffffffffffUL);
  T_RR("mulhsu", 0x2UL, 0xffffffffffffffffUL, 0x1UL);
  T_RR("mulhu", 0x5UL, 0x7UL, 0x0UL);
  T_RR("mulhu", 0xffffffffffffffffUL, 0xffffffffffffffffUL, 0xfffffffffffffffeUL);
  T_RR("mulhu", 0x8000000000000000UL, 0x8000000000000000UL, 0x4000000000000000UL);
  T_RR("mulhu", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x7fffffffffffffffUL);
  T_RR("mulhu", 0x123456789abcdef0UL, 0xfedcba9876543210UL, 0x121fa00ad77d7422UL);
  T_RR("mulhu", 0xffffffffffffffffUL, 0x2UL, 0x1UL);
}

static void quotients(void) {
  T_RR("div", 0x14UL, 0x6UL, 0x3UL);
  T_RR("div", 0xffffffffffffffecUL, 0x6UL, 0xfffffffffffffffdUL);
  T_RR("div", 0x14UL, 0xfffffffffffffffaUL, 0xfffffffffffffffdUL);
  T_RR("div", 0xffffffffffffffecUL, 0xfffffffffffffffaUL, 0x3UL);
  T_RR("div", 0xfffffffffffffff9UL, 0x2UL, 0xfffffffffffffffdUL);
  T_RR("div", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x8000000000000000UL);
  T_RR("div", 0x8000000000000000UL, 0x1UL, 0x8000000000000000UL);
  T_RR("div", 0x5UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("div", 0x0UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("div", 0x8000000000000000UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("div", 0x7fffffffffffffffUL, 0xffffffffffffffffUL, 0x8000000000000001UL);
  T_RR("divu", 0x14UL, 0x6UL, 0x3UL);
  T_RR("divu", 0xffffffffffffffecUL, 0x6UL, 0x2aaaaaaaaaaaaaa7UL);
  T_RR("divu", 0xffffffffffffffffUL, 0x1UL, 0xffffffffffffffffUL);
  T_RR("divu", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x0UL);
  T_RR("divu", 0x5UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("divu", 0x0UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("divu", 0xffffffffffffffffUL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("rem", 0x14UL, 0x6UL, 0x2UL);
  T_RR("rem", 0xffffffffffffffecUL, 0x6UL, 0xfffffffffffffffeUL);
  T_RR("rem", 0x14UL, 0xfffffffffffffffaUL, 0x2UL);
  T_RR("rem", 0xffffffffffffffecUL, 0xfffffffffffffffaUL, 0xfffffffffffffffeUL);
  T_RR("rem", 0xfffffffffffffff9UL, 0x2UL, 0xffffffffffffffffUL);
  T_RR("rem", 0x7UL, 0xfffffffffffffffeUL, 0x1UL);
  T_RR("rem", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x0UL);
  T_RR("rem", 0x5UL, 0x0UL, 0x5UL);
  T_RR("rem", 0xfffffffffffffffbUL, 0x0UL, 0xfffffffffffffffbUL);
  T_RR("rem", 0x8000000000000000UL, 0x0UL, 0x8000000000000000UL);
  T_RR("remu", 0x14UL, 0x6UL, 0x2UL);
  T_RR("remu", 0xffffffffffffffecUL, 0x6UL, 0x2UL);
  T_RR("remu", 0xffffffffffffffffUL, 0x1UL, 0x0UL);
  T_RR("remu", 0x8000000000000000UL, 0xffffffffffffffffUL, 0x8000000000000000UL);
  T_RR("remu", 0x5UL, 0x0UL, 0x5UL);
  T_RR("remu", 0xffffffffffffffffUL, 0x0UL, 0xffffffffffffffffUL);
}

static void words(void) {
  T_RR("mulw", 0x5UL, 0x7UL, 0x23UL);
  T_RR("mulw", 0x7fffffffUL, 0x2UL, 0xfffffffffffffffeUL);
  T_RR("mulw", 0x123456789UL, 0x10UL, 0x34567890UL);
  T_RR("mulw", 0xffffffff00000003UL, 0x100000005UL, 0xfUL);
  T_RR("mulw", 0x80000000UL, 0x1UL, 0xffffffff80000000UL);
  T_RR("mulw", 0xffffffffUL, 0xffffffffUL, 0x1UL);
  T_RR("mulw", 0x10000UL, 0x10000UL, 0x0UL);
  T_RR("divw", 0x14UL, 0x6UL, 0x3UL);
  T_RR("divw", 0xffffffffffffffecUL, 0x6UL, 0xfffffffffffffffdUL);
  T_RR("divw", 0x80000000UL, 0xffffffffUL, 0xffffffff80000000UL);
  T_RR("divw", 0xffffffff80000000UL, 0xffffffffffffffffUL, 0xffffffff80000000UL);
  T_RR("divw", 0x5UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("divw", 0x80000000UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("divw", 0x1234567800000014UL, 0xabcdef0000000006UL, 0x3UL);
  T_RR("divw", 0x7fffffffUL, 0xffffffffUL, 0xffffffff80000001UL);
  T_RR("divuw", 0x14UL, 0x6UL, 0x3UL);
  T_RR("divuw", 0xffffffecUL, 0x6UL, 0x2aaaaaa7UL);
  T_RR("divuw", 0x80000000UL, 0x1UL, 0xffffffff80000000UL);
  T_RR("divuw", 0x5UL, 0x0UL, 0xffffffffffffffffUL);
  T_RR("divuw", 0xffffffffUL, 0x100000000UL, 0xffffffffffffffffUL);
  T_RR("divuw", 0x123456789UL, 0x1UL, 0x23456789UL);
  T_RR("divuw", 0xffffffffUL, 0x1UL, 0xffffffffffffffffUL);
  T_RR("remw", 0x14UL, 0x6UL, 0x2UL);
  T_RR("remw", 0xffffffffffffffecUL, 0x6UL, 0xfffffffffffffffeUL);
  T_RR("remw", 0x14UL, 0xfffffffffffffffaUL, 0x2UL);
  T_RR("remw", 0x80000000UL, 0xffffffffUL, 0x0UL);
  T_RR("remw", 0x5UL, 0x0UL, 0x5UL);
  T_RR("remw", 0x80000000UL, 0x0UL, 0xffffffff80000000UL);
  T_RR("remw", 0xffffffff00000007UL, 0x100000000UL, 0x7UL);
  T_RR("remuw", 0x14UL, 0x6UL, 0x2UL);
  T_RR("remuw", 0xffffffecUL, 0x6UL, 0x2UL);
  T_RR("remuw", 0x80000005UL, 0x0UL, 0xffffffff80000005UL);
  T_RR("remuw", 0x5UL, 0x0UL, 0x5UL);
  T_RR("remuw", 0xfffffffeUL, 0xffffffffUL, 0xfffffffffffffffeUL);
  T_RR("remuw", 0x1800000007UL, 0x1000000003UL, 0x1UL);
}

static void register_aliasing(void) {
  u64 r = 0xfffffffffffffff9UL; /* -7 */
  asm volatile(".option push\n.option norvc\nmul %0, %0, %0\n.option pop" : "+r"(r));
  CHECK_EQ(r, 49, "mul rd == rs1 == rs2");
  r = 100;
  asm volatile(".option push\n.option norvc\ndiv %0, %0, %1\n.option pop" : "+r"(r) : "r"(7UL));
  CHECK_EQ(r, 14, "div rd == rs1");
  asm volatile(".option push\n.option norvc\nli t0, 9\nmul x0, t0, t0\ndiv x0, t0, zero\nmv %0, x0\n.option pop"
               : "=r"(r)::"t0");
  CHECK_EQ(r, 0, "M results written to x0 are discarded");
}

void test_main(void) {
  products();
  quotients();
  words();
  register_aliasing();
}
