/* rv64f: the F extension (binary32). The checks shared with rv64d (fp.h) cover: arithmetic and signed
 * zeros; all five rounding modes, static and dynamic through frm, on ties and non-ties; reserved rm
 * values (5, 6 static; 5-7 in frm with rm = dyn) raising illegal instruction; each of NV, DZ, OF, UF,
 * NX and their accumulation; canonical NaN results whatever the NaN operands; fmin/fmax with -0/+0,
 * quiet and signalling NaNs; feq (quiet) vs flt/fle (signalling); fclass of all ten classes; sign
 * injection leaving NaNs alone; fused multiply-add rounding once, its signs, 0 * inf + qNaN raising NV;
 * conversions to w/wu/l/lu at and beyond the limits, for NaN and infinities, rounding halves in each
 * mode, w/wu results sign-extended; conversions from integers with inexact results; fcsr/frm/fflags;
 * mstatus.FS = Off making F instructions and CSRs illegal, and writes setting FS = Dirty.
 * Single precision only: NaN boxing (flw and fmv.w.x box; an improperly boxed operand, even one bit
 * off, is read as the canonical NaN by arithmetic, sign injection, compares, fclass and conversions,
 * while fsw and fmv.x.w move its low 32 bits untouched), fmv.x.w sign extension, bit-exact flw/fsw of
 * an sNaN, and single-specific conversion limits. */
#define FP_SINGLE 1
#include "fp.h"

/* op.s with a raw 64-bit register pattern in ft0 (not boxed by the macro) and a boxed one in ft1. */
#define RAW2(op, raw, boxed) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\nfmv.d.x ft1, %3\ncsrw fflags, zero\n" op "\nfrflags %1\nfmv.x.d %0, ft2" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"((u64)(raw)), "r"((u64)(boxed)) : "ft0", "ft1", "ft2", "memory"); r_; })
#define RAWX(op, raw) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\ncsrw fflags, zero\n" op "\nfrflags %1" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"((u64)(raw)) : "ft0", "memory"); r_; })

static void nan_boxing(void) {
  static u32 word = 0x3f800000u;
  static u32 out;
  u64 r;
  asm volatile("flw ft0, 0(%1)\nfmv.x.d %0, ft0" : "=r"(r) : "r"(&word) : "ft0", "memory");
  CHECK_EQ(r, 0xffffffff3f800000UL, "flw NaN-boxes");
  asm volatile("fmv.w.x ft0, %1\nfmv.x.d %0, ft0" : "=r"(r) : "r"(0x123456789abcdef0UL) : "ft0");
  CHECK_EQ(r, 0xffffffff9abcdef0UL, "fmv.w.x boxes the low 32 bits");

  const u64 unboxed_one = 0x000000003f800000UL, almost_boxed_one = 0xfffffffe3f800000UL;
  const u64 boxed_two = BOX(V(2)), boxed_minus_one = BOX(NEG(V(1)));
  CHECK_F(RAW2("fadd.s ft2, ft0, ft1, rne", unboxed_one, boxed_two), QNAN, 0, "fadd.s of an unboxed 1.0");
  CHECK_F(RAW2("fadd.s ft2, ft0, ft1, rne", almost_boxed_one, boxed_two), QNAN, 0,
          "fadd.s of a value boxed with one bit clear");
  CHECK_F(RAW2("fsgnj.s ft2, ft0, ft1", unboxed_one, boxed_minus_one), NEG(QNAN), 0,
          "fsgnj.s reads an unboxed rs1 as the canonical NaN");
  CHECK_F(RAW2("fsgnj.s ft2, ft1, ft0", unboxed_one, boxed_minus_one), V(1), 0,
          "fsgnj.s takes the sign of an unboxed rs2 from the canonical NaN (+)");
  CHECK_F(RAW2("fmin.s ft2, ft0, ft1", unboxed_one, boxed_two), V(2), 0, "fmin.s(unboxed, 2) = 2");
  CHECK_F(RAW2("fmadd.s ft2, ft1, ft1, ft0, rne", unboxed_one, boxed_two), QNAN, 0, "fmadd.s with an unboxed addend");
  CHECK_X(RAW2("fcvt.d.s ft2, ft0", unboxed_one, 0), 0x7ff8000000000000UL, 0,
          "fcvt.d.s of an unboxed value is the canonical double NaN");
  CHECK_X(RAWX("fclass.s %0, ft0", unboxed_one), 1 << 9, 0, "fclass.s of an unboxed value is quiet NaN");
  CHECK_X(RAWX("feq.s %0, ft0, ft0", unboxed_one), 0, 0, "feq.s of an unboxed value is quiet and false");
  CHECK_X(RAWX("fcvt.w.s %0, ft0, rtz", unboxed_one), 0x7fffffff, NV, "fcvt.w.s of an unboxed value");
  CHECK_X(RAWX("fmv.x.w %0, ft0", 0x12345678bf800000UL), 0xffffffffbf800000UL,
          0, "fmv.x.w moves the low 32 bits of an unboxed value, sign-extended");
  asm volatile("fmv.d.x ft0, %1\nfsw ft0, 0(%0)" ::"r"(&out), "r"(0x00000000deadbeefUL) : "ft0", "memory");
  CHECK_EQ(out, 0xdeadbeefu, "fsw stores the low 32 bits of an unboxed value");
}

