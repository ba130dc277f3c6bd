/* The F/D checks shared by rv64f and rv64d, written once over the format: the including file defines
 * FP_SINGLE to 1 (binary32, NaN-boxed in the 64-bit f registers) or 0 (binary64) and then calls
 * fp_common_tests(). Operands go in through fmv.d.x (so single-precision operands are boxed here) and
 * results come out through fmv.x.d, so every single-precision result is also checked to be NaN-boxed.
 * Expected values are written as bit patterns built from the format's parameters, which is what makes
 * the same check hold for both precisions (e.g. ONE + 1 is 1.0 plus one ulp). */
#ifndef FP_H
#define FP_H
#include "isa.h"

#if FP_SINGLE
typedef float ft;
#define SFX "s"
#define MANT 23
#define EXPW 8
#define BOX(x) (0xffffffff00000000UL | (u64)(x))
static inline u64 fbits(ft x) { u32 u; __builtin_memcpy(&u, &x, 4); return u; }
#else
typedef double ft;
#define SFX "d"
#define MANT 52
#define EXPW 11
#define BOX(x) ((u64)(x))
static inline u64 fbits(ft x) { u64 u; __builtin_memcpy(&u, &x, 8); return u; }
#endif

#define V(x) fbits((ft)(x))             /* bits of a constant */
#define BIAS ((1UL << (EXPW - 1)) - 1)
#define SIGN (1UL << (MANT + EXPW))
#define ONE (BIAS << MANT)
#define POW2(e) ((u64)((long)(e) + (long)BIAS) << MANT) /* 2^e, e in the normal range */
#define INF (((1UL << EXPW) - 1) << MANT)
#define QNAN (INF | (1UL << (MANT - 1)))  /* the canonical NaN */
#define SNAN (INF | 1)
#define MAXF (INF - 1)
#define MIN_NORMAL (1UL << MANT)
#define MIN_SUB 1UL
#define NEG(x) ((x) | SIGN)

#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

#define RNE ", rne"
#define RTZ ", rtz"
#define RDN ", rdn"
#define RUP ", rup"
#define RMM ", rmm"
#define DYN ""
#if FP_SINGLE
#define RM_FROM_W RNE
#else
#define RM_FROM_W DYN /* fcvt.d.w(u) is always exact: the assembler takes no rm */
#endif

struct fres { u64 bits, flags; };

/* ft2 = op(ft0[, ft1[, ft3]]); fflags cleared before and read after. */
#define FP1(op, rm, a) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\ncsrw fflags, zero\n" op " ft2, ft0" rm "\nfrflags %1\nfmv.x.d %0, ft2" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"(BOX(a)) : "ft0", "ft2", "memory"); r_; })
#define FP2(op, rm, a, b) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\nfmv.d.x ft1, %3\ncsrw fflags, zero\n" op " ft2, ft0, ft1" rm "\nfrflags %1\nfmv.x.d %0, ft2" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"(BOX(a)), "r"(BOX(b)) : "ft0", "ft1", "ft2", "memory"); r_; })
#define FP3(op, rm, a, b, c) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\nfmv.d.x ft1, %3\nfmv.d.x ft3, %4\ncsrw fflags, zero\n" op " ft2, ft0, ft1, ft3" rm \
    "\nfrflags %1\nfmv.x.d %0, ft2" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"(BOX(a)), "r"(BOX(b)), "r"(BOX(c)) : "ft0", "ft1", "ft2", "ft3", "memory"); r_; })
/* integer result from ft0 (conversions to integer, fclass) */
#define FPX(op, rm, a) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\ncsrw fflags, zero\n" op " %0, ft0" rm "\nfrflags %1" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"(BOX(a)) : "ft0", "memory"); r_; })
/* integer result from ft0, ft1 (comparisons) */
#define FPCMP(op, a, b) ({ struct fres r_; asm volatile( \
    "fmv.d.x ft0, %2\nfmv.d.x ft1, %3\ncsrw fflags, zero\n" op " %0, ft0, ft1\nfrflags %1" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"(BOX(a)), "r"(BOX(b)) : "ft0", "ft1", "memory"); r_; })
/* floating-point result from an integer register (conversions from integer) */
#define XFP(op, rm, x) ({ struct fres r_; asm volatile( \
    "csrw fflags, zero\n" op " ft2, %2" rm "\nfrflags %1\nfmv.x.d %0, ft2" \
    : "=&r"(r_.bits), "=&r"(r_.flags) : "r"((u64)(x)) : "ft2", "memory"); r_; })

static void check_fp_at(struct fres r, u64 bits, u64 flags, u64 boxed, const char *file, int line, const char *what) {
  char text[128];
  gsprintf(text, sizeof text, "%s: result", what);
  check_eq_at(r.bits, boxed ? BOX(bits) : bits, file, line, text);
  gsprintf(text, sizeof text, "%s: fflags", what);
  check_eq_at(r.flags, flags, file, line, text);
}
/* A floating-point result (checked NaN-boxed) and the exception flags it raised. */
#define CHECK_F(r, bits, flags, what) check_fp_at((r), (bits), (flags), 1, __FILE__, __LINE__, (what))
/* A result compared as it is (an integer, or a double in rv64f), and its flags. */
#define CHECK_X(r, value, flags, what) check_fp_at((r), (value), (flags), 0, __FILE__, __LINE__, (what))

