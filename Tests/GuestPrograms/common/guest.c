/* The support library: console, checks, trap handlers (see guest.h for the conventions). */
#include "guest.h"

int checks_run;
struct trap_record trap_records[MAX_HARTS];
irq_hook_t m_irq_hook, s_irq_hook;
static struct spinlock console_lock;
extern char run_in_mode_return[];

/* ---- Memory ---- */
void *memset(void *d, int c, size_t n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const u8 *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p < *q ? -1 : 1;
  return 0;
}

/* ---- Locks ---- */
void spin_lock(struct spinlock *l) {
  while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
    while (l->locked) barrier();
}

void spin_unlock(struct spinlock *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

/* ---- Console ---- */
#define UART_LSR 5
#define UART_LSR_THRE 0x20

void putc_raw(char c) {
  while (!(mmio_read8(UART_BASE + UART_LSR) & UART_LSR_THRE)) {}
  mmio_write8(UART_BASE, (u8)c);
}

static void put_locked(const char *s, size_t n) {
  spin_lock(&console_lock);
  for (size_t i = 0; i < n; i++) putc_raw(s[i]);
  spin_unlock(&console_lock);
}

void print(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  put_locked(s, n);
}

struct out { char buf[320]; size_t n; };

static void out_char(struct out *o, char c) {
  if (o->n < sizeof o->buf) o->buf[o->n++] = c;
}

static void out_number(struct out *o, u64 v, int base, int negative, int width, char pad) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  if (negative) digits[n++] = '-';
  while (width-- > n) out_char(o, pad);
  while (n) out_char(o, digits[--n]);
}

static void format(struct out *o, const char *fmt, __builtin_va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') { out_char(o, *fmt); continue; }
    char pad = ' ';
    int width = 0, is_long = 0;
    fmt++;
    if (*fmt == '0') { pad = '0'; fmt++; }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') { is_long = 1; fmt++; }
    switch (*fmt) {
    case 'd': {
      i64 v = is_long ? __builtin_va_arg(ap, i64) : __builtin_va_arg(ap, int);
      out_number(o, v < 0 ? -(u64)v : (u64)v, 10, v < 0, width, pad);
      break;
    }
    case 'u':
      out_number(o, is_long ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, u32), 10, 0, width, pad);
      break;
    case 'x':
      out_number(o, is_long ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, u32), 16, 0, width, pad);
      break;
    case 'c': out_char(o, (char)__builtin_va_arg(ap, int)); break;
    case 's': {
      const char *s = __builtin_va_arg(ap, const char *);
      while (*s) out_char(o, *s++);
      break;
    }
    case '%': out_char(o, '%'); break;
    default: out_char(o, '?'); break;
    }
    if (!*fmt) break;
  }
}

void gsprintf(char *buf, size_t size, const char *fmt, ...) {
  struct out o;
  o.n = 0;
  __builtin_va_list ap;
  __builtin_va_start(ap, fmt);
  format(&o, fmt, ap);
  __builtin_va_end(ap);
  size_t n = o.n < size - 1 ? o.n : size - 1;
  memcpy(buf, o.buf, n);
  buf[n] = 0;
}

void gprintf(const char *fmt, ...) {
  struct out o;
  o.n = 0;
  __builtin_va_list ap;
  __builtin_va_start(ap, fmt);
  format(&o, fmt, ap);
  __builtin_va_end(ap);
  put_locked(o.buf, o.n);
}

/* ---- Pass / fail ---- */
void finish(int code) {
  u32 command = code == 0 ? 0x5555 : ((u32)code << 16) | 0x3333;
  fence();
  mmio_write32(FINISHER_BASE, command);
  for (;;) asm volatile("wfi");
}

void pass(void) {
  gprintf("%s: %d checks\nPASS %s\n", TEST_NAME, checks_run, TEST_NAME);
  finish(0);
}

static int exit_code_for(int check) { return check > EXIT_LAST_CHECK ? EXIT_LAST_CHECK : check; }

static int next_check(void) { return __atomic_add_fetch(&checks_run, 1, __ATOMIC_RELAXED); }

static const char *base_name(const char *path) {
  const char *b = path;
  for (; *path; path++)
    if (*path == '/') b = path + 1;
  return b;
}

