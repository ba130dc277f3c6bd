/* rtc: the goldfish RTC at 0x10_1000 (PLIC source 11).
 * - the time (TIME_LOW, which latches TIME_HIGH) is a plausible wall clock: after 2020-01-01 and
 *   before 2200-01-01, in ns;
 * - it increases: over 20 ms of mtime (10 MHz) it advances by 10 ms to 2 s (a loose bound: QEMU reads
 *   the host clock, rrvm derives it from virtual time, where it is exactly 20 ms);
 * - it never goes backwards over many reads;
 * - the alarm: ALARM_HIGH then ALARM_LOW 10 ms ahead arms it (ALARM_STATUS 1), with IRQ_ENABLED set it
 *   raises source 11 through the PLIC no earlier than the alarm time, ALARM_STATUS returns to 0, and
 *   CLEAR_INTERRUPT drops the line. */
#include "machine.h"

#define RTC_TIME_LOW 0x00
#define RTC_TIME_HIGH 0x04
#define RTC_ALARM_LOW 0x08
#define RTC_ALARM_HIGH 0x0c
#define RTC_IRQ_ENABLED 0x10
#define RTC_CLEAR_ALARM 0x14
#define RTC_ALARM_STATUS 0x18
#define RTC_CLEAR_INTERRUPT 0x1c
#define NS_2020 1577836800000000000UL
#define NS_2200 7258118400000000000UL

static u64 rtc_now(void) {
  u64 low = mmio_read32(RTC_BASE + RTC_TIME_LOW);
  u64 high = mmio_read32(RTC_BASE + RTC_TIME_HIGH);
  return (high << 32) | low;
}

static volatile u64 alarm_seen, alarm_time, other;

static void on_interrupt(u64 cause, struct trap_frame *f) {
  (void)f;
  if (cause == IRQ_M_TIMER) { /* the 5 s timeout */
    disarm_timer();
    alarm_seen = 1;
    other++;
    return;
  }
  u32 source = plic_claim(PLIC_CONTEXT_M(0));
  if (source == RTC_IRQ) {
    alarm_time = rtc_now();
    mmio_write32(RTC_BASE + RTC_CLEAR_INTERRUPT, 1);
    alarm_seen = 1;
  } else if (source) {
    other++;
  }
  if (source) plic_complete(PLIC_CONTEXT_M(0), source);
}

void test_main(void) {
  u64 t0 = rtc_now();
  CHECK(t0 > NS_2020 && t0 < NS_2200, "the RTC time is between 2020 and 2200");
  gprintf("rtc: %lu s since the epoch\n", t0 / 1000000000UL);

  u64 previous = t0;
  for (int i = 0; i < 200; i++) {
    u64 now = rtc_now();
    if (now < previous) fail("the RTC time went backwards");
    previous = now;
  }
  u64 m0 = mtime(), r0 = rtc_now();
  delay_ticks(MILLISECONDS(20));
  u64 m1 = mtime(), r1 = rtc_now();
  u64 rtc_ns = r1 - r0, mtime_ns = (m1 - m0) * (1000000000UL / TIMEBASE_HZ);
  CHECK(rtc_ns > 0, "the RTC time increases");
  CHECK(rtc_ns >= 10000000UL && rtc_ns <= 2000000000UL, "20 ms of mtime is 10 ms to 2 s of RTC time");
  gprintf("rtc: %lu us of RTC time over %lu us of mtime\n", rtc_ns / 1000, mtime_ns / 1000);

  m_irq_hook = on_interrupt;
  plic_route_to_hart0(RTC_IRQ);
  u64 alarm = rtc_now() + 10000000UL;
  mmio_write32(RTC_BASE + RTC_IRQ_ENABLED, 1);
  mmio_write32(RTC_BASE + RTC_ALARM_HIGH, (u32)(alarm >> 32));
  mmio_write32(RTC_BASE + RTC_ALARM_LOW, (u32)alarm);
  CHECK_EQ(mmio_read32(RTC_BASE + RTC_ALARM_STATUS), 1, "ALARM_STATUS is 1 while the alarm is armed");
  arm_timer(SECONDS(5));
  csr_write(mie, MIP_MEIP | MIP_MTIP);
  wfi_until(&alarm_seen);
  csr_write(mie, 0);
  disarm_timer();
  CHECK_EQ(other, 0, "the alarm interrupt came (no timeout, no other source)");
  CHECK(alarm_time >= alarm, "the alarm fired no earlier than its time");
  CHECK_EQ(mmio_read32(RTC_BASE + RTC_ALARM_STATUS), 0, "ALARM_STATUS is 0 after the alarm fired");
  CHECK(!plic_pending(RTC_IRQ), "CLEAR_INTERRUPT dropped the RTC's line");
  mmio_write32(RTC_BASE + RTC_IRQ_ENABLED, 0);
}
