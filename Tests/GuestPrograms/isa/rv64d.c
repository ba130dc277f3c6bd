/* rv64d: the D extension (binary64), with the checks shared with rv64f (fp.h; see rv64f.c for the
 * list) and, for double precision only: fmv.x.d/fmv.d.x and fld/fsd moving an sNaN bit for bit;
 * D operations reading a NaN-boxed single as a NaN; fcvt.s.d (overflow, underflow, inexact, exact
 * subnormal, canonical NaN from any NaN, NV from an sNaN) and fcvt.d.s (exact, sNaN); the double
 * limits of fcvt.w.d (2^31 - 0.5 and -2^31 - 0.5 in each direction), fcvt.d.l of 2^53 + 1. */
#define FP_SINGLE 0
#include "fp.h"

#define S_QNAN 0xffffffff7fc00000UL /* canonical single NaN, boxed */

static void moves_and_memory(void) {
  CHECK_X(FPX("fmv.x.d", DYN, SNAN | 0x1234), SNAN | 0x1234, 0, "fmv.x.d/fmv.d.x keep an sNaN");
  static u64 in = 0x7ff0000000000001UL, out;
  u64 flags;
  asm volatile("csrw fflags, zero\nfld ft0, 0(%1)\nfsd ft0, 0(%2)\nfrflags %0" : "=r"(flags) : "r"(&in), "r"(&out)
               : "ft0", "memory");
  CHECK_EQ(out, 0x7ff0000000000001UL, "fld/fsd move an sNaN bit for bit");
  CHECK_EQ(flags, 0, "fld/fsd raise no flags");
  CHECK_F(FP2("fadd.d", RNE, 0xffffffff3f800000UL, V(1)), QNAN, 0, "fadd.d of a boxed single 1.0 (a NaN)");
}

static void precision_conversions(void) {
  CHECK_F(FP1("fcvt.s.d", RNE, V(1e300)), 0xffffffff7f800000UL, OF | NX, "fcvt.s.d 1e300 overflows");
  CHECK_F(FP1("fcvt.s.d", RTZ, V(1e300)), 0xffffffff7f7fffffUL, OF | NX, "fcvt.s.d 1e300 rtz gives max");
  CHECK_F(FP1("fcvt.s.d", RNE, ONE | 0x40000), 0xffffffff3f800000UL, NX, "fcvt.s.d 1+2^-34 rne");
  CHECK_F(FP1("fcvt.s.d", RUP, ONE | 0x40000), 0xffffffff3f800001UL, NX, "fcvt.s.d 1+2^-34 rup");
  CHECK_F(FP1("fcvt.s.d", RNE, POW2(-149)), 0xffffffff00000001UL, 0, "fcvt.s.d 2^-149 is the exact min subnormal");
  CHECK_F(FP1("fcvt.s.d", RNE, POW2(-160)), 0xffffffff00000000UL, UF | NX, "fcvt.s.d 2^-160 underflows to 0");
  CHECK_F(FP1("fcvt.s.d", RUP, POW2(-160)), 0xffffffff00000001UL, UF | NX, "fcvt.s.d 2^-160 rup");
  CHECK_F(FP1("fcvt.s.d", RNE, NEG(QNAN | 0xabcdef)), S_QNAN, 0, "fcvt.s.d of a NaN with payload");
  CHECK_F(FP1("fcvt.s.d", RNE, SNAN), S_QNAN, NV, "fcvt.s.d of an sNaN");
  CHECK_F(FP1("fcvt.s.d", RNE, NEG(INF)), 0xffffffffff800000UL, 0, "fcvt.s.d -inf");
  CHECK_F(FP1("fcvt.d.s", DYN, 0xffffffff3fc00000UL), V(1.5), 0, "fcvt.d.s 1.5");
  CHECK_F(FP1("fcvt.d.s", DYN, 0xffffffff00000001UL), POW2(-149), 0, "fcvt.d.s of the min single subnormal");
  CHECK_F(FP1("fcvt.d.s", DYN, 0xffffffff7f800001UL), QNAN, NV, "fcvt.d.s of a single sNaN");
  CHECK_F(FP1("fcvt.d.s", DYN, 0xffffffffff800000UL), NEG(INF), 0, "fcvt.d.s -inf");
}

static void double_integer_limits(void) {
  const u64 w_max = 0x7fffffff, w_min = 0xffffffff80000000UL;
  CHECK_X(FPX("fcvt.w.d", RNE, V(2147483647.5)), w_max, NV, "fcvt.w.d 2^31-0.5 rne rounds out of range");
  CHECK_X(FPX("fcvt.w.d", RTZ, V(2147483647.5)), w_max, NX, "fcvt.w.d 2^31-0.5 rtz");
  CHECK_X(FPX("fcvt.w.d", RNE, V(-2147483648.5)), w_min, NX, "fcvt.w.d -2^31-0.5 rne (tie to even)");
  CHECK_X(FPX("fcvt.w.d", RDN, V(-2147483648.5)), w_min, NV, "fcvt.w.d -2^31-0.5 rdn");
  CHECK_X(FPX("fcvt.w.d", RTZ, V(-2147483648.5)), w_min, NX, "fcvt.w.d -2^31-0.5 rtz");
  CHECK_X(FPX("fcvt.wu.d", RTZ, V(4294967295.5)), ALL_ONES, NX, "fcvt.wu.d 2^32-0.5 rtz");
  CHECK_X(FPX("fcvt.wu.d", RUP, V(4294967295.5)), ALL_ONES, NV, "fcvt.wu.d 2^32-0.5 rup");
  CHECK_F(XFP("fcvt.d.l", RNE, (1UL << 53) + 1), POW2(53), NX, "fcvt.d.l 2^53+1 rne");
  CHECK_F(XFP("fcvt.d.l", RUP, (1UL << 53) + 1), POW2(53) + 1, NX, "fcvt.d.l 2^53+1 rup");
  CHECK_F(XFP("fcvt.d.wu", DYN, 0xffffffffUL), V(4294967295.0), 0, "fcvt.d.wu 2^32-1 is exact");
  CHECK_F(XFP("fcvt.d.w", DYN, 0x80000000UL), V(-2147483648.0), 0, "fcvt.d.w -2^31 is exact");
}

void test_main(void) {
  fp_common_tests();
  moves_and_memory();
  precision_conversions();
  double_integer_limits();
}
