#!/usr/bin/env bash
# Issue 16's figures for the cluster, beside QEMU 7.2's where qemu-system-riscv64 is installed:
#  1. cpu-mix (about 1.07e9 instructions on one hart): in-process (`rrvm-bench hart`, with the translating tier,
#     and with RRVM_TRANSLATE=0 the interpreter alone), then
#     through the cluster (`rrctl up --smp 1 --bios none`) at the default quantum, at 10x it, and with the
#     quantum-by-quantum schedule of logs before format 6 (--schedule quantum); host CPUs the cluster used
#     ((user + system) / wall); QEMU with -icount shift=0 (its record mode's clock) and plain.
#     MIPS over CPU time beside (user + system of the median run: a busy host sways the wall-clock figures), and
#     the ratios paired round by round (the median of each round's ratio: steadier than a ratio of medians).
#  2. cpu-smp: four harts computing on private data (cpu-mix's workload, ROUNDS=100: about 260M instructions
#     each, so that the cluster's start-up, about 0.1 s of CPU, is not what is measured): aggregate MIPS through
#     the cluster beside the 1-hart build's, and QEMU -icount shift=0 on the 1-hart build (QEMU records only one
#     CPU).
#  3. Slice switch cost on smp-contend (4 harts contending for a lock, the determinism test program, built
#     with 20,000 iterations instead of 1,000: about 8,000 slices, so that the start-up is not what is measured):
#     (the run's wall time - the harts' own time in the interpreter) / slices, from RRVM_STATS=1, with the
#     cluster placed by default (split over two CPUs, see HostCPU) and kept to one CPU; beside it
#     the host's floors, processes passing a futex token and doing nothing else (Benchmarks/handover-floor.c).
#  4. Console output: console-flood writes 10 MB (CONSOLE_BYTES) to the UART, polling LSR before each
#     byte; rrvm's `rrctl up` against QEMU -nographic, both writing to a file.
# Wall times are the minimum and the median of RUNS runs (default 3; the commands of a section take turns,
# so that a busy host's load falls on all alike); MIPS and KB/s use the median.
# Run on a quiet machine after `cluster/build-release.sh`:  Benchmarks/cluster-speed.sh [RUNS [SECTIONS]]
# SECTIONS picks some of the four, e.g. `Benchmarks/cluster-speed.sh 5 23` (default 1234).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RRVM_BIN_DIR:-$root/.build/release}
runs=${1:-3}
sections=${2:-1234}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$bin/rrctl" ] && [ -x "$bin/rrvm-bench" ] || { echo "cluster-speed.sh: build first: cluster/build-release.sh" >&2; exit 1; }
console_bytes=${CONSOLE_BYTES:-10000000}
"$root/Benchmarks/guests/build.sh" "$work/guests" -DBYTES="$console_bytes" >/dev/null
"$root/Benchmarks/guests/build.sh" "$work/smp" -DROUNDS=100 >/dev/null
RRVM_GUEST_CFLAGS=-DITERATIONS=20000 "$root/Tests/GuestPrograms/build.sh" "$work/programs" smp-contend >/dev/null 2>&1
qemu=$(command -v qemu-system-riscv64 || true)

