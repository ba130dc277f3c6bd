#!/usr/bin/env bash
# This build against an earlier one on the same host, in the same run: the figures issue 16 gives as
# multiples of "today" (the build the issue was filed against, 8c7ade7 by default), which only a
# comparison on one host can give, as this kind of machine's speed moves by up to 2x between days.
#   cpu-mix            `rrvm-bench hart` of both builds (the interpreter alone)
#   1-hart Linux boot  the earlier build's own harness (Benchmarks/boot.sh then: `rrctl up --smp 1`, wall
#                      time, start-up included), this build's `rrctl up --smp 1` (the same harness) and its
#                      in-process machine (`rrvm-bench boot GUEST 1`, the harness issue 16 names)
# The commands take turns, RUNS rounds (default 5); figures are medians. The earlier build is checked out
# and built once under .build-since/REV (a release build: about 3 minutes on 2 cores).
# Run on a quiet machine after `cluster/build-release.sh` and `cluster/build-guest.sh`:
#   Benchmarks/since.sh [REV [RUNS]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-8c7ade7}
runs=${2:-5}
new=${RRVM_BIN_DIR:-$root/.build/release}
guest=${RRVM_GUEST_DIR:-$root/cluster/out}
[ -x "$new/rrctl" ] && [ -x "$new/rrvm-bench" ] || { echo "since.sh: build first: cluster/build-release.sh" >&2; exit 1; }
[ -f "$guest/Image" ] || { echo "since.sh: build the guest first: cluster/build-guest.sh" >&2; exit 1; }
full=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}") || { echo "since.sh: no such revision: $rev" >&2; exit 1; }
tree=$root/.build-since/${full:0:12}
old=$tree/.build/release
if [ ! -x "$old/rrvm-bench" ] || [ ! -x "$old/rrctl" ]; then
  echo "since.sh: building ${full:0:12} in $tree" >&2
  [ -d "$tree" ] || git -C "$root" worktree add --detach "$tree" "$full" >/dev/null
  (cd "$tree" && bash cluster/build-release.sh >"$tree/build.log" 2>&1) ||
    { echo "since.sh: the build of $rev failed: $tree/build.log" >&2; exit 1; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/Benchmarks/guests/build.sh" "$work/guests" >/dev/null
append="console=ttyS0 earlycon rrvm_poweroff=1"
images=(--bios "$guest/fw_jump.bin" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" --disk "$guest/disk.ext2")

# seconds NAME COMMAND...: runs the command (it must succeed), appends its wall seconds to $work/NAME.
seconds() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  "$@" </dev/null >"$work/out" 2>&1 || { echo "since.sh: failed: $*" >&2; tail -3 "$work/out" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l >>"$work/$name"
}
# mips NAME COMMAND...: runs an rrvm-bench mode, appends the wall MIPS it printed to $work/NAME.
mips() {
  local name=$1
  shift
  "$@" </dev/null >"$work/out" 2>&1 || { echo "since.sh: failed: $*" >&2; tail -3 "$work/out" >&2; exit 1; }
  grep -o '[0-9.]* MIPS' "$work/out" | head -1 | cut -d' ' -f1 >>"$work/$name"
}
median() { sort -n "$work/$1" | sed -n "$(( (runs + 1) / 2 ))p"; }

for _ in $(seq "$runs"); do
  mips mix.old "$old/rrvm-bench" hart "$work/guests/cpu-mix.elf"
  mips mix.new "$new/rrvm-bench" hart "$work/guests/cpu-mix.elf" --no-qemu
  seconds boot.old "$old/rrctl" up --smp 1 "${images[@]}" --append "$append"
  seconds boot.new "$new/rrctl" up --smp 1 "${images[@]}" --append "$append"
  mips boot.inprocess "$new/rrvm-bench" boot "$guest" 1 --no-qemu
done
# The boot's instruction count, from a recording by this build (both builds run the same guest).
"$new/rrctl" up --smp 1 "${images[@]}" --append "$append" --record "$work/boot.rrlog" </dev/null >/dev/null 2>&1
instructions=$("$new/rrctl" log stats "$work/boot.rrlog" | awk -F': ' '/^instructions retired/ {print $2}')

mix_old=$(median mix.old) mix_new=$(median mix.new)
boot_old=$(median boot.old) boot_new=$(median boot.new) boot_in=$(median boot.inprocess)
old_mips=$(echo "$instructions / $boot_old / 1000000" | bc -l)
new_mips=$(echo "$instructions / $boot_new / 1000000" | bc -l)
echo "this build against ${full:0:12}, same host, $runs alternated rounds, medians"
printf '%-58s %8s %8s %7s\n' "" "then" "now" "ratio"
printf '%-58s %8.1f %8.1f %6.2fx\n' "cpu-mix, rrvm-bench hart (MIPS)" "$mix_old" "$mix_new" "$(echo "$mix_new / $mix_old" | bc -l)"
printf '%-58s %8.1f %8.1f %6.2fx\n' "1-hart Linux boot, rrctl up --smp 1 (MIPS, start-up in)" "$old_mips" "$new_mips" \
  "$(echo "$new_mips / $old_mips" | bc -l)"
printf '%-58s %8.1f %8.1f %6.2fx\n' "1-hart Linux boot: then rrctl up, now in-process (MIPS)" "$old_mips" "$boot_in" \
  "$(echo "$boot_in / $old_mips" | bc -l)"
echo "($instructions instructions in the boot)"
