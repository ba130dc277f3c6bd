#!/usr/bin/env bash
# Issue 16's figures for the cluster, beside QEMU 7.2's where qemu-system-riscv64 is installed:
#  1. cpu-mix (about 1.07e9 instructions on one hart): the interpreter alone (`rrvm-bench hart`), then
#     through the cluster (`rrctl up --smp 1 --bios none`) at the default quantum, at 100x it, and with the
#     quantum-by-quantum schedule of logs before format 6 (--schedule quantum); host CPUs the cluster used
#     ((user + system) / wall); QEMU with -icount shift=0 (its record mode's clock) and plain.
#  2. cpu-smp: four harts computing on private data (cpu-mix's workload, about 54M instructions each):
#     aggregate MIPS through the cluster beside the 1-hart build's, and QEMU -icount shift=0 on the
#     1-hart build (QEMU records only one CPU).
#  3. Slice switch cost on smp-contend (4 harts contending for a lock, the determinism test program):
#     (the run's wall time - the harts' own time in the interpreter) / slices, from RRVM_STATS=1.
#  4. Console output: console-flood writes 10 MB (CONSOLE_BYTES) to the UART, polling LSR before each
#     byte; rrvm's `rrctl up` against QEMU -nographic, both writing to a file.
# Wall times are the minimum and the median of RUNS runs (default 3); MIPS and KB/s use the median.
# Run on a quiet machine after `cluster/build-release.sh`:  Benchmarks/cluster-speed.sh [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RRVM_BIN_DIR:-$root/.build/release}
runs=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$bin/rrctl" ] && [ -x "$bin/rrvm-bench" ] || { echo "cluster-speed.sh: build first: cluster/build-release.sh" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "cluster-speed.sh: needs /usr/bin/time (Debian: time)" >&2; exit 1; }
console_bytes=${CONSOLE_BYTES:-10000000}
"$root/Benchmarks/guests/build.sh" "$work/guests" -DBYTES="$console_bytes" >/dev/null
"$root/Benchmarks/guests/build.sh" "$work/smp" -DROUNDS=20 >/dev/null
"$root/Tests/GuestPrograms/build.sh" "$work/programs" smp-contend >/dev/null 2>&1
qemu=$(command -v qemu-system-riscv64 || true)

# measure COMMAND...: runs it `runs` times (stdout to $work/out, stderr to $work/err, both of the median
# run kept); sets wall_min, wall_med and cpus (host CPUs used by the median run: (user + system) / wall).
measure() {
  local rows=()
  for run in $(seq "$runs"); do
    /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" </dev/null >"$work/out.$run" 2>"$work/err.$run" ||
      { echo "cluster-speed.sh: failed: $*" >&2; tail -3 "$work/err.$run" >&2; exit 1; }
    rows+=("$(tail -1 "$work/time") $run")
  done
  local sorted
  sorted=$(printf '%s\n' "${rows[@]}" | sort -n)
  wall_min=$(echo "$sorted" | head -1 | cut -d' ' -f1)
  local median
  median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
  read -r wall_med user system run <<<"$median"
  cpus=$(echo "($user + $system) / $wall_med" | bc -l)
  cp "$work/out.$run" "$work/out"
  cp "$work/err.$run" "$work/err"
}
# Instructions all harts retired, from the RRVM_STATS=1 lines of the last measured run.
retired() { awk '/rrvm-hart: hart [0-9]+: [0-9]+ instructions/ {sum += $4} END {print sum}' "$work/err"; }
mips() { echo "$1 / $2 / 1000000" | bc -l; }
row() { printf '%-58s %7.2f %7.2f %9.1f %6.2f  %s\n' "$@"; }
header() { printf '\n%-58s %7s %7s %9s %6s  %s\n' "$1" "min s" "med s" "$2" "CPUs" "note"; }

export RRVM_STATS=1
bare=(--bios none --kernel)

header "1. cpu-mix, one hart" "MIPS"
measure "$bin/rrvm-bench" hart "$work/guests/cpu-mix.elf"
instructions=$(grep -o '[0-9]* instructions in' "$work/out" | cut -d' ' -f1)
inprocess=$(mips "$instructions" "$wall_med")
row "rrvm-bench hart (the interpreter alone)" "$wall_min" "$wall_med" "$inprocess" "$cpus" "$instructions instructions"
for variant in "default quantum (100,000)|" "quantum 10,000,000|--quantum 10000000" \
               "--schedule quantum (every slice one quantum)|--schedule quantum"; do
  read -r -a extra <<<"${variant#*|}"
  measure "$bin/rrctl" up --smp 1 "${extra[@]}" "${bare[@]}" "$work/guests/cpu-mix.elf"
  rate=$(mips "$instructions" "$wall_med")
  row "rrctl up --smp 1, ${variant%%|*}" "$wall_min" "$wall_med" "$rate" "$cpus" \
      "$(printf '%.0f%% of in-process' "$(echo "$rate * 100 / $inprocess" | bc -l)")"