static inline void set_frm(u64 rm) { asm volatile("fsrm %0" ::"r"(rm) : "memory"); }

static void fp_arithmetic(void) {
  CHECK_F(FP2("fadd." SFX, RNE, V(1.5), V(2.25)), V(3.75), 0, "fadd 1.5 + 2.25");
  CHECK_F(FP2("fsub." SFX, RNE, V(1.5), V(2.25)), V(-0.75), 0, "fsub 1.5 - 2.25");
  CHECK_F(FP2("fmul." SFX, RNE, V(1.5), V(2.5)), V(3.75), 0, "fmul 1.5 * 2.5");
  CHECK_F(FP2("fdiv." SFX, RNE, V(3.75), V(1.5)), V(2.5), 0, "fdiv 3.75 / 1.5");
  CHECK_F(FP1("fsqrt." SFX, RNE, V(2.25)), V(1.5), 0, "fsqrt 2.25");
  CHECK_F(FP1("fsqrt." SFX, RNE, INF), INF, 0, "fsqrt +inf");
  CHECK_F(FP2("fdiv." SFX, RNE, V(1), INF), 0, 0, "1 / inf");
  CHECK_F(FP2("fdiv." SFX, RNE, NEG(V(1)), INF), SIGN, 0, "-1 / inf");
  /* signed zeros */
  CHECK_F(FP2("fadd." SFX, RNE, 0, SIGN), 0, 0, "+0 + -0 (rne)");
  CHECK_F(FP2("fadd." SFX, RDN, 0, SIGN), SIGN, 0, "+0 + -0 (rdn)");
  CHECK_F(FP2("fadd." SFX, RNE, SIGN, SIGN), SIGN, 0, "-0 + -0");
  CHECK_F(FP2("fsub." SFX, RNE, V(1), V(1)), 0, 0, "1 - 1 (rne)");
  CHECK_F(FP2("fsub." SFX, RDN, V(1), V(1)), SIGN, 0, "1 - 1 (rdn)");
  CHECK_F(FP2("fmul." SFX, RNE, SIGN, V(5)), SIGN, 0, "-0 * 5");
  CHECK_F(FP1("fsqrt." SFX, RNE, SIGN), SIGN, 0, "fsqrt -0");
  CHECK_F(FP2("fdiv." SFX, RNE, SIGN, V(3)), SIGN, 0, "-0 / 3");
}

/* x + y where y is the given fraction of an ulp of 1.0 (half: a tie), in all five rounding modes, each
 * both as the static rm and through frm. */
struct rounding_case {
  const char *what;
  u64 a, b;
  u64 want[5]; /* rne rtz rdn rup rmm */
};

#define HALF_ULP POW2(-(MANT + 1))
#define THREE_QUARTER_ULP (POW2(-(MANT + 1)) | (1UL << (MANT - 1)))

static const struct rounding_case addition_cases[] = {
  {"1 + half ulp (tie to even 1)", ONE, HALF_ULP, {ONE, ONE, ONE, ONE + 1, ONE + 1}},
  {"-1 - half ulp", NEG(ONE), NEG(HALF_ULP), {NEG(ONE), NEG(ONE), NEG(ONE + 1), NEG(ONE), NEG(ONE + 1)}},
  {"1 + 3/4 ulp", ONE, THREE_QUARTER_ULP, {ONE + 1, ONE, ONE, ONE + 1, ONE + 1}},
  {"(1 + ulp) + half ulp (tie to even 1 + 2 ulp)", ONE + 1, HALF_ULP, {ONE + 2, ONE + 1, ONE + 1, ONE + 2, ONE + 2}},
  {"-(1 + ulp) - half ulp", NEG(ONE + 1), NEG(HALF_ULP),
   {NEG(ONE + 2), NEG(ONE + 1), NEG(ONE + 2), NEG(ONE + 1), NEG(ONE + 2)}},
};

