// Console output speed: writes BYTES bytes (default 10 MB) of text to the UART, polling the line status
// register for THRE before each byte as a polling console driver does, then exits through the test
// finisher (start.S). Lines are 64 characters: 63 letters and a newline.
#include <stdint.h>

#ifndef BYTES
#define BYTES 10000000
#endif

#define UART_THR ((volatile uint8_t *)0x10000000)
#define UART_LSR ((volatile uint8_t *)0x10000005)
#define LSR_THRE 0x20

int main(void) {
    for (uint32_t i = 0; i < BYTES; i++) {
        while (!(*UART_LSR & LSR_THRE)) {}
        *UART_THR = (i & 63) == 63 ? '\n' : (uint8_t)('a' + (i % 26));
    }
    return 0;
}