done
if [ -n "$qemu" ]; then
  for icount in "-icount shift=0" ""; do
    # shellcheck disable=SC2086
    measure "$qemu" -M virt -smp 1 -nographic -bios none -kernel "$work/guests/cpu-mix.elf" $icount
    row "QEMU ${icount:-plain}" "$wall_min" "$wall_med" "$(mips "$instructions" "$wall_med")" "$cpus" ""
  done
fi

header "2. cpu-smp: harts computing on private data" "MIPS"
measure "$bin/rrctl" up --smp 1 "${bare[@]}" "$work/smp/cpu-smp-1.elf"
one=$(retired)
one_rate=$(mips "$one" "$wall_med")
row "rrctl up --smp 1, the 1-hart build" "$wall_min" "$wall_med" "$one_rate" "$cpus" "$one instructions"
measure "$bin/rrctl" up --smp 4 "${bare[@]}" "$work/smp/cpu-smp-4.elf"
four=$(retired)
four_rate=$(mips "$four" "$wall_med")
row "rrctl up --smp 4, four harts (aggregate)" "$wall_min" "$wall_med" "$four_rate" "$cpus" \
    "$(printf '%.0f%% of one hart' "$(echo "$four_rate * 100 / $one_rate" | bc -l)")"
if [ -n "$qemu" ]; then
  measure "$qemu" -M virt -smp 1 -nographic -bios none -kernel "$work/smp/cpu-smp-1.elf" -icount shift=0
  qemu_rate=$(mips "$one" "$wall_med")
  row "QEMU -icount shift=0, the 1-hart build" "$wall_min" "$wall_med" "$qemu_rate" "$cpus" \
      "$(printf 'rrvm 4 harts = %.2fx' "$(echo "$four_rate / $qemu_rate" | bc -l)")"
  measure "$qemu" -M virt -smp 4 -nographic -bios none -kernel "$work/smp/cpu-smp-4.elf"
  row "QEMU plain -smp 4, four harts (aggregate)" "$wall_min" "$wall_med" "$(mips "$four" "$wall_med")" "$cpus" ""
fi

header "3. slice switches, smp-contend on 4 harts" "us/slice"
measure "$bin/rrctl" up --smp 4 "${bare[@]}" "$work/programs/smp-contend.elf"
slices=$(grep -o '[0-9]* slices,' "$work/err" | head -1 | cut -d' ' -f1)
run_us=$(grep -o '[0-9]* us from start to end' "$work/err" | cut -d' ' -f1)
executing_us=$(grep -o '[0-9]* us executing' "$work/err" | awk '{sum += $1} END {print sum}')
row "rrctl up --smp 4 (run $((run_us / 1000)) ms, harts executing $((executing_us / 1000)) ms)" "$wall_min" "$wall_med" \
    "$(echo "($run_us - $executing_us) / $slices" | bc -l)" "$cpus" "$slices slices"

header "4. console-flood: $console_bytes bytes, LSR polled before each byte" "KB/s"
measure "$bin/rrctl" up --smp 1 "${bare[@]}" "$work/guests/console-flood.elf"
bytes=$(wc -c <"$work/out")
rrvm_rate=$(echo "$bytes / $wall_med / 1000" | bc -l)
row "rrctl up --smp 1 > file" "$wall_min" "$wall_med" "$rrvm_rate" "$cpus" "$bytes bytes"
if [ -n "$qemu" ]; then
  measure "$qemu" -M virt -smp 1 -nographic -bios none -kernel "$work/guests/console-flood.elf"
  qemu_rate=$(echo "$(wc -c <"$work/out") / $wall_med / 1000" | bc -l)
  row "QEMU -nographic > file" "$wall_min" "$wall_med" "$qemu_rate" "$cpus" \
      "$(printf 'rrvm = %.2fx' "$(echo "$rrvm_rate / $qemu_rate" | bc -l)")"
fi
[ -n "$qemu" ] || echo "(qemu-system-riscv64 not installed: no comparison)"
