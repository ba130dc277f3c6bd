#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (linked by -sanitize=fuzzer): runs `callback` on generated inputs with libFuzzer's
// command-line options, so that the fuzz target can keep an ordinary main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
