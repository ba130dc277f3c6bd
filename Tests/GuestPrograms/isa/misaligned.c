/* misaligned: loads and stores at misaligned addresses in RAM.
 * The architecture lets an implementation either perform a misaligned access or raise an
 * address-misaligned (or access-fault) exception, so for every integer, floating-point and compressed
 * load and store at offsets inside a doubleword, across a doubleword and across a page boundary the
 * check accepts either outcome, but each must be exact: a performed load returns the little-endian
 * bytes with the right extension (NaN-boxed for flw), a performed store writes exactly its bytes; a
 * trap has cause 4/5 (load) or 6/7 (store), mtval = the address, and leaves the destination register
 * unchanged. The program prints how many accesses were performed and how many trapped.
 * A misaligned LR, SC or AMO must trap (cause 4/5 for LR, 6/7 for SC and AMOs) and write nothing.
 * From S, every load and store that crosses into a page PMP denies must fault, naming the portion that faulted
 * (its first byte, at the boundary), with rd unchanged and nothing written past the boundary. */
#include "isa.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aUL
static u8 buf[8192] __attribute__((aligned(4096)));
static int performed, trapped;

static void fill(void) {
  for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (u8)(i * 7 + 3);
}

static u64 bytes_at(u64 offset, int size, int sign_extend) {
  u64 v = 0;
  for (int i = size - 1; i >= 0; i--) v = (v << 8) | buf[offset + i];
  if (sign_extend && size < 8) {
    int shift = 64 - 8 * size;
    v = (u64)((i64)(v << shift) >> shift);
  }
  return v;
}