static void moves_and_memory(void) {
  CHECK_X(FPX("fmv.x.w", DYN, SIGN), 0xffffffff80000000UL, 0, "fmv.x.w -0.0 sign-extends");
  CHECK_X(FPX("fmv.x.w", DYN, INF), 0x7f800000, 0, "fmv.x.w +inf");
  CHECK_X(FPX("fmv.x.w", DYN, SNAN), SNAN, 0, "fmv.x.w keeps an sNaN");
  static u32 in = 0x7f800001u, out;
  u64 flags;
  asm volatile("csrw fflags, zero\nflw ft0, 0(%1)\nfsw ft0, 0(%2)\nfrflags %0" : "=r"(flags) : "r"(&in), "r"(&out)
               : "ft0", "memory");
  CHECK_EQ(out, 0x7f800001u, "flw/fsw move an sNaN bit for bit");
  CHECK_EQ(flags, 0, "flw/fsw raise no flags");
}

static void single_conversions(void) {
  CHECK_F(XFP("fcvt.s.w", RNE, 16777217), 0x4b800000, NX, "fcvt.s.w 2^24+1 rne");
  CHECK_F(XFP("fcvt.s.w", RUP, 16777217), 0x4b800001, NX, "fcvt.s.w 2^24+1 rup");
  CHECK_F(XFP("fcvt.s.w", RNE, 16777219), 0x4b800002, NX, "fcvt.s.w 2^24+3 (tie to even)");
  CHECK_F(XFP("fcvt.s.wu", RNE, 0xffffffffUL), 0x4f800000, NX, "fcvt.s.wu 2^32-1 rne");
  CHECK_F(XFP("fcvt.s.wu", RTZ, 0xffffffffUL), 0x4f7fffff, NX, "fcvt.s.wu 2^32-1 rtz");
  CHECK_X(FPX("fcvt.w.s", RTZ, 0xcf000001), 0xffffffff80000000UL, NV, "fcvt.w.s just below -2^31");
  CHECK_X(FPX("fcvt.w.s", RTZ, 0x4effffff), 0x7fffff80, 0, "fcvt.w.s largest float below 2^31");
  CHECK_X(FPX("fcvt.wu.s", RTZ, 0x4f7fffff), 0xffffffffffffff00UL, 0, "fcvt.wu.s largest float below 2^32");
  CHECK_X(FPX("fcvt.l.s", RTZ, 0x5effffff), 0x7fffff8000000000UL, 0, "fcvt.l.s largest float below 2^63");
}

void test_main(void) {
  fp_common_tests();
  nan_boxing();
  moves_and_memory();
  single_conversions();
}