void fail(const char *what) {
  int n = next_check();
  gprintf("FAIL %s: check %d: %s\n", TEST_NAME, n, what);
  finish(exit_code_for(n));
}

void harness_error(const char *what) {
  gprintf("FAIL %s: %s\n", TEST_NAME, what);
  finish(EXIT_HARNESS);
}

void check_eq_at(u64 got, u64 want, const char *file, int line, const char *what) {
  int n = next_check();
  if (got == want) return;
  gprintf("FAIL %s: check %d (%s:%d) %s: got 0x%lx, want 0x%lx\n", TEST_NAME, n, base_name(file), line, what,
          got, want);
  finish(exit_code_for(n));
}

void check_true_at(int ok, const char *file, int line, const char *what) {
  int n = next_check();
  if (ok) return;
  gprintf("FAIL %s: check %d (%s:%d) %s\n", TEST_NAME, n, base_name(file), line, what);
  finish(exit_code_for(n));
}

/* ---- Traps ---- */
struct trap_record *expect_trap(void) {
  struct trap_record *r = &trap_records[hart_id()];
  r->count = 0;
  r->cause = r->epc = r->tval = r->status = r->level = r->from = 0;
  r->vector = 0;
  barrier();
  r->armed = 1;
  barrier();
  return r;
}

struct trap_record *trap_result(void) {
  struct trap_record *r = &trap_records[hart_id()];
  barrier();
  r->armed = 0;
  barrier();
  return r;
}

void check_trap_at(u64 cause, const char *file, int line, const char *what) {
  struct trap_record *r = trap_result();
  int n = next_check();
  if (r->count == 1 && r->cause == cause) return;
  if (r->count == 0)
    gprintf("FAIL %s: check %d (%s:%d) %s: no trap, want cause %lu\n", TEST_NAME, n, base_name(file), line,
            what, cause);
  else
    gprintf("FAIL %s: check %d (%s:%d) %s: %lu trap(s), first cause %lu epc 0x%lx tval 0x%lx; want one, cause "
            "%lu\n",
            TEST_NAME, n, base_name(file), line, what, r->count, r->cause, r->epc, r->tval, cause);
  finish(exit_code_for(n));
}

static const char *level_name(u64 level) { return level == PRV_M ? "M" : level == PRV_S ? "S" : "U"; }

__attribute__((noreturn)) static void unexpected_trap(u64 level, u64 cause, u64 epc, u64 tval, u64 from) {
  gprintf("FAIL %s: unexpected trap in the %s-mode handler after check %d: cause 0x%lx epc 0x%lx tval 0x%lx "
          "from %s-mode\n",
          TEST_NAME, level_name(level), checks_run, cause, epc, tval, level_name(from));
  finish(EXIT_UNEXPECTED_TRAP);
}

/* Records an expected exception and returns where to resume. */
static u64 handle_exception(u64 level, u64 cause, u64 epc, u64 tval, u64 status, u64 from, struct trap_frame *f) {
  struct trap_record *r = &trap_records[hart_id()];
  if (!r->armed) unexpected_trap(level, cause, epc, tval, from);
  if (r->count++ == 0) {
    r->cause = cause;
    r->epc = epc;
    r->tval = tval;
    r->status = status;
    r->level = level;
    r->from = from;
    r->vector = f->vector;
  }
  if (r->count > 16) unexpected_trap(level, cause, epc, tval, from); /* a trap loop */
  if (cause == CAUSE_MISALIGNED_FETCH || cause == CAUSE_FETCH_ACCESS || cause == CAUSE_FETCH_PAGE)
    return f->x[REG_RA];
  u16 low;
  if (level == PRV_S) {
    /* The instruction may sit on a U page or an execute-only one. */
    u64 saved = csr_read(sstatus);
    csr_set(sstatus, MSTATUS_SUM | MSTATUS_MXR);
    low = *(volatile u16 *)epc;
    csr_write(sstatus, saved);
  } else {
    low = *(volatile u16 *)epc;
  }
  return epc + ((low & 3) == 3 ? 4 : 2);
}

