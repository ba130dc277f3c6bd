// A table-driven CRC-32 (IEEE, as zlib's crc32) over a 64 KiB buffer, 600 times (about 4.3e8 instructions): a loop
// of table lookups (shift the index, add the table's address, load), as in the default guest's `fetch -s` and
// much compiled C. Prints the CRC on the UART (0x1000_0000; zlib.crc32 gives the same) and exits through the test
// finisher (start.S).
#include <stddef.h>
#include <stdint.h>

#define UART_THR ((volatile uint8_t *)0x10000000)

static uint32_t table[256];
static unsigned char buffer[65536];

static uint32_t crc32_update(uint32_t crc, const unsigned char *bytes, size_t count) {
    crc = ~crc;
    for (size_t i = 0; i < count; i++)
        crc = (crc >> 8) ^ table[(crc ^ bytes[i]) & 0xff];
    return ~crc;
}

int main(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t value = byte;
        for (int bit = 0; bit < 8; bit++)
            value = (value >> 1) ^ (0xedb88320u & -(value & 1));
        table[byte] = value;
    }
    for (size_t i = 0; i < sizeof buffer; i++)
        buffer[i] = (unsigned char)(i * 7 + (i >> 8));
    uint32_t crc = 0;
    for (int round = 0; round < 600; round++)
        crc = crc32_update(crc, buffer, sizeof buffer);
    for (int shift = 28; shift >= 0; shift -= 4)
        *UART_THR = (uint8_t)"0123456789abcdef"[(crc >> shift) & 15];
    *UART_THR = '\n';
    return 0;
}