# interleave COMMAND...: runs each command (a string for bash) once per round, `runs` rounds, so that the
# load of a busy host falls on all of them alike; `pick N` then gives the Nth command's figures.
interleave() {
  rm -f "$work"/times.*
  for round in $(seq "$runs"); do
    local index=0
    for command in "$@"; do
      # bash's own timing, to the millisecond (/usr/bin/time's %e has ten: 7% of cpu-smp's 0.14 s runs).
      { TIMEFORMAT='%3R %3U %3S'; time bash -c "$command" </dev/null \
          >"$work/out.$index.$round" 2>"$work/err.$index.$round"; } 2>"$work/time" ||
        { echo "cluster-speed.sh: failed: $command" >&2; tail -3 "$work/err.$index.$round" >&2; exit 1; }
      echo "$(tail -1 "$work/time") $round" >>"$work/times.$index"
      index=$((index + 1))
    done
  done
}
# pick N: wall_min and wall_med of command N's runs, cpus = host CPUs its median run used ((user + system) /
# wall); its median run's output in $work/out and $work/err.
pick() {
  local sorted median
  sorted=$(sort -n "$work/times.$1")
  wall_min=$(echo "$sorted" | head -1 | cut -d' ' -f1)
  median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
  read -r wall_med user system round <<<"$median"
  cpus=$(echo "($user + $system) / $wall_med" | bc -l)
  cp "$work/out.$1.$round" "$work/out"
  cp "$work/err.$1.$round" "$work/err"
}
# paired A B: the median over the rounds of (command A's wall time / command B's) in the same round: a busy host's
# load swings between rounds more than within one, so pairs hold steadier than a ratio of medians.
paired() {
  join <(awk '{print $4, $1}' "$work/times.$1" | sort) <(awk '{print $4, $1}' "$work/times.$2" | sort) |
    awk '{print $2 / $3}' | sort -n | awk '{r[NR] = $1} END {print r[int((NR + 1) / 2)]}'
}
# Instructions all harts retired, from the RRVM_STATS=1 lines of the picked run.
retired() { awk '/rrvm-hart: hart [0-9]+: [0-9]+ instructions/ {sum += $4} END {print sum}' "$work/err"; }
mips() { echo "$1 / $2 / 1000000" | bc -l; }
# MIPS over the picked run's CPU time (user + system, children included).
cpu_mips() { printf '%.0f' "$(echo "$1 / ($user + $system) / 1000000" | bc -l)"; }
row() { printf '%-58s %7.3f %7.3f %9.1f %6.2f  %s\n' "$@"; }
header() { printf '\n%-58s %7s %7s %9s %6s  %s\n' "$1" "min s" "med s" "$2" "CPUs" "note"; }
percent() { printf '%.0f%% of %s' "$(echo "$1 * 100 / $2" | bc -l)" "$3"; }

export RRVM_STATS=1
up="$bin/rrctl up --bios none --kernel"
cpu_mix=$work/guests/cpu-mix.elf
qemu_bare="$qemu -M virt -nographic -bios none -kernel"

if [[ $sections == *1* ]]; then
header "1. cpu-mix, one hart" "MIPS"
# The cluster as a user runs it, without RRVM_STATS's measuring (this section takes the instruction count from
# the in-process run).
plain_up="env RRVM_STATS=0 $up"
commands=("$bin/rrvm-bench hart $cpu_mix --no-qemu" "$plain_up $cpu_mix --smp 1" "$plain_up $cpu_mix --smp 1 --quantum 10000000"
          "$plain_up $cpu_mix --smp 1 --schedule quantum")