#define LOAD_FN(fn, insn) \
  static u64 fn(u64 a) { u64 v = SENTINEL; asm volatile(insn " %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); return v; }
#define FLOAD_FN(fn, insn) \
  static u64 fn(u64 a) { \
    u64 v = SENTINEL; \
    asm volatile("fmv.d.x ft0, %0\n" insn " ft0, 0(%1)\nfmv.x.d %0, ft0" : "+r"(v) : "r"(a) : "ft0", "memory"); \
    return v; \
  }
#define CLOAD_FN(fn, insn) \
  static u64 fn(u64 a) { \
    u64 v = SENTINEL; \
    asm volatile("mv a0, %0\nmv a1, %1\n" insn " a0, 0(a1)\nmv %0, a0" : "+r"(v) : "r"(a) : "a0", "a1", "memory"); \
    return v; \
  }
LOAD_FN(load_lh, "lh") LOAD_FN(load_lhu, "lhu") LOAD_FN(load_lw, "lw") LOAD_FN(load_lwu, "lwu") LOAD_FN(load_ld, "ld")
FLOAD_FN(load_flw, "flw") FLOAD_FN(load_fld, "fld")
CLOAD_FN(load_clw, "c.lw") CLOAD_FN(load_cld, "c.ld")

#define STORE_FN(fn, insn) \
  static void fn(u64 a, u64 v) { asm volatile(insn " %1, 0(%0)" ::"r"(a), "r"(v) : "memory"); }
#define FSTORE_FN(fn, insn) \
  static void fn(u64 a, u64 v) { asm volatile("fmv.d.x ft0, %1\n" insn " ft0, 0(%0)" ::"r"(a), "r"(v) : "ft0", "memory"); }
#define CSTORE_FN(fn, insn) \
  static void fn(u64 a, u64 v) { asm volatile("mv a1, %0\nmv a0, %1\n" insn " a0, 0(a1)" ::"r"(a), "r"(v) : "a0", "a1", "memory"); }
STORE_FN(store_sh, "sh") STORE_FN(store_sw, "sw") STORE_FN(store_sd, "sd")
FSTORE_FN(store_fsw, "fsw") FSTORE_FN(store_fsd, "fsd")
CSTORE_FN(store_csw, "c.sw") CSTORE_FN(store_csd, "c.sd")

static const struct load { u64 (*fn)(u64); int size, sign_extend; u64 box; const char *name; } loads[] = {
  {load_lh, 2, 1, 0, "lh"}, {load_lhu, 2, 0, 0, "lhu"}, {load_lw, 4, 1, 0, "lw"}, {load_lwu, 4, 0, 0, "lwu"},
  {load_ld, 8, 0, 0, "ld"}, {load_flw, 4, 0, 0xffffffff00000000UL, "flw"}, {load_fld, 8, 0, 0, "fld"},
  {load_clw, 4, 1, 0, "c.lw"}, {load_cld, 8, 0, 0, "c.ld"},
};
static const struct store { void (*fn)(u64, u64); int size; const char *name; } stores[] = {
  {store_sh, 2, "sh"}, {store_sw, 4, "sw"}, {store_sd, 8, "sd"}, {store_fsw, 4, "fsw"}, {store_fsd, 8, "fsd"},
  {store_csw, 4, "c.sw"}, {store_csd, 8, "c.sd"},
};
/* Misaligned offsets: inside a doubleword, across one, across the page boundary at 4096. */
static const u64 offsets[] = {1, 2, 3, 5, 6, 7, 4095, 4094, 4093, 4090};

static void misaligned_loads(void) {
  char what[80];
  for (unsigned l = 0; l < sizeof loads / sizeof loads[0]; l++) {
    for (unsigned o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
      u64 off = offsets[o];
      if (off % loads[l].size == 0) continue;
      fill();
      u64 addr = (u64)buf + off;
      struct trap_record *t = expect_trap();
      u64 v = loads[l].fn(addr);
      trap_result();
      gsprintf(what, sizeof what, "%s at buffer offset %lu", loads[l].name, off);
      if (t->count == 0) {
        performed++;
        CHECK_EQ(v, bytes_at(off, loads[l].size, loads[l].sign_extend) | loads[l].box, what);
      } else {
        trapped++;
        CHECK(t->count == 1 && (t->cause == CAUSE_MISALIGNED_LOAD || t->cause == CAUSE_LOAD_ACCESS), what);
        CHECK_EQ(t->tval, addr, what);
        CHECK_EQ(v, SENTINEL, what); /* rd unchanged */
      }
    }
  }
}

static void misaligned_stores(void) {
  char what[80];
  const u64 value = 0x1122334455667788UL;
  for (unsigned s = 0; s < sizeof stores / sizeof stores[0]; s++) {
    for (unsigned o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
      u64 off = offsets[o];
      if (off % stores[s].size == 0) continue;
      fill();
      u64 addr = (u64)buf + off;
      struct trap_record *t = expect_trap();
      stores[s].fn(addr, value);
      trap_result();
      gsprintf(what, sizeof what, "%s at buffer offset %lu", stores[s].name, off);
      if (t->count == 0) {
        performed++;
        CHECK_EQ(bytes_at(off, stores[s].size, 0), value & (ALL_ONES >> (64 - 8 * stores[s].size)), what);
        CHECK_EQ(buf[off - 1], (u8)((off - 1) * 7 + 3), what);
        CHECK_EQ(buf[off + stores[s].size], (u8)((off + stores[s].size) * 7 + 3), what);
      } else {
        trapped++;
        CHECK(t->count == 1 && (t->cause == CAUSE_MISALIGNED_STORE || t->cause == CAUSE_STORE_ACCESS), what);
        CHECK_EQ(t->tval, addr, what);
      }
    }
  }
}

static int fill_intact(u64 from, u64 n) {
  for (u64 i = from; i < from + n; i++)
    if (buf[i] != (u8)(i * 7 + 3)) return 0;
  return 1;
}

static void check_atomic_trap(struct trap_record *t, u64 addr, int is_load, const char *what) {
  trap_result();
  u64 count = t->count, cause = t->cause, tval = t->tval; /* qemu_deviation() reuses the record */
  int load_cause = cause == CAUSE_MISALIGNED_LOAD || cause == CAUSE_LOAD_ACCESS;
  int store_cause = cause == CAUSE_MISALIGNED_STORE || cause == CAUSE_STORE_ACCESS;
  if (!is_load && count == 1 && load_cause &&
      qemu_deviation("a misaligned AMO raises a load exception (4), not a store/AMO one (6)"))
    store_cause = 1;
  CHECK(count == 1 && (is_load ? load_cause : store_cause), what);
  CHECK_EQ(tval, addr, what);
}

static void misaligned_atomics(void) {
  u64 v, addr;
  struct trap_record *t;
#define ATOMIC(insn, off, is_load, what) do { \
    fill(); \
    addr = (u64)buf + (off); \
    v = SENTINEL; \
    t = expect_trap(); \
    asm volatile(insn : "+r"(v) : "r"(addr), "r"(0x77UL) : "memory"); \
    check_atomic_trap(t, addr, is_load, what); \
    CHECK_EQ(v, SENTINEL, what); \
    CHECK(fill_intact(0, 16), what); \
  } while (0)
  ATOMIC("lr.w %0, (%1)", 2, 1, "lr.w at +2 traps");
  ATOMIC("lr.d %0, (%1)", 4, 1, "lr.d at +4 traps");
  ATOMIC("lr.d %0, (%1)", 1, 1, "lr.d at +1 traps");
  ATOMIC("amoadd.w %0, %2, (%1)", 1, 0, "amoadd.w at +1 traps");
  ATOMIC("amoswap.w %0, %2, (%1)", 2, 0, "amoswap.w at +2 traps");
  ATOMIC("amoor.d %0, %2, (%1)", 4, 0, "amoor.d at +4 traps");
  ATOMIC("amomaxu.d %0, %2, (%1)", 6, 0, "amomaxu.d at +6 traps");
#undef ATOMIC

  /* SC to a misaligned address must trap too, whatever the reservation: here one is held on the
   * aligned word that contains it. */
  fill();
  addr = (u64)buf + 2;
  v = SENTINEL;
  t = expect_trap();
  asm volatile("lr.w t0, (%1)\nsc.w %0, %2, (%3)" : "+r"(v) : "r"((u64)buf), "r"(0x77UL), "r"(addr) : "t0", "memory");
  trap_result();
  if (t->count == 0 && v == 1 &&
      qemu_deviation("a misaligned SC without a matching reservation fails (rd = 1) instead of trapping")) {
    CHECK(fill_intact(0, 16), "the failed misaligned sc.w wrote nothing");
  } else {
    check_atomic_trap(t, addr, 0, "sc.w at +2 traps");
    CHECK_EQ(v, SENTINEL, "sc.w at +2 leaves rd");
    CHECK(fill_intact(0, 16), "sc.w at +2 writes nothing");
  }
}

/* From S, with the buffer's second page denied by PMP entry 0 (entry 1 grants the rest): a load or store that starts
 * in the first page and ends in the second must fault with cause 5 or 7 (or 4 or 6), tval the address of the portion
 * that faulted (the privileged specification's rule for a misaligned access: here the boundary), rd unchanged; a
 * store may have written the bytes before the boundary (the specification allows a misaligned store to be performed
 * piecewise) but nothing beyond them. */
static u64 split_address;
static int split_index;
static i64 split_load(i64 unused) { (void)unused; return (i64)loads[split_index].fn(split_address); }
static i64 split_store(i64 value) { stores[split_index].fn(split_address, (u64)value); return 0; }

/* Runs load or store `index` (split_load or split_store) from S at buffer offset `off` into the denied page, the
 * buffer filled afresh; checks the one fault it must raise (one of `causes`, tval the boundary) and returns the
 * value a load returned. */
static u64 split_access(i64 (*fn)(i64), int index, u64 off, i64 arg, u64 causes, const char *what) {
  fill();
  split_index = index;
  split_address = (u64)buf + off;
  struct trap_record *t = expect_trap();
  u64 v = (u64)run_in_mode(PRV_S, fn, arg, 0);
  trap_result();
  u64 count = t->count, cause = t->cause, tval = t->tval; /* qemu_deviation() reuses the record */
  CHECK(count == 1 && cause < 64 && (causes >> cause & 1), what);
  if (!(tval == split_address &&
        qemu_deviation("a misaligned access faulting in its second page reports the access's address, not the portion's")))
    CHECK_EQ(tval, (u64)buf + 4096, what);
  return v;
}

static void into_denied_page(void) {
  char what[80];
  u64 boundary = (u64)buf + 4096;
  int partial = 0, cases = 0;
  csr_write(pmpaddr1, ~0UL);
  csr_write(pmpaddr0, (boundary >> 2) | (4096 / 8 - 1)); /* NAPOT, 4 KiB */
  csr_write(pmpcfg0, 0x1f18UL);                        /* entry 0: NAPOT, no access; entry 1: NAPOT, RWX */
  asm volatile("sfence.vma" ::: "memory");
  for (unsigned l = 0; l < sizeof loads / sizeof loads[0]; l++)
    for (u64 off = 4096 - (u64)loads[l].size + 1; off < 4096; off++, cases++) {
      gsprintf(what, sizeof what, "%s at %lu, into a denied page", loads[l].name, off);
      u64 v = split_access(split_load, (int)l, off, 0, 1UL << CAUSE_LOAD_ACCESS | 1UL << CAUSE_MISALIGNED_LOAD, what);
      CHECK_EQ(v, SENTINEL, what);
    }
  const u64 value = 0x1122334455667788UL;
  for (unsigned s = 0; s < sizeof stores / sizeof stores[0]; s++)
    for (u64 off = 4096 - (u64)stores[s].size + 1; off < 4096; off++, cases++) {
      gsprintf(what, sizeof what, "%s at %lu, into a denied page", stores[s].name, off);
      split_access(split_store, (int)s, off, (i64)value, 1UL << CAUSE_STORE_ACCESS | 1UL << CAUSE_MISALIGNED_STORE, what);
      CHECK(fill_intact(4096, 16), what);
      if (!fill_intact(off, 4096 - off)) {
        partial++;
        CHECK_EQ(bytes_at(off, (int)(4096 - off), 0), value & (ALL_ONES >> (64 - 8 * (4096 - off))), what);
      }
    }
  csr_write(pmpcfg0, 0x1fUL);
  csr_write(pmpaddr0, ~0UL);
  asm volatile("sfence.vma" ::: "memory");
  gprintf("misaligned: %d accesses into a denied page, %d stores wrote their first part\n", cases, partial);
}

void test_main(void) {
  misaligned_loads();
  misaligned_stores();
  misaligned_atomics();
  into_denied_page();
  gprintf("misaligned: %d accesses performed, %d trapped\n", performed, trapped);
}