static void fp_rounding(void) {
  char what[96];
  static const char *modes[5] = {"rne", "rtz", "rdn", "rup", "rmm"};
  for (unsigned i = 0; i < sizeof addition_cases / sizeof addition_cases[0]; i++) {
    const struct rounding_case *c = &addition_cases[i];
    struct fres r[5] = {FP2("fadd." SFX, RNE, c->a, c->b), FP2("fadd." SFX, RTZ, c->a, c->b),
                        FP2("fadd." SFX, RDN, c->a, c->b), FP2("fadd." SFX, RUP, c->a, c->b),
                        FP2("fadd." SFX, RMM, c->a, c->b)};
    for (int m = 0; m < 5; m++) {
      gsprintf(what, sizeof what, "fadd %s, static %s", c->what, modes[m]);
      CHECK_F(r[m], c->want[m], NX, what);
      set_frm(m);
      struct fres d = FP2("fadd." SFX, DYN, c->a, c->b);
      gsprintf(what, sizeof what, "fadd %s, dynamic frm=%s", c->what, modes[m]);
      CHECK_F(d, c->want[m], NX, what);
    }
  }
  set_frm(0);
  /* (1 + ulp)^2 = 1 + 2 ulp + ulp^2 */
  CHECK_F(FP2("fmul." SFX, RNE, ONE + 1, ONE + 1), ONE + 2, NX, "fmul (1+ulp)^2 rne");
  CHECK_F(FP2("fmul." SFX, RUP, ONE + 1, ONE + 1), ONE + 3, NX, "fmul (1+ulp)^2 rup");
  CHECK_F(FP2("fmul." SFX, RTZ, ONE + 1, ONE + 1), ONE + 2, NX, "fmul (1+ulp)^2 rtz");
  CHECK_F(FP2("fmul." SFX, RDN, NEG(ONE + 1), ONE + 1), NEG(ONE + 3), NX, "fmul -(1+ulp)^2 rdn");
#if FP_SINGLE
  const u64 third_rne = 0x3eaaaaab, third_rtz = 0x3eaaaaaa, root2_rne = 0x3fb504f3, root2_rtz = 0x3fb504f3,
            root2_rup = 0x3fb504f4;
#else
  const u64 third_rne = 0x3fd5555555555555UL, third_rtz = third_rne, root2_rne = 0x3ff6a09e667f3bcdUL,
            root2_rtz = 0x3ff6a09e667f3bccUL, root2_rup = root2_rne;
#endif
  CHECK_F(FP2("fdiv." SFX, RNE, V(1), V(3)), third_rne, NX, "fdiv 1/3 rne");
  CHECK_F(FP2("fdiv." SFX, RTZ, V(1), V(3)), third_rtz, NX, "fdiv 1/3 rtz");
  CHECK_F(FP2("fdiv." SFX, RMM, V(1), V(3)), third_rne, NX, "fdiv 1/3 rmm");
  CHECK_F(FP2("fdiv." SFX, RDN, NEG(V(1)), V(3)), NEG(third_rtz + 1), NX, "fdiv -1/3 rdn");
  CHECK_F(FP1("fsqrt." SFX, RNE, V(2)), root2_rne, NX, "fsqrt 2 rne");
  CHECK_F(FP1("fsqrt." SFX, RTZ, V(2)), root2_rtz, NX, "fsqrt 2 rtz");
  CHECK_F(FP1("fsqrt." SFX, RUP, V(2)), root2_rup, NX, "fsqrt 2 rup");
}

/* Reserved rounding modes: rm 5 and 6 in the instruction, or frm 5..7 used through rm = dyn. */
#if FP_SINGLE
#define FADD_FUNCT7 0
#else
#define FADD_FUNCT7 1
#endif
#define FADD_FT2_FT0_FT1(rm) ((FADD_FUNCT7 << 25) | (1 << 20) | ((rm) << 12) | (2 << 7) | 0x53)

static void fp_reserved_rounding(void) {
  expect_trap();
  asm volatile(".word %0" ::"i"(FADD_FT2_FT0_FT1(5)) : "ft2");
  CHECK_TRAP(CAUSE_ILLEGAL, "fadd with static rm 5");
  expect_trap();
  asm volatile(".word %0" ::"i"(FADD_FT2_FT0_FT1(6)) : "ft2");
  CHECK_TRAP(CAUSE_ILLEGAL, "fadd with static rm 6");
  for (u64 frm = 5; frm <= 7; frm++) {
    set_frm(frm);
    expect_trap();
    asm volatile("fadd." SFX " ft2, ft0, ft1" ::: "ft2");
    CHECK_TRAP(CAUSE_ILLEGAL, "fadd with rm = dyn and a reserved frm");
    expect_trap();
    asm volatile("fadd." SFX " ft2, ft0, ft1, rne" ::: "ft2");
    CHECK_NO_TRAP("a static rm ignores a reserved frm");
  }
  set_frm(0);
}