void m_trap_handler(struct trap_frame *f) {
  u64 cause = csr_read(mcause), epc = csr_read(mepc), tval = csr_read(mtval), status = csr_read(mstatus);
  u64 from = (status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
  if (cause & CAUSE_INTERRUPT) {
    if (!m_irq_hook) unexpected_trap(PRV_M, cause, epc, tval, from);
    m_irq_hook(cause & ~CAUSE_INTERRUPT, f);
    return;
  }
  if ((cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S) && f->x[REG_A7] == RUN_IN_MODE_MAGIC) {
    csr_write(mepc, (u64)run_in_mode_return);
    csr_set(mstatus, MSTATUS_MPP);
    return;
  }
  csr_write(mepc, handle_exception(PRV_M, cause, epc, tval, status, from, f));
}

void s_trap_handler(struct trap_frame *f) {
  u64 cause = csr_read(scause), epc = csr_read(sepc), tval = csr_read(stval), status = csr_read(sstatus);
  u64 from = (status & MSTATUS_SPP) ? PRV_S : PRV_U;
  if (cause & CAUSE_INTERRUPT) {
    if (!s_irq_hook) unexpected_trap(PRV_S, cause, epc, tval, from);
    s_irq_hook(cause & ~CAUSE_INTERRUPT, f);
    return;
  }
  if (cause == CAUSE_ECALL_U && f->x[REG_A7] == RUN_IN_MODE_MAGIC) {
    /* run_in_mode's return from U-mode, delegated here: pass it on to M, leaving this frame behind. */
    csr_write(sscratch, (u64)f + sizeof *f);
    register u64 a0 asm("a0") = f->x[REG_A0];
    register u64 a7 asm("a7") = RUN_IN_MODE_MAGIC;
    asm volatile("ecall" ::"r"(a0), "r"(a7) : "memory");
    __builtin_unreachable();
  }
  csr_write(sepc, handle_exception(PRV_S, cause, epc, tval, status, from, f));
}

/* ---- QEMU detection ---- */
#define FW_CFG_DATA 0x10100000UL
#define FW_CFG_SELECTOR 0x10100008UL

int running_on_qemu(void) {
  static int known, qemu;
  if (known) return qemu;
  char signature[4];
  expect_trap();
  *(volatile u16 *)FW_CFG_SELECTOR = 0; /* FW_CFG_SIGNATURE (big-endian 0) */
  for (int i = 0; i < 4; i++) signature[i] = (char)mmio_read8(FW_CFG_DATA);
  qemu = trap_result()->count == 0 && !memcmp(signature, "QEMU", 4);
  known = 1;
  return qemu;
}

int qemu_deviation(const char *what) {
  static const char *noted[16];
  if (!running_on_qemu()) return 0;
  for (unsigned i = 0; i < 16; i++) {
    if (noted[i] == what) break;
    if (!noted[i]) {
      noted[i] = what;
      gprintf("note: QEMU deviation accepted: %s\n", what);
      break;
    }
  }
  return 1;
}

/* ---- Time ---- */
void delay_ticks(u64 ticks) {
  u64 start = rdtime();
  while (rdtime() - start < ticks) {}
}

int wait_mip(u64 bits, int set) {
  u64 want = set ? bits : 0, start = rdtime();
  while ((csr_read(mip) & bits) != want && rdtime() - start < TIMEBASE_HZ / 10) {}
  return (csr_read(mip) & bits) == want;
}

void wfi_until(volatile u64 *flag) {
  csr_clear(mstatus, MSTATUS_MIE);
  while (!*flag) {
    asm volatile("wfi" ::: "memory");
    csr_set(mstatus, MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
  }
}

/* ---- Entry ---- */
__attribute__((weak)) void secondary_main(u64 hartid) {
  (void)hartid;
  for (;;) asm volatile("wfi");
}

void common_entry(u64 hartid, void *dtb) {
  (void)dtb;
  /* QEMU resets mtimecmp to 0 (timer pending at once), rrvm to all ones: start from the latter. */
  mmio_write64(CLINT_MTIMECMP(hartid), ~0UL);
  if (hartid == 0) {
    test_main();
    pass();
  }
  secondary_main(hartid);
  for (;;) asm volatile("wfi");
}
