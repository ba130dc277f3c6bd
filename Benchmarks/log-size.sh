#!/usr/bin/env bash
# Log size and record overhead (issue 11), on release builds (cluster/build-release.sh) and the default guest
# (cluster/build-guest.sh, or RRVM_GUEST_DIR):
#   Benchmarks/log-size.sh [RUNS]          bytes per 1,000 retired instructions, compact and full detail, for the
#                                          Linux boot on 1 and 4 harts, a polling bare-metal guest and a computing
#                                          one; then the record overhead on the 4-hart Linux boot: RUNS (default 10)
#                                          plain and RUNS recorded runs, alternated, medians compared.
#   Benchmarks/log-size.sh --overhead [RUNS]  the record overhead alone.
#   Benchmarks/log-size.sh --idle [SECONDS]  bytes per second of the 4-hart Linux guest idle at its prompt (60 s).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rrctl=$root/.build/release/rrctl
guest=${RRVM_GUEST_DIR:-$root/cluster/out}
append="console=ttyS0 earlycon rrvm_poweroff=1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$rrctl" ] || { echo "log-size.sh: build first: cluster/build-release.sh" >&2; exit 1; }
[ -f "$guest/Image" ] || { echo "log-size.sh: build the guest first: cluster/build-guest.sh" >&2; exit 1; }
linux=(--bios "$guest/fw_jump.bin" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" --disk "$guest/disk.ext2")

# A field of `rrctl log stats`.
stat_field() { "$rrctl" log stats "$1" | awk -F': ' -v name="$2" '$1 == name {print $2}'; }

if [ "${1:-}" = "--idle" ]; then
  seconds=${2:-60}
  mkfifo "$work/input"
  "$rrctl" up "${linux[@]}" --record "$work/idle.log" <"$work/input" >"$work/out" 2>"$work/err" &
  pid=$!
  exec 3>"$work/input"
  for _ in $(seq 600); do grep -q "rrvm# " "$work/out" && break; sleep 0.5; done
  grep -q "rrvm# " "$work/out" || { echo "log-size.sh: no prompt" >&2; kill "$pid"; exit 1; }
  sleep 1  # the recorder flushes every 0.5 s
  before=$(stat -c %s "$work/idle.log")
  sleep "$seconds"
  after=$(stat -c %s "$work/idle.log")
  echo poweroff >&3
  exec 3>&-
  wait "$pid" || true
  printf 'idle Linux guest, 4 harts, at its prompt: %d bytes in %d s = %.1f bytes/s (log %d bytes in all)\n' \
    "$((after - before))" "$seconds" "$(echo "($after - $before) / $seconds" | bc -l)" "$(stat -c %s "$work/idle.log")"
  exit 0
fi

overhead_only=false
if [ "${1:-}" = "--overhead" ]; then overhead_only=true; shift; fi
runs=${1:-10}
"$root/Benchmarks/guests/build.sh" "$work/guests" >/dev/null
"$root/Benchmarks/guests/build.sh" "$work/small" -DROUNDS=40 >/dev/null
printf '%-34s %13s %12s %10s %12s %10s\n' "guest" "instructions" "compact B" "B/1000" "full B" "B/1000"
measure() {
  local name=$1
  shift
  "$rrctl" up "$@" --record "$work/compact.log" --force </dev/null >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  "$rrctl" up "$@" --record "$work/full.log" --force --log-detail full </dev/null >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  printf '%-34s %13s %12s %10s %12s %10s\n' "$name" "$(stat_field "$work/compact.log" "instructions retired")" \
    "$(stat_field "$work/compact.log" bytes)" "$(stat_field "$work/compact.log" "bytes per 1,000 instructions")" \
    "$(stat_field "$work/full.log" bytes)" "$(stat_field "$work/full.log" "bytes per 1,000 instructions")"
}
$overhead_only || measure "Linux boot, 1 hart" --smp 1 "${linux[@]}" --append "$append"
$overhead_only || measure "Linux boot, 4 harts" --smp 4 "${linux[@]}" --append "$append"
$overhead_only || measure "uart-poll (polls 5 ms), 1 hart" --smp 1 --bios none --kernel "$work/guests/uart-poll.elf"
$overhead_only || measure "cpu-mix ROUNDS=40, 1 hart" --smp 1 --bios none --kernel "$work/small/cpu-mix.elf"

# Record overhead: plain and recorded boots alternated, so that both see the same host load.
plain=()
record=()
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" </dev/null >/dev/null 2>"$work/err" || { echo "log-size.sh: failed: $*" >&2; tail -3 "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
for _ in $(seq "$runs"); do
  plain+=("$(seconds "$rrctl" up --smp 4 "${linux[@]}" --append "$append")")
  record+=("$(seconds "$rrctl" up --smp 4 "${linux[@]}" --append "$append" --record "$work/overhead.log" --force)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
p=$(median "${plain[@]}")
r=$(median "${record[@]}")
printf 'record overhead, Linux boot on 4 harts, %d alternated runs each: plain %.3f s, recorded %.3f s (medians): %+.1f%%\n' \
  "$runs" "$p" "$r" "$(echo "($r - $p) * 100 / $p" | bc -l)"