static void fp_flags(void) {
  /* NV */
  CHECK_F(FP1("fsqrt." SFX, RNE, NEG(V(1))), QNAN, NV, "fsqrt -1");
  CHECK_F(FP2("fmul." SFX, RNE, 0, INF), QNAN, NV, "0 * inf");
  CHECK_F(FP2("fsub." SFX, RNE, INF, INF), QNAN, NV, "inf - inf");
  CHECK_F(FP2("fadd." SFX, RNE, INF, NEG(INF)), QNAN, NV, "inf + -inf");
  CHECK_F(FP2("fdiv." SFX, RNE, 0, 0), QNAN, NV, "0 / 0");
  CHECK_F(FP2("fdiv." SFX, RNE, INF, INF), QNAN, NV, "inf / inf");
  CHECK_F(FP2("fadd." SFX, RNE, SNAN, V(1)), QNAN, NV, "sNaN + 1");
  CHECK_F(FP2("fmul." SFX, RNE, V(1), NEG(SNAN)), QNAN, NV, "1 * -sNaN");
  /* quiet NaN operands: canonical result, no flags, whatever the payload and sign */
  CHECK_F(FP2("fadd." SFX, RNE, QNAN | 0x123, V(1)), QNAN, 0, "qNaN with payload + 1");
  CHECK_F(FP2("fsub." SFX, RNE, V(1), NEG(QNAN)), QNAN, 0, "1 - (-qNaN)");
  CHECK_F(FP1("fsqrt." SFX, RNE, NEG(QNAN | 5)), QNAN, 0, "fsqrt of -qNaN");
  CHECK_F(FP2("fdiv." SFX, RNE, QNAN, 0), QNAN, 0, "qNaN / 0 (no DZ)");
  /* DZ */
  CHECK_F(FP2("fdiv." SFX, RNE, V(1), 0), INF, DZ, "1 / +0");
  CHECK_F(FP2("fdiv." SFX, RNE, V(1), SIGN), NEG(INF), DZ, "1 / -0");
  CHECK_F(FP2("fdiv." SFX, RNE, NEG(V(2)), 0), NEG(INF), DZ, "-2 / +0");
  CHECK_F(FP2("fdiv." SFX, RNE, INF, 0), INF, 0, "inf / 0 (exact, no DZ)");
  /* OF */
  CHECK_F(FP2("fmul." SFX, RNE, MAXF, V(2)), INF, OF | NX, "max * 2 rne");
  CHECK_F(FP2("fmul." SFX, RTZ, MAXF, V(2)), MAXF, OF | NX, "max * 2 rtz");
  CHECK_F(FP2("fmul." SFX, RDN, MAXF, V(2)), MAXF, OF | NX, "max * 2 rdn");
  CHECK_F(FP2("fmul." SFX, RUP, NEG(MAXF), V(2)), NEG(MAXF), OF | NX, "-max * 2 rup");
  CHECK_F(FP2("fmul." SFX, RDN, NEG(MAXF), V(2)), NEG(INF), OF | NX, "-max * 2 rdn");
  /* max has an odd significand, so max + half its ulp ties away from it: to 2^(emax+1), an overflow */
  CHECK_F(FP2("fadd." SFX, RNE, MAXF, POW2(BIAS - MANT - 1)), INF, OF | NX, "max + half ulp rne overflows");
  CHECK_F(FP2("fadd." SFX, RTZ, MAXF, POW2(BIAS - MANT - 1)), MAXF, NX, "max + half ulp rtz is max, inexact");
  /* UF: tiny and inexact; an exact subnormal result raises nothing */
  CHECK_F(FP2("fmul." SFX, RNE, MIN_NORMAL, V(0.5)), MIN_NORMAL >> 1, 0, "min normal / 2 is exact");
  CHECK_F(FP2("fmul." SFX, RNE, MIN_SUB, V(0.5)), 0, UF | NX, "min subnormal / 2 (tie to 0)");
  CHECK_F(FP2("fmul." SFX, RUP, MIN_SUB, V(0.5)), MIN_SUB, UF | NX, "min subnormal / 2 rup");
  CHECK_F(FP2("fmul." SFX, RNE, MIN_SUB, V(1.5)), 2, UF | NX, "1.5 * min subnormal (tie to even 2)");
  CHECK_F(FP2("fmul." SFX, RNE, MIN_NORMAL, MIN_NORMAL), 0, UF | NX, "min normal squared");
  CHECK_F(FP2("fdiv." SFX, RNE, MIN_SUB | 2, V(2)), 2, UF | NX, "3 subnormal ulps / 2 (tie to even)");
  CHECK_F(FP2("fsub." SFX, RNE, MIN_NORMAL | 1, MIN_NORMAL), MIN_SUB, 0, "difference of normals is exact subnormal");
  /* NX alone */
  CHECK_F(FP2("fadd." SFX, RNE, V(1), HALF_ULP), ONE, NX, "1 + half ulp");
  /* flags accumulate until cleared */
  u64 flags;
  asm volatile("fmv.d.x ft0, %1\nfmv.d.x ft1, %2\ncsrw fflags, zero\nfdiv." SFX " ft2, ft0, ft0\n"
               "fadd." SFX " ft2, ft1, ft1\nfdiv." SFX " ft2, ft1, ft0\nfrflags %0"
               : "=r"(flags) : "r"(BOX(0)), "r"(BOX(V(1))) : "ft0", "ft1", "ft2");
  CHECK_EQ(flags, NV | DZ, "fflags accumulate: NV from 0/0 kept through an exact add, then DZ");
}

static void fp_min_max(void) {
  CHECK_F(FP2("fmin." SFX, DYN, SIGN, 0), SIGN, 0, "fmin(-0, +0)");
  CHECK_F(FP2("fmin." SFX, DYN, 0, SIGN), SIGN, 0, "fmin(+0, -0)");
  CHECK_F(FP2("fmax." SFX, DYN, SIGN, 0), 0, 0, "fmax(-0, +0)");
  CHECK_F(FP2("fmax." SFX, DYN, 0, SIGN), 0, 0, "fmax(+0, -0)");
  CHECK_F(FP2("fmin." SFX, DYN, V(1), V(2)), V(1), 0, "fmin(1, 2)");
  CHECK_F(FP2("fmax." SFX, DYN, NEG(V(1)), NEG(V(2))), NEG(V(1)), 0, "fmax(-1, -2)");
  CHECK_F(FP2("fmin." SFX, DYN, QNAN, V(1)), V(1), 0, "fmin(qNaN, 1)");
  CHECK_F(FP2("fmax." SFX, DYN, V(1), NEG(QNAN | 3)), V(1), 0, "fmax(1, -qNaN)");
  CHECK_F(FP2("fmin." SFX, DYN, QNAN | 7, NEG(QNAN)), QNAN, 0, "fmin(qNaN, qNaN) is canonical");
  CHECK_F(FP2("fmin." SFX, DYN, SNAN, V(1)), V(1), NV, "fmin(sNaN, 1)");
  CHECK_F(FP2("fmax." SFX, DYN, V(-3), SNAN), V(-3), NV, "fmax(-3, sNaN)");
  CHECK_F(FP2("fmax." SFX, DYN, SNAN, QNAN), QNAN, NV, "fmax(sNaN, qNaN)");
  CHECK_F(FP2("fmin." SFX, DYN, NEG(INF), MAXF), NEG(INF), 0, "fmin(-inf, max)");
}

