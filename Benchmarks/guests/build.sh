#!/usr/bin/env bash
# Builds the benchmark guests: build.sh OUTDIR [extra gcc flags, e.g. -DROUNDS=4]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUTDIR [CFLAGS...]}
shift
mkdir -p "$out"
for guest in cpu-mix uart-poll; do
  riscv64-unknown-elf-gcc -O2 -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -static -ffreestanding \
    -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror "$@" \
    -T "$here/link.ld" -Wl,--no-warn-rwx-segments "$here/start.S" "$here/$guest.c" -o "$out/$guest.elf"
  echo "$out/$guest.elf"
done
