/* sweep: every F and D operation, and every integer register-register operation and AMO of rv64gc, over
 * the same awkward operands (zeros, infinities, quiet and signalling NaNs, subnormals, the largest and
 * smallest normals, values next to the integer limits, ties; for integers the signed and unsigned limits and
 * shift amounts beyond the width), each floating-point operation in every rounding mode; each operation's
 * results (and fflags, and for an AMO the memory word after it) folded into one hash per operation and mode:
 *   "sweep fadd.d rne 1f0c2b..."
 * The program cannot know the right hashes; a test runs it on rrvm and on QEMU (the reference) and
 * compares the lines, so that a difference names the operation and the mode. Single-precision
 * operands go in NaN-boxed, plus two that are not (which must read as the canonical NaN). "dyn" runs
 * each operand set once per frm value 0-4. */
#include "isa.h"

typedef u64 (*fn1)(u64, u64 *);
typedef u64 (*fn2)(u64, u64, u64 *);
typedef u64 (*fn3)(u64, u64, u64, u64 *);

/* A result register (f: ft2, read back with fmv.x.d; x: an integer register) from operands put into
 * ft0, ft1, ft3 with fmv.d.x (or an integer register for conversions from integers); fflags cleared
 * before, read after. */
#define PRE1 "fmv.d.x ft0, %2\ncsrw fflags, zero\n"
#define PRE2 "fmv.d.x ft0, %2\nfmv.d.x ft1, %3\ncsrw fflags, zero\n"
#define PRE3 "fmv.d.x ft0, %2\nfmv.d.x ft1, %3\nfmv.d.x ft3, %4\ncsrw fflags, zero\n"
#define POST_F "\nfrflags %1\nfmv.x.d %0, ft2"
#define POST_X "\nfrflags %1"
#define CLOBBERS "ft0", "ft1", "ft2", "ft3", "memory"

#define F1(name, insn, rm) static u64 name(u64 a, u64 *fl) { u64 r, f; \
    asm volatile(PRE1 insn " ft2, ft0" rm POST_F : "=&r"(r), "=&r"(f) : "r"(a) : CLOBBERS); *fl = f; return r; }
#define X1(name, insn, rm) static u64 name(u64 a, u64 *fl) { u64 r, f; \
    asm volatile(PRE1 insn " %0, ft0" rm POST_X : "=&r"(r), "=&r"(f) : "r"(a) : CLOBBERS); *fl = f; return r; }
#define I1(name, insn, rm) static u64 name(u64 a, u64 *fl) { u64 r, f; \
    asm volatile("csrw fflags, zero\n" insn " ft2, %2" rm POST_F : "=&r"(r), "=&r"(f) : "r"(a) : CLOBBERS); \
    *fl = f; return r; }
#define F2(name, insn, rm) static u64 name(u64 a, u64 b, u64 *fl) { u64 r, f; \
    asm volatile(PRE2 insn " ft2, ft0, ft1" rm POST_F : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : CLOBBERS); \
    *fl = f; return r; }
#define X2(name, insn, rm) static u64 name(u64 a, u64 b, u64 *fl) { u64 r, f; \
    asm volatile(PRE2 insn " %0, ft0, ft1" rm POST_X : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : CLOBBERS); \
    *fl = f; return r; }
#define F3(name, insn, rm) static u64 name(u64 a, u64 b, u64 c, u64 *fl) { u64 r, f; \
    asm volatile(PRE3 insn " ft2, ft0, ft1, ft3" rm POST_F : "=&r"(r), "=&r"(f) : "r"(a), "r"(b), "r"(c) \
                 : CLOBBERS); *fl = f; return r; }