static void fp_compare_and_classify(void) {
  CHECK_X(FPCMP("feq." SFX, SIGN, 0), 1, 0, "feq(-0, +0)");
  CHECK_X(FPCMP("flt." SFX, SIGN, 0), 0, 0, "flt(-0, +0)");
  CHECK_X(FPCMP("fle." SFX, SIGN, 0), 1, 0, "fle(-0, +0)");
  CHECK_X(FPCMP("flt." SFX, V(1), V(2)), 1, 0, "flt(1, 2)");
  CHECK_X(FPCMP("fle." SFX, V(2), V(1)), 0, 0, "fle(2, 1)");
  CHECK_X(FPCMP("flt." SFX, NEG(INF), NEG(MAXF)), 1, 0, "flt(-inf, -max)");
  CHECK_X(FPCMP("feq." SFX, QNAN, QNAN), 0, 0, "feq(qNaN, qNaN) is quiet");
  CHECK_X(FPCMP("feq." SFX, SNAN, V(1)), 0, NV, "feq(sNaN, 1) signals");
  CHECK_X(FPCMP("flt." SFX, QNAN, V(1)), 0, NV, "flt(qNaN, 1) signals");
  CHECK_X(FPCMP("fle." SFX, V(1), QNAN), 0, NV, "fle(1, qNaN) signals");

  const struct { u64 bits; u64 class_bit; const char *what; } classes[] = {
    {NEG(INF), 0, "fclass -inf"}, {NEG(V(1)), 1, "fclass -normal"}, {NEG(MIN_SUB), 2, "fclass -subnormal"},
    {SIGN, 3, "fclass -0"}, {0, 4, "fclass +0"}, {MIN_NORMAL - 1, 5, "fclass +subnormal"},
    {MAXF, 6, "fclass +normal"}, {INF, 7, "fclass +inf"}, {SNAN, 8, "fclass sNaN"},
    {NEG(SNAN | 0x10), 8, "fclass -sNaN"}, {QNAN, 9, "fclass qNaN"}, {NEG(QNAN | 1), 9, "fclass -qNaN"},
  };
  for (unsigned i = 0; i < sizeof classes / sizeof classes[0]; i++)
    CHECK_X(FPX("fclass." SFX, DYN, classes[i].bits), 1UL << classes[i].class_bit, 0, classes[i].what);
}

static void fp_sign_injection(void) {
  CHECK_F(FP2("fsgnj." SFX, DYN, V(1.5), NEG(V(2))), NEG(V(1.5)), 0, "fsgnj takes rs2's sign");
  CHECK_F(FP2("fsgnjn." SFX, DYN, V(1.5), NEG(V(2))), V(1.5), 0, "fsgnjn takes the opposite sign");
  CHECK_F(FP2("fsgnjx." SFX, DYN, NEG(V(1.5)), NEG(V(2))), V(1.5), 0, "fsgnjx xors the signs");
  CHECK_F(FP2("fsgnjx." SFX, DYN, NEG(V(1.5)), V(2)), NEG(V(1.5)), 0, "fsgnjx with a positive rs2");
  /* Sign injection does not look at NaNs: payloads survive and sNaN raises nothing. */
  CHECK_F(FP2("fsgnj." SFX, DYN, SNAN, NEG(V(1))), NEG(SNAN), 0, "fsgnj of an sNaN keeps it");
  CHECK_F(FP2("fsgnjn." SFX, DYN, QNAN | 0x55, QNAN), NEG(QNAN | 0x55), 0, "fsgnjn of a NaN keeps its payload");
  CHECK_F(FP2("fsgnjx." SFX, DYN, NEG(INF), NEG(SNAN)), INF, 0, "fsgnjx -inf by -sNaN");
}

