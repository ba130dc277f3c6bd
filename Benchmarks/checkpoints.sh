#!/usr/bin/env bash
# Cluster checkpoint benchmark (issue 12): the default 4-hart Linux guest (auto power-off) recorded once,
# then replayed plain, with automatic checkpoints (default budget and interval, and a small budget that
# forces thinning), and with 20 checkpoint round trips (checkpoint at G1, run to G2, restore, run to G2
# again). Prints the wall time of each replay, and from the sequencer: checkpoints kept and taken, memory,
# milliseconds per checkpoint and per restore.
# Run after `cluster/build-release.sh`:   Benchmarks/checkpoints.sh [GUEST_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rrctl=$root/.build/release/rrctl
guest=${1:-${RRVM_GUEST_DIR:-$root/cluster/out}}
export RRVM_BIN_DIR=$root/.build/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$rrctl" ] || { echo "checkpoints.sh: build first: cluster/build-release.sh" >&2; exit 1; }
[ -f "$guest/Image" ] || { echo "checkpoints.sh: no guest in $guest (cluster/build-guest.sh)" >&2; exit 1; }

"$rrctl" up --smp 4 --bios "$guest/fw_jump.bin" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" \
  --disk "$guest/disk.ext2" --net user --append "console=ttyS0 earlycon rrvm_poweroff=1" \
  --record "$work/boot.log" --force </dev/null >/dev/null 2>"$work/err" \
  || { echo "checkpoints.sh: recording failed" >&2; cat "$work/err" >&2; exit 1; }
echo "log: $("$rrctl" log stats "$work/boot.log" | awk -F': ' '/^final G/ {print "final G " $2}'), 4 harts, $(
  "$rrctl" log stats "$work/boot.log" | awk -F': ' '/^instructions retired/ {print $2}') instructions"

# One replay: its wall seconds, then the sequencer's checkpoint lines.
replay() {
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  RRVM_STATS=1 "$rrctl" replay "$work/boot.log" "$@" </dev/null >/dev/null 2>"$work/err" \
    || { echo "checkpoints.sh: $name failed" >&2; cat "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%-44s %6.2f s\n' "$name" "$(echo "$end - $start" | bc -l)"
  grep -E "automatic checkpoints kept|round trips identical \(" "$work/err" | sed 's/^rrvm-sequencer: /    /' || true
}

replay "replay, no checkpoints"
replay "replay, automatic (512 MiB, every 20M G)" --checkpoint-budget 512M
replay "replay, automatic (24 MiB: thinned, every 5M G)" --checkpoint-budget 24M --checkpoint-interval 5000000
replay "replay, 20 checkpoint round trips" --verify-checkpoints 20 --seed 1
