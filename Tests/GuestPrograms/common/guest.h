/* The support library of the bare-metal test programs: machine addresses, CSR access, console output,
 * the pass/fail convention, expected traps and running code in S or U mode.
 *
 * Conventions every program relies on:
 * - Every hart enters common_entry in M-mode with its mtimecmp set to all ones (no timer pending),
 *   FS = Initial, PMP entry 0 granting everything (so that S and U may run), nothing delegated.
 *   Hart 0 runs test_main() and passes when it returns; the others run secondary_main() (a weak
 *   default parks them in WFI). tp holds the hart id throughout and is never changed.
 * - Checks are numbered in the order they run. The first failing one prints
 *   "FAIL <name>: check N (file:line) <what>..." and exits through the test finisher with status N
 *   (N > 253 reports 253). An unexpected trap exits with EXIT_UNEXPECTED_TRAP, a harness problem
 *   (a timeout, missing harts or devices) with EXIT_HARNESS. Success prints "PASS <name>" and exits 0.
 * - Code and data are identity mapped whenever a program turns paging on, so the trap handlers can read
 *   the faulting instruction at its physical address.
 */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef u64 size_t;

#ifndef TEST_NAME
#error "build with -DTEST_NAME=\"name\" (build.sh does)"
#endif

#define MAX_HARTS 8
#define EXIT_UNEXPECTED_TRAP 254
#define EXIT_HARNESS 255
#define EXIT_LAST_CHECK 253

/* ---- Machine (QEMU virt layout) ---- */
#define RAM_BASE 0x80000000UL
#define UART_BASE 0x10000000UL
#define FINISHER_BASE 0x100000UL
#define RTC_BASE 0x101000UL
#define CLINT_BASE 0x2000000UL
#define CLINT_MSIP(h) (CLINT_BASE + 4UL * (h))
#define CLINT_MTIMECMP(h) (CLINT_BASE + 0x4000UL + 8UL * (h))
#define CLINT_MTIME (CLINT_BASE + 0xbff8UL)
#define PLIC_BASE 0xc000000UL
#define PLIC_PRIORITY(src) (PLIC_BASE + 4UL * (src))
#define PLIC_PENDING(src) (PLIC_BASE + 0x1000UL + 4UL * ((src) / 32))
#define PLIC_ENABLE(ctx, src) (PLIC_BASE + 0x2000UL + 0x80UL * (ctx) + 4UL * ((src) / 32))
#define PLIC_THRESHOLD(ctx) (PLIC_BASE + 0x200000UL + 0x1000UL * (ctx))
#define PLIC_CLAIM(ctx) (PLIC_BASE + 0x200004UL + 0x1000UL * (ctx))
#define PLIC_CONTEXT_M(h) (2 * (h))
#define PLIC_CONTEXT_S(h) (2 * (h) + 1)
#define UART_IRQ 10
#define RTC_IRQ 11
#define VIRTIO_BASE(n) (0x10001000UL + 0x1000UL * (n))
#define VIRTIO_IRQ(n) (1 + (n))
#define VIRTIO_SLOTS 8
#define TIMEBASE_HZ 10000000UL
/* Free RAM past the image, 2 MiB aligned (from the linker script). */
extern char _free_ram[];
#define UNMAPPED_ADDR 0x80000UL /* nothing lives there on QEMU virt or rrvm */

/* ---- CSRs ---- */
#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr) ({ u64 v_; asm volatile("csrr %0, " STR(csr) : "=r"(v_)::"memory"); v_; })
#define csr_write(csr, val) asm volatile("csrw " STR(csr) ", %0" ::"rK"((u64)(val)) : "memory")
#define csr_set(csr, val) asm volatile("csrs " STR(csr) ", %0" ::"rK"((u64)(val)) : "memory")
#define csr_clear(csr, val) asm volatile("csrc " STR(csr) ", %0" ::"rK"((u64)(val)) : "memory")
#define csr_swap(csr, val) ({ u64 v_; asm volatile("csrrw %0, " STR(csr) ", %1" : "=r"(v_) : "rK"((u64)(val)) : "memory"); v_; })