static void fp_fused(void) {
  /* (1 + ulp)(1 - ulp) = 1 - ulp^2: fused, adding -1 leaves -ulp^2 exactly; unfused it would be 0. */
  const u64 a = ONE + 1, b = ONE - 2, tiny = POW2(-2 * MANT);
  CHECK_F(FP3("fmadd." SFX, RNE, a, b, NEG(ONE)), NEG(tiny), 0, "fmadd rounds once");
  CHECK_F(FP3("fmsub." SFX, RNE, a, b, ONE), NEG(tiny), 0, "fmsub rounds once");
  CHECK_F(FP3("fnmsub." SFX, RNE, a, b, ONE), tiny, 0, "fnmsub = -(a*b) + c");
  CHECK_F(FP3("fnmadd." SFX, RNE, a, b, NEG(ONE)), tiny, 0, "fnmadd = -(a*b) - c");
  CHECK_F(FP3("fmadd." SFX, RNE, V(2), V(3), V(4)), V(10), 0, "fmadd 2*3+4");
  CHECK_F(FP3("fmsub." SFX, RNE, V(2), V(3), V(4)), V(2), 0, "fmsub 2*3-4");
  CHECK_F(FP3("fnmsub." SFX, RNE, V(2), V(3), V(4)), V(-2), 0, "fnmsub -(2*3)+4");
  CHECK_F(FP3("fnmadd." SFX, RNE, V(2), V(3), V(4)), V(-10), 0, "fnmadd -(2*3)-4");
  CHECK_F(FP3("fmadd." SFX, RNE, V(1), V(1), NEG(V(1))), 0, 0, "fmadd 1*1-1 = +0 (rne)");
  CHECK_F(FP3("fmadd." SFX, RDN, V(1), V(1), NEG(V(1))), SIGN, 0, "fmadd 1*1-1 = -0 (rdn)");
  CHECK_F(FP3("fnmsub." SFX, RNE, V(1), V(1), V(1)), 0, 0, "fnmsub -(1*1)+1 = +0");
  CHECK_F(FP3("fnmadd." SFX, RNE, 0, V(1), 0), SIGN, 0, "fnmadd -(+0*1)-(+0) = -0");
  CHECK_F(FP3("fnmadd." SFX, RNE, SIGN, V(1), 0), 0, 0, "fnmadd -(-0*1)-(+0) = +0");
  CHECK_F(FP3("fmadd." SFX, RNE, MAXF, V(2), NEG(MAXF)), MAXF, 0, "fmadd max*2-max has no intermediate overflow");
  CHECK_F(FP3("fmadd." SFX, RNE, a, a, 0), ONE + 2, NX, "fmadd (1+ulp)^2 + 0 rne");
  CHECK_F(FP3("fmadd." SFX, RUP, a, a, 0), ONE + 3, NX, "fmadd (1+ulp)^2 + 0 rup");
  CHECK_F(FP3("fmadd." SFX, RNE, 0, INF, QNAN), QNAN, NV, "fmadd 0*inf + qNaN signals invalid");
  CHECK_F(FP3("fmadd." SFX, RNE, INF, 0, V(1)), QNAN, NV, "fmadd inf*0 + 1");
  CHECK_F(FP3("fmadd." SFX, RNE, INF, V(1), NEG(INF)), QNAN, NV, "fmadd inf*1 - inf");
  CHECK_F(FP3("fmadd." SFX, RNE, V(2), V(3), SNAN), QNAN, NV, "fmadd with an sNaN addend");
  CHECK_F(FP3("fmadd." SFX, RNE, QNAN, V(1), V(1)), QNAN, 0, "fmadd with a qNaN multiplicand");
}

