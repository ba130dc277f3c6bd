#!/usr/bin/env bash
# Builds the benchmark guests: build.sh OUTDIR [extra gcc flags, e.g. -DROUNDS=4]
#   cpu-mix, uart-poll, console-flood: one hart each
#   cpu-smp-4, cpu-smp-1: cpu-mix's workload on 4 harts (private data) and the same program on 1 hart
#   chains-dependent, chains-independent: the interpreter's cost per dependent and per independent instruction
#   crc-table: a table-driven CRC-32, a loop of table lookups
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUTDIR [CFLAGS...]}
shift
mkdir -p "$out"
flags=(-O2 -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -static -ffreestanding
       -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror "$@")
link=(-T "$here/link.ld" -Wl,--no-warn-rwx-segments "$here/start.S")
for guest in cpu-mix uart-poll console-flood crc-table; do
  riscv64-unknown-elf-gcc "${flags[@]}" "${link[@]}" "$here/$guest.c" -o "$out/$guest.elf"
  echo "$out/$guest.elf"
done
riscv64-unknown-elf-gcc "${flags[@]}" -DDEPENDENT "${link[@]}" "$here/chains.c" -o "$out/chains-dependent.elf"
riscv64-unknown-elf-gcc "${flags[@]}" "${link[@]}" "$here/chains.c" -o "$out/chains-independent.elf"
echo "$out/chains-dependent.elf"
echo "$out/chains-independent.elf"
# One copy of cpu-mix.c per hart, each with its own static data.
objects=()
for hart in 0 1 2 3; do
  riscv64-unknown-elf-gcc "${flags[@]}" -Wno-unused-function -DCPU_MIX_LIBRARY -DCPU_MIX_ROUNDS=cpu_mix_rounds_$hart \
    -c "$here/cpu-mix.c" -o "$out/cpu-mix-$hart.o"
  objects+=("$out/cpu-mix-$hart.o")
done
for harts in 1 4; do
  riscv64-unknown-elf-gcc "${flags[@]}" -DHARTS=$harts "${link[@]}" "$here/cpu-smp.c" "${objects[@]}" -o "$out/cpu-smp-$harts.elf"
  echo "$out/cpu-smp-$harts.elf"
done
rm -f "${objects[@]}"