[ -z "$qemu" ] || commands+=("$qemu_bare $cpu_mix -smp 1 -icount shift=0" "$qemu_bare $cpu_mix -smp 1")
# The interpreter without its translating tier, the loop earlier figures measured.
interpreter=${#commands[@]}
commands+=("env RRVM_TRANSLATE=0 $bin/rrvm-bench hart $cpu_mix --no-qemu")
interleave "${commands[@]}"
pick 0
instructions=$(grep -o '[0-9]* instructions in' "$work/out" | cut -d' ' -f1)
inprocess=$(mips "$instructions" "$wall_med")
# Over CPU time too: on a busy host the wall-clock figures swing with the load (see section 2).
inprocess_cpu=$(cpu_mips "$instructions")
row "rrvm-bench hart (in-process, translating hot code)" "$wall_min" "$wall_med" "$inprocess" "$cpus" \
    "$instructions instructions, $inprocess_cpu MIPS of CPU time"
pick $interpreter
row "rrvm-bench hart, RRVM_TRANSLATE=0 (the interpreter alone)" "$wall_min" "$wall_med" \
    "$(mips "$instructions" "$wall_med")" "$cpus" "$(cpu_mips "$instructions") MIPS of CPU time"
index=1
for label in "default quantum (1,000,000)" "quantum 10,000,000" "--schedule quantum (each slice a quantum)"; do
  pick $index
  rate=$(mips "$instructions" "$wall_med")
  row "rrctl up --smp 1, $label" "$wall_min" "$wall_med" "$rate" "$cpus" \
      "$(percent "$rate" "$inprocess" in-process); paired: $(percent "$(paired 0 $index)" 1 in-process); CPU time: $(percent "$(cpu_mips "$instructions")" "$inprocess_cpu" in-process)"
  index=$((index + 1))
done
if [ -n "$qemu" ]; then
  pick 4
  row "QEMU -icount shift=0" "$wall_min" "$wall_med" "$(mips "$instructions" "$wall_med")" "$cpus" \
      "$(cpu_mips "$instructions") MIPS of CPU time; rrvm-bench hart paired $(printf '%.2f' "$(paired 4 0)")x, the interpreter alone $(printf '%.2f' "$(paired 4 "$interpreter")")x"
  pick 5
  row "QEMU plain" "$wall_min" "$wall_med" "$(mips "$instructions" "$wall_med")" "$cpus" \
      "$(cpu_mips "$instructions") MIPS of CPU time"
fi
fi

if [[ $sections == *2* ]]; then
header "2. cpu-smp: harts computing on private data" "MIPS"
commands=("$up $work/smp/cpu-smp-1.elf --smp 1" "$up $work/smp/cpu-smp-4.elf --smp 4")
[ -z "$qemu" ] || commands+=("$qemu_bare $work/smp/cpu-smp-1.elf -smp 1 -icount shift=0"
                             "$qemu_bare $work/smp/cpu-smp-4.elf -smp 4")
interleave "${commands[@]}"
pick 0
one=$(retired)
one_rate=$(mips "$one" "$wall_med")
# MIPS over the CPU time too ((user + system) of the median run): on a busy host the cluster, kept on one CPU,
# may get only part of it, and the wall-clock figures then swing with the load.
row "rrctl up --smp 1, the 1-hart build" "$wall_min" "$wall_med" "$one_rate" "$cpus" \
    "$one instructions, $(cpu_mips "$one") MIPS of CPU time"
pick 1
four=$(retired)
four_rate=$(mips "$four" "$wall_med")
four_cpu_rate=$(cpu_mips "$four")
row "rrctl up --smp 4, four harts (aggregate)" "$wall_min" "$wall_med" "$four_rate" "$cpus" \
    "$(percent "$four_rate" "$one_rate" "one hart"), $four_cpu_rate MIPS of CPU time"
if [ -n "$qemu" ]; then
  pick 2
  qemu_rate=$(mips "$one" "$wall_med")
  qemu_cpu_rate=$(cpu_mips "$one")
  row "QEMU -icount shift=0, the 1-hart build" "$wall_min" "$wall_med" "$qemu_rate" "$cpus" \
      "$(printf 'rrvm 4 harts = %.2fx (CPU time: %.0f MIPS, %.2fx)' "$(echo "$four_rate / $qemu_rate" | bc -l)" \
          "$qemu_cpu_rate" "$(echo "$four_cpu_rate / $qemu_cpu_rate" | bc -l)")"
  pick 3
  row "QEMU plain -smp 4, four harts (aggregate)" "$wall_min" "$wall_med" "$(mips "$four" "$wall_med")" "$cpus" ""
fi
fi

if [[ $sections == *3* ]]; then
header "3. slice switches, smp-contend on 4 harts" "us/slice"
# The default placement (several harts: split over two CPUs where there are two, see HostCPU) and the whole
# cluster on one CPU (RRVM_CPU=N, the first CPU this script may use).
one_cpu=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status | cut -d, -f1 | cut -d- -f1)
interleave "$up $work/programs/smp-contend.elf --smp 4" "RRVM_CPU=$one_cpu $up $work/programs/smp-contend.elf --smp 4"
for index in 0 1; do
  pick $index
  slices=$(grep -o '[0-9]* slices,' "$work/err" | head -1 | cut -d' ' -f1)
  run_us=$(grep -o '[0-9]* us from start to end' "$work/err" | cut -d' ' -f1)
  executing_us=$(grep -o '[0-9]* us executing' "$work/err" | awk '{sum += $1} END {print sum}')
  placement=$([ $index = 0 ] && echo "default placement" || echo "RRVM_CPU=$one_cpu")
  row "rrctl up --smp 4, $placement (run $((run_us / 1000)) ms)" "$wall_min" "$wall_med" \
      "$(echo "($run_us - $executing_us) / $slices" | bc -l)" "$cpus" "$slices slices, harts executing $((executing_us / 1000)) ms"