/* Conversions to integers: NaN, infinities, limits, and rounding of halves in every mode. */
static void fp_to_integer(void) {
  const u64 w_max = 0x7fffffffUL, w_min = 0xffffffff80000000UL;
  /* NaN and infinities */
  CHECK_X(FPX("fcvt.w." SFX, RTZ, QNAN), w_max, NV, "fcvt.w NaN");
  CHECK_X(FPX("fcvt.w." SFX, RTZ, NEG(QNAN)), w_max, NV, "fcvt.w -NaN");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, QNAN), ALL_ONES, NV, "fcvt.wu NaN (0xffffffff sign-extended)");
  CHECK_X(FPX("fcvt.l." SFX, RTZ, SNAN), I64_MAX, NV, "fcvt.l sNaN");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, QNAN), ALL_ONES, NV, "fcvt.lu NaN");
  CHECK_X(FPX("fcvt.w." SFX, RTZ, INF), w_max, NV, "fcvt.w +inf");
  CHECK_X(FPX("fcvt.w." SFX, RTZ, NEG(INF)), w_min, NV, "fcvt.w -inf");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, INF), ALL_ONES, NV, "fcvt.wu +inf");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, NEG(INF)), 0, NV, "fcvt.wu -inf");
  CHECK_X(FPX("fcvt.l." SFX, RTZ, INF), I64_MAX, NV, "fcvt.l +inf");
  CHECK_X(FPX("fcvt.l." SFX, RTZ, NEG(INF)), I64_MIN, NV, "fcvt.l -inf");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, INF), ALL_ONES, NV, "fcvt.lu +inf");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, NEG(INF)), 0, NV, "fcvt.lu -inf");
  /* at and beyond the limits */
  CHECK_X(FPX("fcvt.w." SFX, RTZ, POW2(31)), w_max, NV, "fcvt.w 2^31");
  CHECK_X(FPX("fcvt.w." SFX, RTZ, NEG(POW2(31))), w_min, 0, "fcvt.w -2^31 is exact");
  CHECK_X(FPX("fcvt.w." SFX, RTZ, NEG(POW2(32))), w_min, NV, "fcvt.w -2^32");
  CHECK_X(FPX("fcvt.w." SFX, RTZ, NEG(V(1))), ALL_ONES, 0, "fcvt.w -1 sign-extends");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, POW2(32)), ALL_ONES, NV, "fcvt.wu 2^32");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, V(3e9)), 0xffffffffb2d05e00UL, 0, "fcvt.wu 3e9 is sign-extended");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, POW2(31)), 0xffffffff80000000UL, 0, "fcvt.wu 2^31");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, NEG(V(1))), 0, NV, "fcvt.wu -1");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, SIGN), 0, 0, "fcvt.wu -0");
  CHECK_X(FPX("fcvt.wu." SFX, RTZ, V(-0.5)), 0, NX, "fcvt.wu -0.5 rtz rounds to 0");
  CHECK_X(FPX("fcvt.wu." SFX, RDN, V(-0.5)), 0, NV, "fcvt.wu -0.5 rdn rounds to -1");
  CHECK_X(FPX("fcvt.l." SFX, RTZ, POW2(63)), I64_MAX, NV, "fcvt.l 2^63");
  CHECK_X(FPX("fcvt.l." SFX, RTZ, NEG(POW2(63))), I64_MIN, 0, "fcvt.l -2^63 is exact");
  CHECK_X(FPX("fcvt.l." SFX, RTZ, NEG(POW2(64))), I64_MIN, NV, "fcvt.l -2^64");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, POW2(63)), I64_MIN, 0, "fcvt.lu 2^63");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, POW2(64)), ALL_ONES, NV, "fcvt.lu 2^64");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, NEG(V(1))), 0, NV, "fcvt.lu -1");
  CHECK_X(FPX("fcvt.lu." SFX, RTZ, V(-0.5)), 0, NX, "fcvt.lu -0.5 rtz");
  CHECK_X(FPX("fcvt.lu." SFX, RUP, MAXF), ALL_ONES, NV, "fcvt.lu max");
  /* rounding */
  static const char *modes[5] = {"rne", "rtz", "rdn", "rup", "rmm"};
  static const i64 pos[5] = {2, 2, 2, 3, 3}, neg[5] = {-2, -2, -3, -2, -3};
  char what[64];
  for (int m = 0; m < 5; m++) {
    set_frm(m);
    gsprintf(what, sizeof what, "fcvt.w 2.5 %s", modes[m]);
    CHECK_X(FPX("fcvt.w." SFX, DYN, V(2.5)), pos[m], NX, what);
    gsprintf(what, sizeof what, "fcvt.w -2.5 %s", modes[m]);
    CHECK_X(FPX("fcvt.w." SFX, DYN, V(-2.5)), neg[m], NX, what);
    gsprintf(what, sizeof what, "fcvt.l -2.5 %s", modes[m]);
    CHECK_X(FPX("fcvt.l." SFX, DYN, V(-2.5)), neg[m], NX, what);
    gsprintf(what, sizeof what, "fcvt.lu 2.5 %s", modes[m]);
    CHECK_X(FPX("fcvt.lu." SFX, DYN, V(2.5)), pos[m], NX, what);
  }
  set_frm(0);
  CHECK_X(FPX("fcvt.w." SFX, RNE, V(0.5)), 0, NX, "fcvt.w 0.5 rne");
  CHECK_X(FPX("fcvt.w." SFX, RNE, V(1.5)), 2, NX, "fcvt.w 1.5 rne");
  CHECK_X(FPX("fcvt.w." SFX, RMM, V(-0.5)), ALL_ONES, NX, "fcvt.w -0.5 rmm");
  CHECK_X(FPX("fcvt.l." SFX, RUP, MIN_SUB), 1, NX, "fcvt.l min subnormal rup");
  CHECK_X(FPX("fcvt.l." SFX, RDN, NEG(MIN_SUB)), ALL_ONES, NX, "fcvt.l -min subnormal rdn");
}

static void fp_from_integer(void) {
  CHECK_F(XFP("fcvt." SFX ".w", RM_FROM_W, ALL_ONES), NEG(ONE), 0, "fcvt from w -1");
  CHECK_F(XFP("fcvt." SFX ".w", RM_FROM_W, 0x00000001ffffffffUL), NEG(ONE), 0, "fcvt from w uses the low 32 bits");
  CHECK_F(XFP("fcvt." SFX ".wu", RM_FROM_W, 0xffffffff00000005UL), V(5), 0, "fcvt from wu uses the low 32 bits");
  CHECK_F(XFP("fcvt." SFX ".w", RM_FROM_W, 0x80000000UL), NEG(POW2(31)), 0, "fcvt from w -2^31");
  CHECK_F(XFP("fcvt." SFX ".l", RNE, I64_MIN), NEG(POW2(63)), 0, "fcvt from l -2^63");
  CHECK_F(XFP("fcvt." SFX ".lu", RNE, I64_MIN), POW2(63), 0, "fcvt from lu 2^63");
  CHECK_F(XFP("fcvt." SFX ".l", RNE, 0), 0, 0, "fcvt from l 0 is +0");
  /* 2^63 + 1 and 2^64 - 1 need more bits than either format has */
  CHECK_F(XFP("fcvt." SFX ".lu", RNE, I64_MIN + 1), POW2(63), NX, "fcvt from lu 2^63+1 rne");
  CHECK_F(XFP("fcvt." SFX ".lu", RUP, I64_MIN + 1), POW2(63) + 1, NX, "fcvt from lu 2^63+1 rup");
  CHECK_F(XFP("fcvt." SFX ".lu", RNE, ALL_ONES), POW2(64), NX, "fcvt from lu 2^64-1 rne");
  CHECK_F(XFP("fcvt." SFX ".lu", RTZ, ALL_ONES), POW2(64) - 1, NX, "fcvt from lu 2^64-1 rtz");
  CHECK_F(XFP("fcvt." SFX ".l", RDN, I64_MAX), POW2(63) - 1, NX, "fcvt from l 2^63-1 rdn");
  CHECK_F(XFP("fcvt." SFX ".l", RNE, I64_MIN + 1), NEG(POW2(63)), NX, "fcvt from l -2^63+1 rne");
  CHECK_F(XFP("fcvt." SFX ".l", RUP, I64_MIN + 1), NEG(POW2(63) - 1), NX, "fcvt from l -2^63+1 rup");
}

