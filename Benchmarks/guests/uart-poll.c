// A guest that polls a device instead of waiting for an interrupt, as a bootloader at its prompt or a
// teaching kernel's idle loop does: it reads the UART's line status and the CLINT's mtime in a loop until
// a key arrives or SECONDS of virtual time have passed (default 5), then prints how often it polled and
// exits through the test finisher (start.S). The log-size benchmark (Benchmarks/log-size.sh) records it.
#include <stdint.h>

#ifndef SECONDS
#define SECONDS 5
#endif

#define UART_THR ((volatile uint8_t *)0x10000000)
#define UART_LSR ((volatile uint8_t *)0x10000005)
#define MTIME ((volatile uint64_t *)0x0200bff8)
#define TIMEBASE 10000000ULL

static void put_string(const char *s) {
    while (*s) *UART_THR = (uint8_t)*s++;
}

static void put_decimal(uint64_t value) {
    char digits[24];
    int count = 0;
    do digits[count++] = (char)('0' + value % 10); while ((value /= 10) != 0);
    while (count > 0) *UART_THR = (uint8_t)digits[--count];
}

int main(void) {
    put_string("uart-poll: press a key (or wait)\n");
    uint64_t deadline = *MTIME + SECONDS * TIMEBASE;
    uint64_t polls = 0;
    while (*MTIME < deadline && !(*UART_LSR & 1)) polls++;
    put_string("uart-poll: ");
    put_decimal(polls);
    put_string(" polls\n");
    return 0;
}