done
# The host's floors beside it (Benchmarks/handover-floor.c): processes passing a token through futex words and
# doing nothing else, in three shapes of hand-over: through a hub on one CPU (rrvm kept to one CPU: two process
# switches a slice), hart to hart on one CPU (one switch), and split (rrvm's default for several harts: the hub
# polling on a second CPU, the harts taking turns on the first as rrvm's do with their turn board; and without
# the turns, every waiting hart polling, as rrvm's did before: the kernel's order then adds laps); and one process
# switch, which a split hand-over waits for: the next hart gets the harts' CPU when the one whose slice ended yields it.
if command -v "${CC:-cc}" >/dev/null && "${CC:-cc}" -O2 -o "$work/handover-floor" "$root/Benchmarks/handover-floor.c" 2>"$work/cc.err"; then
  floor_row() {
    local us
    us=$("$work/handover-floor" "$2" 100000 2>/dev/null) && printf '%-58s %7s %7s %9.1f %6s  %s\n' "$1" - - "$us" "$3" "$4"
  }
  floor_row "host floor: through a hub, one CPU (C, futex)" hub 1.00 "handover-floor hub: 2 switches a slice" || true
  floor_row "host floor: hart to hart, one CPU" one-hop 1.00 "handover-floor one-hop: 1 switch a slice" || true
  floor_row "host floor: split over two CPUs, harts taking turns" split 2.00 "handover-floor split" || true
  floor_row "host floor: split, every waiting hart polling" split-yield 2.00 "handover-floor split-yield: with laps" || true
  floor_row "host floor: one process switch (sched_yield)" switch 1.00 "handover-floor switch: within split's" || true
else
  echo "(no C compiler: the host's floor is not measured)"
fi
fi

if [[ $sections == *4* ]]; then
header "4. console-flood: $console_bytes bytes, LSR polled before each byte" "KB/s"
commands=("$up $work/guests/console-flood.elf --smp 1")
[ -z "$qemu" ] || commands+=("$qemu_bare $work/guests/console-flood.elf -smp 1")
interleave "${commands[@]}"
pick 0
rrvm_rate=$(echo "$(wc -c <"$work/out") / $wall_med / 1000" | bc -l)
row "rrctl up --smp 1 > file" "$wall_min" "$wall_med" "$rrvm_rate" "$cpus" "$(wc -c <"$work/out") bytes"
if [ -n "$qemu" ]; then
  pick 1
  qemu_rate=$(echo "$(wc -c <"$work/out") / $wall_med / 1000" | bc -l)
  row "QEMU -nographic > file" "$wall_min" "$wall_med" "$qemu_rate" "$cpus" \
      "$(printf 'rrvm = %.2fx' "$(echo "$rrvm_rate / $qemu_rate" | bc -l)")"
fi
fi
[ -n "$qemu" ] || echo "(qemu-system-riscv64 not installed: no comparison)"