static void fp_csrs(void) {
  u64 v;
  asm volatile("csrw fcsr, %1\ncsrr %0, fcsr" : "=r"(v) : "r"(0xfffUL));
  CHECK_EQ(v, 0xff, "fcsr keeps 8 bits");
  CHECK_EQ(csr_read(frm), 7, "frm is fcsr[7:5]");
  CHECK_EQ(csr_read(fflags), 0x1f, "fflags is fcsr[4:0]");
  asm volatile("fsflags %0, %1" : "=r"(v) : "r"(0x3UL));
  CHECK_EQ(v, 0x1f, "fsflags returns the old flags");
  CHECK_EQ(csr_read(fcsr), 0xe3, "fsflags writes only the flags");
  asm volatile("fsrm %0, %1" : "=r"(v) : "r"(0x2UL));
  CHECK_EQ(v, 7, "fsrm returns the old rounding mode");
  CHECK_EQ(csr_read(fcsr), 0x43, "fsrm writes only frm");
  asm volatile("csrw fflags, %0" ::"r"(0xffUL));
  CHECK_EQ(csr_read(fcsr), 0x5f, "fflags keeps 5 bits");
  csr_write(fcsr, 0);
}

/* mstatus.FS: Off makes every F/D instruction and the FP CSRs illegal; writes make it Dirty. */
static void fp_status(void) {
  csr_clear(mstatus, MSTATUS_FS);
#define FS_OFF_TRAPS(insn, what) do { expect_trap(); asm volatile(insn ::: "t0", "ft0", "memory"); CHECK_TRAP(CAUSE_ILLEGAL, what); } while (0)
  static u64 slot;
  FS_OFF_TRAPS("fadd." SFX " ft0, ft0, ft0", "fadd with FS=Off");
  FS_OFF_TRAPS("fmv.x.d t0, ft0", "fmv.x.d with FS=Off");
  FS_OFF_TRAPS("fmv.w.x ft0, zero", "fmv.w.x with FS=Off");
  FS_OFF_TRAPS("fcvt." SFX ".w ft0, zero", "fcvt from integer with FS=Off");
  FS_OFF_TRAPS("fclass." SFX " t0, ft0", "fclass with FS=Off");
  FS_OFF_TRAPS("fmadd." SFX " ft0, ft0, ft0, ft0", "fmadd with FS=Off");
  expect_trap();
  asm volatile("fld ft0, 0(%0)" ::"r"(&slot) : "ft0", "memory");
  CHECK_TRAP(CAUSE_ILLEGAL, "fld with FS=Off");
  expect_trap();
  asm volatile("fsw ft0, 0(%0)" ::"r"(&slot) : "memory");
  CHECK_TRAP(CAUSE_ILLEGAL, "fsw with FS=Off");
  FS_OFF_TRAPS("csrr t0, fcsr", "reading fcsr with FS=Off");
  FS_OFF_TRAPS("csrw frm, zero", "writing frm with FS=Off");
  FS_OFF_TRAPS("csrr t0, fflags", "reading fflags with FS=Off");
#undef FS_OFF_TRAPS
  csr_set(mstatus, MSTATUS_FS_CLEAN);
  CHECK_EQ(csr_read(mstatus) & MSTATUS_FS, MSTATUS_FS_CLEAN, "FS=Clean reads back");
  CHECK(!(csr_read(mstatus) & MSTATUS_SD), "SD clear while FS is Clean");
  asm volatile("fadd." SFX " ft0, ft1, ft1" ::: "ft0");
  CHECK_EQ(csr_read(mstatus) & MSTATUS_FS, MSTATUS_FS_DIRTY, "an FP register write makes FS Dirty");
  CHECK(csr_read(mstatus) & MSTATUS_SD, "SD set while FS is Dirty");
  csr_clear(mstatus, MSTATUS_FS);
  csr_set(mstatus, MSTATUS_FS_CLEAN);
  csr_write(fflags, 0);
  CHECK_EQ(csr_read(mstatus) & MSTATUS_FS, MSTATUS_FS_DIRTY, "writing fflags makes FS Dirty");
}

static void fp_common_tests(void) {
  csr_write(fcsr, 0);
  fp_arithmetic();
  fp_rounding();
  fp_reserved_rounding();
  fp_flags();
  fp_min_max();
  fp_compare_and_classify();
  fp_sign_injection();
  fp_fused();
  fp_to_integer();
  fp_from_integer();
  fp_csrs();
  fp_status();
}

#endif