#define MSTATUS_SIE (1UL << 1)
#define MSTATUS_MIE (1UL << 3)
#define MSTATUS_SPIE (1UL << 5)
#define MSTATUS_MPIE (1UL << 7)
#define MSTATUS_SPP (1UL << 8)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP (3UL << 11)
#define MSTATUS_FS (3UL << 13)
#define MSTATUS_FS_INITIAL (1UL << 13)
#define MSTATUS_FS_CLEAN (2UL << 13)
#define MSTATUS_FS_DIRTY (3UL << 13)
#define MSTATUS_MPRV (1UL << 17)
#define MSTATUS_SUM (1UL << 18)
#define MSTATUS_MXR (1UL << 19)
#define MSTATUS_TVM (1UL << 20)
#define MSTATUS_TW (1UL << 21)
#define MSTATUS_TSR (1UL << 22)
#define MSTATUS_UXL (3UL << 32)
#define MSTATUS_SXL (3UL << 34)
#define MSTATUS_SD (1UL << 63)

#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11
#define MIP_SSIP (1UL << IRQ_S_SOFT)
#define MIP_MSIP (1UL << IRQ_M_SOFT)
#define MIP_STIP (1UL << IRQ_S_TIMER)
#define MIP_MTIP (1UL << IRQ_M_TIMER)
#define MIP_SEIP (1UL << IRQ_S_EXT)
#define MIP_MEIP (1UL << IRQ_M_EXT)
#define CAUSE_INTERRUPT (1UL << 63)

enum {
  CAUSE_MISALIGNED_FETCH = 0, CAUSE_FETCH_ACCESS = 1, CAUSE_ILLEGAL = 2, CAUSE_BREAKPOINT = 3,
  CAUSE_MISALIGNED_LOAD = 4, CAUSE_LOAD_ACCESS = 5, CAUSE_MISALIGNED_STORE = 6, CAUSE_STORE_ACCESS = 7,
  CAUSE_ECALL_U = 8, CAUSE_ECALL_S = 9, CAUSE_ECALL_M = 11, CAUSE_FETCH_PAGE = 12,
  CAUSE_LOAD_PAGE = 13, CAUSE_STORE_PAGE = 15,
};
enum { PRV_U = 0, PRV_S = 1, PRV_M = 3 };

/* ---- MMIO ---- */
static inline u8 mmio_read8(u64 a) { return *(volatile u8 *)a; }
static inline u32 mmio_read32(u64 a) { return *(volatile u32 *)a; }
static inline u64 mmio_read64(u64 a) { return *(volatile u64 *)a; }
static inline void mmio_write8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline void mmio_write64(u64 a, u64 v) { *(volatile u64 *)a = v; }
static inline u64 hart_id(void) { u64 h; asm("mv %0, tp" : "=r"(h)); return h; }
static inline u64 mtime(void) { return mmio_read64(CLINT_MTIME); } /* through the CLINT (MMIO) */
static inline u64 rdtime(void) { u64 t; asm volatile("rdtime %0" : "=r"(t)); return t; } /* the same clock, no MMIO */
static inline void barrier(void) { asm volatile("" ::: "memory"); }
static inline void fence(void) { asm volatile("fence rw, rw" ::: "memory"); }

/* ---- Console (serialised between harts) ---- */
void putc_raw(char c);
void print(const char *s);
void gprintf(const char *fmt, ...); /* %s %c %d %u %x %ld %lu %lx, width and 0 flag for numbers */
void gsprintf(char *buf, size_t size, const char *fmt, ...); /* the same into buf, always terminated */

/* ---- Pass / fail ---- */
__attribute__((noreturn)) void finish(int code); /* the finisher; 0 = pass */
__attribute__((noreturn)) void pass(void);
__attribute__((noreturn)) void fail(const char *what); /* a failed check with no values */
__attribute__((noreturn)) void harness_error(const char *what);
void check_eq_at(u64 got, u64 want, const char *file, int line, const char *what);
void check_true_at(int ok, const char *file, int line, const char *what);
#define CHECK_EQ(got, want, what) check_eq_at((u64)(got), (u64)(want), __FILE__, __LINE__, (what))
#define CHECK(cond, what) check_true_at(!!(cond), __FILE__, __LINE__, (what))
extern int checks_run;

