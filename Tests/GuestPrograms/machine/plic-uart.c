/* plic-uart: the UART's transmitter-empty (THRE) interrupt routed through the PLIC to hart 0.
 * - with THRE interrupts enabled in the UART, source 10 becomes pending in the PLIC;
 * - priority, threshold and enable gate it: with the threshold at or above the priority, with
 *   priority 0 or with the enable bit clear, mip.MEIP stays clear; with threshold 0 MEIP is set;
 * - a claim returns 10 and clears the pending bit, the UART's IIR then reads "THR empty" (which
 *   acknowledges it), a claim with nothing pending returns 0;
 * - the line "plic-uart: interrupt-driven output works" is written one character per interrupt:
 *   each interrupt claims 10, reads IIR, writes the next character and completes. */
#include "machine.h"

static const char message[] = "plic-uart: interrupt-driven output works\n";
static volatile u64 next_char, interrupts, done, wrong_source, wrong_iir;

static void on_external(u64 cause, struct trap_frame *f) {
  (void)f;
  CHECK_EQ(cause, IRQ_M_EXT, "only external interrupts arrive");
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == 0) return; /* spurious: someone else claimed it */
  interrupts++;
  if (source != UART_IRQ) wrong_source++;
  u8 iir = uart_read(UART_IIR);
  if ((iir & UART_IIR_ID) == UART_IIR_THRI) {
    if (message[next_char]) {
      uart_write(UART_THR, (u8)message[next_char++]);
    } else {
      uart_write(UART_IER, 0);
      done = 1;
    }
  } else if (!(iir & UART_IIR_NO_INT)) {
    wrong_iir++;
  }
  plic_complete(PLIC_CONTEXT_M(0), source);
}

static int meip(void) { return (csr_read(mip) & MIP_MEIP) != 0; }

/* The PLIC is another device (another process on rrvm): MEIP follows its state after a while. Waits up
 * to 100 ms of mtime for MEIP to read `want` and returns what it reads then. */
static int meip_becomes(int want) {
  u64 start = rdtime();
  while (meip() != want && rdtime() - start < MILLISECONDS(100)) {}
  return meip();
}

/* For a check that MEIP stays clear: gives a wrongly raised MEIP 2 ms to show. */
static int meip_after_2ms(void) {
  u64 start = rdtime();
  while (!meip() && rdtime() - start < MILLISECONDS(2)) {}
  return meip();
}

static void gating(void) {
  csr_write(mie, 0);
  plic_set_priority(UART_IRQ, 1);
  plic_enable(PLIC_CONTEXT_M(0), UART_IRQ, 1);
  plic_set_threshold(PLIC_CONTEXT_M(0), 1);
  uart_write(UART_IER, UART_IER_THRI);
  CHECK(plic_pending(UART_IRQ), "THRE makes source 10 pending");
  CHECK(!meip_after_2ms(), "threshold 1 masks priority 1");
  plic_set_threshold(PLIC_CONTEXT_M(0), 0);
  CHECK(meip_becomes(1), "threshold 0 lets priority 1 through: MEIP");
  plic_set_priority(UART_IRQ, 0);
  CHECK(!meip_becomes(0), "priority 0 never interrupts");
  plic_set_priority(UART_IRQ, 7);
  CHECK(meip_becomes(1), "priority 7");
  CHECK_EQ(mmio_read32(PLIC_PRIORITY(UART_IRQ)), 7, "the priority reads back");
  plic_enable(PLIC_CONTEXT_M(0), UART_IRQ, 0);
  if (meip_becomes(0) &&
      qemu_deviation("the PLIC re-evaluates its output on priority/threshold writes but not on enable writes"))
    plic_set_threshold(PLIC_CONTEXT_M(0), 0); /* forces QEMU to re-evaluate */
  CHECK(!meip_becomes(0), "a disabled source does not interrupt");
  CHECK_EQ(plic_claim(PLIC_CONTEXT_M(0)), 0, "a disabled source cannot be claimed");
  plic_enable(PLIC_CONTEXT_M(0), UART_IRQ, 1);
  CHECK((mmio_read32(PLIC_ENABLE(PLIC_CONTEXT_M(0), UART_IRQ)) >> UART_IRQ) & 1, "the enable bit reads back");

  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  CHECK_EQ(source, UART_IRQ, "claim returns the UART's source");
  CHECK(!plic_pending(UART_IRQ), "the claim cleared the pending bit");
  CHECK_EQ(uart_read(UART_IIR) & UART_IIR_ID, UART_IIR_THRI, "IIR reports THR empty");
  plic_complete(PLIC_CONTEXT_M(0), source);
  CHECK(!meip_becomes(0), "no MEIP once IIR acknowledged THRE and the claim completed");
  CHECK_EQ(plic_claim(PLIC_CONTEXT_M(0)), 0, "a claim with nothing pending returns 0");
  uart_write(UART_IER, 0);
  plic_set_priority(UART_IRQ, 1);
}

static void interrupt_driven_output(void) {
  m_irq_hook = on_external;
  csr_write(mie, MIP_MEIP);
  uart_write(UART_IER, UART_IER_THRI); /* with THR empty, enabling THRI interrupts at once */
  wfi_until(&done);
  csr_write(mie, 0);
  CHECK_EQ(next_char, sizeof message - 1, "every character was written from the handler");
  CHECK(interrupts >= sizeof message, "one interrupt per character, and one more after the last");
  CHECK_EQ(wrong_source, 0, "every claim named the UART");
  CHECK_EQ(wrong_iir, 0, "every UART interrupt was THR empty");
}

void test_main(void) {
  gating();
  interrupt_driven_output();
}