/* One function per rounding mode: rne rtz rdn rup rmm, then dyn (the mode from frm). */
#define MODES(KIND, name, insn) KIND(name##_0, insn, ", rne") KIND(name##_1, insn, ", rtz") \
    KIND(name##_2, insn, ", rdn") KIND(name##_3, insn, ", rup") KIND(name##_4, insn, ", rmm") KIND(name##_5, insn, "")
#define MODE_FNS(name) {name##_0, name##_1, name##_2, name##_3, name##_4, name##_5}
static const char *mode_names[6] = {"rne", "rtz", "rdn", "rup", "rmm", "dyn"};

/* Operands. */
#define BOXED(x) (0xffffffff00000000UL | (u64)(x))
static const u64 doubles[] = {
  0, 0x8000000000000000UL,                                   /* +-0 */
  0x3ff0000000000000UL, 0xbff0000000000000UL,                /* +-1 */
  0x3fe0000000000000UL, 0x3ff8000000000000UL, 0xc004000000000000UL, /* 0.5, 1.5, -2.5 */
  0x3ff0000000000001UL, 0x3fefffffffffffffUL,                /* 1 + ulp, 1 - ulp/2 */
  0x3fd5555555555555UL, 0x400921fb54442d18UL,                /* 1/3, pi */
  0x7ff0000000000000UL, 0xfff0000000000000UL,                /* +-inf */
  0x7ff8000000000000UL, 0xfff8000000000001UL,                /* quiet NaNs (the canonical one, a negative one) */
  0x7ff0000000000001UL, 0x7ff4000000000000UL,                /* signalling NaNs */
  1, 0x800fffffffffffffUL, 0x0010000000000000UL,             /* subnormals, the smallest normal */
  0x7fefffffffffffffUL, 0xffefffffffffffffUL,                /* +-largest */
  0x41dfffffffe00000UL, 0x41e0000000000000UL,                /* 2^31 - 0.5, 2^31 */
  0xc1e0000000100000UL, 0x41efffffffe00000UL,                /* -2^31 - 0.5, 2^32 - 0.5 */
  0x43e0000000000000UL, 0xc3e0000000000000UL,                /* +-2^63 */
  0x43f0000000000000UL, 0x4340000000000001UL,                /* 2^64, 2^53 + 2 */
  0x3ca0000000000000UL, 0x47efffffe0000000UL,                /* 2^-53, FLT_MAX as a double */
  0x3810000000000000UL, 0x36a0000000000000UL,                /* FLT_MIN, 2^-149 as doubles */
};
static const u64 singles[] = {
  BOXED(0), BOXED(0x80000000), BOXED(0x3f800000), BOXED(0xbf800000), BOXED(0x3f000000), BOXED(0x3fc00000),
  BOXED(0xc0200000), BOXED(0x3f800001), BOXED(0x3f7fffff), BOXED(0x3eaaaaab), BOXED(0x40490fdb),
  BOXED(0x7f800000), BOXED(0xff800000), BOXED(0x7fc00000), BOXED(0xffc00001), BOXED(0x7f800001),
  BOXED(0x7fa00000), BOXED(1), BOXED(0x807fffff), BOXED(0x00800000), BOXED(0x7f7fffff), BOXED(0xff7fffff),
  BOXED(0x4effffff), BOXED(0x4f000000), BOXED(0xcf000000), BOXED(0x4f7fffff), BOXED(0x5f000000),
  BOXED(0xdf000000), BOXED(0x5f800000), BOXED(0x4b800001), BOXED(0x33800000),
  0x000000003f800000UL, 0x7fffffff3f800000UL,                /* not NaN-boxed: read as the canonical NaN */
};
static const u64 integers[] = {
  0, 1, (u64)-1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xffffffff80000000UL, 0x1000001, (u64)-0x1000001,
  0x20000000000001UL, 0x7fffffffffffffffUL, 0x8000000000000000UL, 0x123456789abcdefUL, 0xfffffffffffffc00UL,
  0x8000000000000001UL, 0xffffffffffffffffUL - 0x3ff,
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* The three-operand sweep takes the first operands only (their cube stays small). */
#define FMA_OPERANDS 20

/* The operations. */
MODES(F2, fadd_d, "fadd.d") MODES(F2, fsub_d, "fsub.d") MODES(F2, fmul_d, "fmul.d") MODES(F2, fdiv_d, "fdiv.d")
MODES(F2, fadd_s, "fadd.s") MODES(F2, fsub_s, "fsub.s") MODES(F2, fmul_s, "fmul.s") MODES(F2, fdiv_s, "fdiv.s")
MODES(F1, fsqrt_d, "fsqrt.d") MODES(F1, fsqrt_s, "fsqrt.s")
MODES(F1, fcvt_s_d, "fcvt.s.d")
MODES(X1, fcvt_w_d, "fcvt.w.d") MODES(X1, fcvt_wu_d, "fcvt.wu.d") MODES(X1, fcvt_l_d, "fcvt.l.d")
MODES(X1, fcvt_lu_d, "fcvt.lu.d")
MODES(X1, fcvt_w_s, "fcvt.w.s") MODES(X1, fcvt_wu_s, "fcvt.wu.s") MODES(X1, fcvt_l_s, "fcvt.l.s")
MODES(X1, fcvt_lu_s, "fcvt.lu.s")
MODES(I1, fcvt_d_l, "fcvt.d.l") MODES(I1, fcvt_d_lu, "fcvt.d.lu")
MODES(I1, fcvt_s_w, "fcvt.s.w") MODES(I1, fcvt_s_wu, "fcvt.s.wu") MODES(I1, fcvt_s_l, "fcvt.s.l")
MODES(I1, fcvt_s_lu, "fcvt.s.lu")
MODES(F3, fmadd_d, "fmadd.d") MODES(F3, fmsub_d, "fmsub.d") MODES(F3, fnmadd_d, "fnmadd.d")
MODES(F3, fnmsub_d, "fnmsub.d")
MODES(F3, fmadd_s, "fmadd.s") MODES(F3, fmsub_s, "fmsub.s") MODES(F3, fnmadd_s, "fnmadd.s")
MODES(F3, fnmsub_s, "fnmsub.s")
/* Without a rounding mode. */
F1(fcvt_d_s, "fcvt.d.s", "") I1(fcvt_d_w, "fcvt.d.w", "") I1(fcvt_d_wu, "fcvt.d.wu", "")
X1(fclass_d, "fclass.d", "") X1(fclass_s, "fclass.s", "") X1(fmv_x_w, "fmv.x.w", "")
I1(fmv_w_x, "fmv.w.x", "")
F2(fmin_d, "fmin.d", "") F2(fmax_d, "fmax.d", "") F2(fmin_s, "fmin.s", "") F2(fmax_s, "fmax.s", "")
F2(fsgnj_d, "fsgnj.d", "") F2(fsgnjn_d, "fsgnjn.d", "") F2(fsgnjx_d, "fsgnjx.d", "")
F2(fsgnj_s, "fsgnj.s", "") F2(fsgnjn_s, "fsgnjn.s", "") F2(fsgnjx_s, "fsgnjx.s", "")
X2(feq_d, "feq.d", "") X2(flt_d, "flt.d", "") X2(fle_d, "fle.d", "")
X2(feq_s, "feq.s", "") X2(flt_s, "flt.s", "") X2(fle_s, "fle.s", "")


static inline void set_frm(u64 rm) { asm volatile("fsrm %0" ::"r"(rm) : "memory"); }

/* Each operand set once for a static mode; once per frm value 0-4 for dyn. */
static void report(const char *name, int mode, u64 hash) {
  gprintf("sweep %s %s %016lx\n", name, mode < 0 ? "-" : mode_names[mode], hash);
}

static u64 sweep1(fn1 f, const u64 *in, u64 n, int dynamic) {
  u64 hash = FNV_START, flags;
  for (u64 rm = 0; rm < (dynamic ? 5u : 1u); rm++) {
    if (dynamic) set_frm(rm);
    for (u64 i = 0; i < n; i++) hash = fold(fold(hash, f(in[i], &flags)), flags);
  }
  return hash;
}
static u64 sweep2(fn2 f, const u64 *in, u64 n, int dynamic) {
  u64 hash = FNV_START, flags;
  for (u64 rm = 0; rm < (dynamic ? 5u : 1u); rm++) {
    if (dynamic) set_frm(rm);
    for (u64 i = 0; i < n; i++)
      for (u64 j = 0; j < n; j++) hash = fold(fold(hash, f(in[i], in[j], &flags)), flags);
  }
  return hash;
}
static u64 sweep3(fn3 f, const u64 *in, int dynamic) {
  u64 hash = FNV_START, flags;
  for (u64 rm = 0; rm < (dynamic ? 5u : 1u); rm++) {
    if (dynamic) set_frm(rm);
    for (u64 i = 0; i < FMA_OPERANDS; i++)
      for (u64 j = 0; j < FMA_OPERANDS; j++)
        for (u64 k = 0; k < FMA_OPERANDS; k++) hash = fold(fold(hash, f(in[i], in[j], in[k], &flags)), flags);
  }
  return hash;
}

struct op1 { const char *name; fn1 fns[6]; const u64 *in; u64 n; };
struct op2 { const char *name; fn2 fns[6]; const u64 *in; u64 n; };
struct op3 { const char *name; fn3 fns[6]; const u64 *in; };
#define D doubles, COUNT(doubles)
#define S singles, COUNT(singles)
#define I integers, COUNT(integers)

static const struct op1 unary[] = {
  {"fsqrt.d", MODE_FNS(fsqrt_d), D}, {"fsqrt.s", MODE_FNS(fsqrt_s), S}, {"fcvt.s.d", MODE_FNS(fcvt_s_d), D},
  {"fcvt.w.d", MODE_FNS(fcvt_w_d), D}, {"fcvt.wu.d", MODE_FNS(fcvt_wu_d), D}, {"fcvt.l.d", MODE_FNS(fcvt_l_d), D},
  {"fcvt.lu.d", MODE_FNS(fcvt_lu_d), D}, {"fcvt.w.s", MODE_FNS(fcvt_w_s), S}, {"fcvt.wu.s", MODE_FNS(fcvt_wu_s), S},
  {"fcvt.l.s", MODE_FNS(fcvt_l_s), S}, {"fcvt.lu.s", MODE_FNS(fcvt_lu_s), S},
  {"fcvt.d.l", MODE_FNS(fcvt_d_l), I}, {"fcvt.d.lu", MODE_FNS(fcvt_d_lu), I}, {"fcvt.s.w", MODE_FNS(fcvt_s_w), I},
  {"fcvt.s.wu", MODE_FNS(fcvt_s_wu), I}, {"fcvt.s.l", MODE_FNS(fcvt_s_l), I}, {"fcvt.s.lu", MODE_FNS(fcvt_s_lu), I},
  {"fcvt.d.s", {fcvt_d_s}, S}, {"fcvt.d.w", {fcvt_d_w}, I}, {"fcvt.d.wu", {fcvt_d_wu}, I},
  {"fclass.d", {fclass_d}, D}, {"fclass.s", {fclass_s}, S}, {"fmv.x.w", {fmv_x_w}, S}, {"fmv.w.x", {fmv_w_x}, I},
};
static const struct op2 binary[] = {
  {"fadd.d", MODE_FNS(fadd_d), D}, {"fsub.d", MODE_FNS(fsub_d), D},
  {"fmul.d", MODE_FNS(fmul_d), D}, {"fdiv.d", MODE_FNS(fdiv_d), D},
  {"fadd.s", MODE_FNS(fadd_s), S}, {"fsub.s", MODE_FNS(fsub_s), S},
  {"fmul.s", MODE_FNS(fmul_s), S}, {"fdiv.s", MODE_FNS(fdiv_s), S},
  {"fmin.d", {fmin_d}, D}, {"fmax.d", {fmax_d}, D}, {"fmin.s", {fmin_s}, S},
  {"fmax.s", {fmax_s}, S}, {"fsgnj.d", {fsgnj_d}, D}, {"fsgnjn.d", {fsgnjn_d}, D},
  {"fsgnjx.d", {fsgnjx_d}, D}, {"fsgnj.s", {fsgnj_s}, S}, {"fsgnjn.s", {fsgnjn_s}, S},
  {"fsgnjx.s", {fsgnjx_s}, S}, {"feq.d", {feq_d}, D}, {"flt.d", {flt_d}, D},
  {"fle.d", {fle_d}, D}, {"feq.s", {feq_s}, S}, {"flt.s", {flt_s}, S}, {"fle.s", {fle_s}, S},
};
static const struct op3 ternary[] = {
  {"fmadd.d", MODE_FNS(fmadd_d), doubles}, {"fmsub.d", MODE_FNS(fmsub_d), doubles},
  {"fnmadd.d", MODE_FNS(fnmadd_d), doubles}, {"fnmsub.d", MODE_FNS(fnmsub_d), doubles},
  {"fmadd.s", MODE_FNS(fmadd_s), singles}, {"fmsub.s", MODE_FNS(fmsub_s), singles},
  {"fnmadd.s", MODE_FNS(fnmadd_s), singles}, {"fnmsub.s", MODE_FNS(fnmsub_s), singles},
};

/* Integer operations: rd = op rs1, rs2 over every pair of integer operands (and shift amounts). */
typedef u64 (*int_fn)(u64, u64);
#define R(name, insn) static u64 name(u64 a, u64 b) { return RR(insn, a, b); }
R(add_, "add") R(sub_, "sub") R(sll_, "sll") R(srl_, "srl") R(sra_, "sra") R(slt_, "slt") R(sltu_, "sltu")
R(xor_, "xor") R(or_, "or") R(and_, "and") R(addw_, "addw") R(subw_, "subw") R(sllw_, "sllw") R(srlw_, "srlw")
R(sraw_, "sraw") R(mul_, "mul") R(mulh_, "mulh") R(mulhsu_, "mulhsu") R(mulhu_, "mulhu") R(mulw_, "mulw")
R(div_, "div") R(divu_, "divu") R(rem_, "rem") R(remu_, "remu") R(divw_, "divw") R(divuw_, "divuw")
R(remw_, "remw") R(remuw_, "remuw")
static const struct { const char *name; int_fn fn; } integer_ops[] = {
  {"add", add_}, {"sub", sub_}, {"sll", sll_}, {"srl", srl_}, {"sra", sra_}, {"slt", slt_}, {"sltu", sltu_},
  {"xor", xor_}, {"or", or_}, {"and", and_}, {"addw", addw_}, {"subw", subw_}, {"sllw", sllw_}, {"srlw", srlw_},
  {"sraw", sraw_}, {"mul", mul_}, {"mulh", mulh_}, {"mulhsu", mulhsu_}, {"mulhu", mulhu_}, {"mulw", mulw_},
  {"div", div_}, {"divu", divu_}, {"rem", rem_}, {"remu", remu_}, {"divw", divw_}, {"divuw", divuw_},
  {"remw", remw_}, {"remuw", remuw_},
};
static const u64 integer_operands[] = {
  0, 1, 2, 3, 31, 32, 33, 63, 64, 65, (u64)-1, (u64)-2, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000UL,
  0xffffffff80000000UL, 0x7fffffffffffffffUL, 0x8000000000000000UL, 0x8000000000000001UL, 0x123456789abcdefUL,
  0xfedcba9876543210UL, 0x00000000deadbeefUL, 0x5555555555555555UL, 0xaaaaaaaaaaaaaaaaUL,
};

/* AMOs: the old value read and the memory word after, from every (memory, operand) pair. */
typedef u64 (*amo_fn)(u64 *, u64);
#define AMO(name, insn) static u64 name(u64 *word, u64 b) { u64 r; \
    asm volatile(insn " %0, %2, (%1)" : "=&r"(r) : "r"(word), "r"(b) : "memory"); return r; }
AMO(amoswap_w, "amoswap.w") AMO(amoadd_w, "amoadd.w") AMO(amoxor_w, "amoxor.w") AMO(amoand_w, "amoand.w")
AMO(amoor_w, "amoor.w") AMO(amomin_w, "amomin.w") AMO(amomax_w, "amomax.w") AMO(amominu_w, "amominu.w")
AMO(amomaxu_w, "amomaxu.w")
AMO(amoswap_d, "amoswap.d") AMO(amoadd_d, "amoadd.d") AMO(amoxor_d, "amoxor.d") AMO(amoand_d, "amoand.d")
AMO(amoor_d, "amoor.d") AMO(amomin_d, "amomin.d") AMO(amomax_d, "amomax.d") AMO(amominu_d, "amominu.d")
AMO(amomaxu_d, "amomaxu.d")
static const struct { const char *name; amo_fn fn; } amos[] = {
  {"amoswap.w", amoswap_w}, {"amoadd.w", amoadd_w}, {"amoxor.w", amoxor_w}, {"amoand.w", amoand_w},
  {"amoor.w", amoor_w}, {"amomin.w", amomin_w}, {"amomax.w", amomax_w}, {"amominu.w", amominu_w},
  {"amomaxu.w", amomaxu_w}, {"amoswap.d", amoswap_d}, {"amoadd.d", amoadd_d}, {"amoxor.d", amoxor_d},
  {"amoand.d", amoand_d}, {"amoor.d", amoor_d}, {"amomin.d", amomin_d}, {"amomax.d", amomax_d},
  {"amominu.d", amominu_d}, {"amomaxu.d", amomaxu_d},
};

static void integer_sweeps(void) {
  const u64 n = COUNT(integer_operands);
  for (u64 o = 0; o < COUNT(integer_ops); o++) {
    u64 hash = FNV_START;
    for (u64 i = 0; i < n; i++)
      for (u64 j = 0; j < n; j++) hash = fold(hash, integer_ops[o].fn(integer_operands[i], integer_operands[j]));
    report(integer_ops[o].name, -1, hash);
  }
  static u64 words[2];
  for (u64 o = 0; o < COUNT(amos); o++) {
    u64 hash = FNV_START;
    for (u64 i = 0; i < n; i++)
      for (u64 j = 0; j < n; j++) {
        /* The word operated on is the low half of words[0] for .w; the high half and words[1] must stay. */
        words[0] = integer_operands[i];
        words[1] = ~integer_operands[i];
        hash = fold(hash, amos[o].fn(&words[0], integer_operands[j]));
        hash = fold(fold(hash, words[0]), words[1]);
      }
    report(amos[o].name, -1, hash);
  }
}

void test_main(void) {
  for (u64 o = 0; o < COUNT(unary); o++) {
    const struct op1 *op = &unary[o];
    if (!op->fns[1]) { report(op->name, -1, sweep1(op->fns[0], op->in, op->n, 0)); continue; }
    for (int m = 0; m < 6; m++) report(op->name, m, sweep1(op->fns[m], op->in, op->n, m == 5));
  }
  for (u64 o = 0; o < COUNT(binary); o++) {
    const struct op2 *op = &binary[o];
    if (!op->fns[1]) { report(op->name, -1, sweep2(op->fns[0], op->in, op->n, 0)); continue; }
    for (int m = 0; m < 6; m++) report(op->name, m, sweep2(op->fns[m], op->in, op->n, m == 5));
  }
  for (u64 o = 0; o < COUNT(ternary); o++)
    for (int m = 0; m < 6; m++) report(ternary[o].name, m, sweep3(ternary[o].fns[m], ternary[o].in, m == 5));
  set_frm(0);
  integer_sweeps();
}