/* ---- Traps ---- */
struct trap_frame {
  u64 x[32];   /* x[0] unused; x[2] is the interrupted sp */
  u64 vector;  /* vectored-mode entry that was used (the interrupt cause), or -1 for the direct entry */
  u64 pad;
};
#define REG_RA 1
#define REG_A0 10
#define REG_A7 17

struct trap_record {
  volatile u64 count;   /* traps taken while armed */
  volatile u64 cause;   /* of the first one */
  volatile u64 epc;
  volatile u64 tval;
  volatile u64 status;  /* mstatus or sstatus as the handler saw it */
  volatile u64 level;   /* PRV_M or PRV_S: which handler took it */
  volatile u64 from;    /* the privilege the trap came from (MPP or SPP) */
  volatile u64 vector;  /* trap_frame.vector */
  volatile u64 armed;
};
extern struct trap_record trap_records[MAX_HARTS];

/* Arms this hart's record: the next synchronous exception (in M or S) is recorded and the faulting
 * instruction skipped (a fetch fault resumes at ra, as if the jump had returned). */
struct trap_record *expect_trap(void);
/* Disarms and returns the record. */
struct trap_record *trap_result(void);
/* Disarms and checks that exactly one trap was taken, with `cause`. */
#define CHECK_TRAP(cause_, what) check_trap_at((cause_), __FILE__, __LINE__, (what))
void check_trap_at(u64 cause, const char *file, int line, const char *what);
#define CHECK_NO_TRAP(what) check_eq_at(trap_result()->count, 0, __FILE__, __LINE__, (what))

/* Interrupt hooks, called with the cause without its top bit; unset = an unexpected trap. */
typedef void (*irq_hook_t)(u64 cause, struct trap_frame *frame);
extern irq_hook_t m_irq_hook, s_irq_hook;

/* Trap entries (start.S). The vector tables are for mtvec/stvec vectored mode (mode bit 1). */
extern char m_trap_entry[], s_trap_entry[], m_vector_table[], s_vector_table[];

/* Runs fn(arg) in privilege `mode` (PRV_S or PRV_U) through mret and returns its result: fn returns
 * to a trampoline that ecalls with a7 = RUN_IN_MODE_MAGIC, which the M handler turns into a return
 * from run_in_mode (the S handler passes a delegated one from U on to M). stack: the lower mode's sp,
 * or 0 to continue on this stack. mstatus.MIE is restored on return; MPIE is left as the caller set
 * it, so it becomes the lower mode's MIE. The U trampoline lives in the user section
 * [_user_start, _user_end) (.user_text/.user_data input sections), which programs that map U pages
 * must map with U = 1. */
i64 run_in_mode(u64 mode, i64 (*fn)(i64), i64 arg, void *stack);
#define RUN_IN_MODE_MAGIC 0x52524d4f4445UL
extern char _user_start[], _user_end[];

/* ---- QEMU deviations ----
 * A few checks expect what the specification requires where QEMU 7.2 does something else. Such a check
 * asks qemu_deviation(), which detects QEMU by its fw_cfg signature (absent on rrvm) and, on QEMU only,
 * prints "note: QEMU deviation accepted: <what>" and returns 1 so that the check accepts QEMU's
 * behaviour. Must not be called with a trap expectation armed. */
int running_on_qemu(void);
int qemu_deviation(const char *what);

/* ---- Small helpers ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void delay_ticks(u64 ticks); /* busy-waits on the time CSR */
/* Waits (up to 100 ms of mtime) until the mip bits in `bits` all read `set` (nonzero = set) and
 * returns whether they do. Interrupt lines driven by a device (the CLINT's msip and mtimecmp, the
 * PLIC) may follow a write to that device a little later: a handler that clears its source waits for
 * the line to drop before returning, so that it is not taken again spuriously. */
int wait_mip(u64 bits, int set);
/* Sleeps in WFI until *flag becomes nonzero, taking interrupts (M-mode, mie set by the caller). The
 * test and the WFI run with mstatus.MIE clear, so an interrupt that sets the flag just before the WFI
 * is not lost: it stays pending, WFI returns, and a brief MIE window takes it. Leaves MIE clear. */
void wfi_until(volatile u64 *flag);

struct spinlock { volatile u32 locked; };
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);

/* Program entry points. */
void test_main(void);
void secondary_main(u64 hartid);

#endif
