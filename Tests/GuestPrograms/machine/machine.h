/* Helpers for the machine programs: the PLIC, the UART registers, a timeout timer. */
#ifndef MACHINE_H
#define MACHINE_H
#include "guest.h"

#define UART_RBR 0 /* read */
#define UART_THR 0 /* write */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_LSR 5
#define UART_SCR 7
#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID 0x0e
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04

static inline u8 uart_read(u64 reg) { return mmio_read8(UART_BASE + reg); }
static inline void uart_write(u64 reg, u8 v) { mmio_write8(UART_BASE + reg, v); }

static inline void plic_set_priority(u32 source, u32 priority) { mmio_write32(PLIC_PRIORITY(source), priority); }
static inline void plic_set_threshold(u32 context, u32 threshold) { mmio_write32(PLIC_THRESHOLD(context), threshold); }
static inline void plic_enable(u32 context, u32 source, int on) {
  u32 word = mmio_read32(PLIC_ENABLE(context, source));
  u32 bit = 1u << (source % 32);
  mmio_write32(PLIC_ENABLE(context, source), on ? word | bit : word & ~bit);
}
static inline int plic_pending(u32 source) { return (mmio_read32(PLIC_PENDING(source)) >> (source % 32)) & 1; }
static inline u32 plic_claim(u32 context) { return mmio_read32(PLIC_CLAIM(context)); }
static inline void plic_complete(u32 context, u32 source) { mmio_write32(PLIC_CLAIM(context), source); }

/* Routes `source` to hart 0's M-mode context with priority 1 and threshold 0. */
static inline void plic_route_to_hart0(u32 source) {
  plic_set_priority(source, 1);
  plic_set_threshold(PLIC_CONTEXT_M(0), 0);
  plic_enable(PLIC_CONTEXT_M(0), source, 1);
}

/* Arms this hart's timer `ticks` ahead; the M timer interrupt then wakes WFI loops. */
static inline void arm_timer(u64 ticks) { mmio_write64(CLINT_MTIMECMP(hart_id()), rdtime() + ticks); }
static inline void disarm_timer(void) { mmio_write64(CLINT_MTIMECMP(hart_id()), ~0UL); }

#define SECONDS(s) ((u64)(s) * TIMEBASE_HZ)
#define MILLISECONDS(ms) ((u64)(ms) * (TIMEBASE_HZ / 1000))

#endif
