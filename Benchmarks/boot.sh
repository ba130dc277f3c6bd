#!/usr/bin/env bash
# Boot and record/replay benchmark (issues 5 and 6): the default Linux guest from power-on to power-off,
# on 1 and 4 harts, and the 4-hart bare-metal contention program:
# plain, recorded (overhead), replayed; guest instructions and MIPS; log bytes per million instructions.
# Where qemu-system-riscv64 is installed, the same kernel and initrd under QEMU side by side: plain on
# 1 and 4 CPUs, and its record mode, which QEMU only accepts with 1 CPU.
# Run on a quiet machine after `cluster/build-release.sh` and `cluster/build-guest.sh`:
#   Benchmarks/boot.sh [RUNS]
#   Every run is bounded by BOOT_RUN_LIMIT seconds (default 120): an rrvm run that does not end stops the benchmark;
#   a QEMU run that does not end (or fails) leaves its row without a figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rrctl=$root/.build/release/rrctl
guest=${RRVM_GUEST_DIR:-$root/cluster/out}
runs=${1:-3}
append="console=ttyS0 earlycon rrvm_poweroff=1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$rrctl" ] || { echo "boot.sh: build first: cluster/build-release.sh" >&2; exit 1; }
[ -f "$guest/Image" ] || { echo "boot.sh: build the guest first: cluster/build-guest.sh" >&2; exit 1; }
images=(--bios "$guest/fw_jump.bin" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" --disk "$guest/disk.ext2"
        --net user)

# Median wall seconds of `runs` runs of a command (its output discarded; it must succeed).
run_limit=${BOOT_RUN_LIMIT:-120}
median_seconds() {
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    # A bound on every run: QEMU 7.2 -smp 4 was seen once never powering the guest off (170% CPU, 15 minutes).
    local status=0
    timeout --kill-after=5 "$run_limit" "$@" </dev/null >"$work/out" 2>"$work/err" || status=$?
    [ "$status" -ne 124 ] || { echo "boot.sh: no end after $run_limit s (BOOT_RUN_LIMIT): $*" >&2; exit 1; }
    [ "$status" -eq 0 ] || { echo "boot.sh: failed: $*" >&2; tail -5 "$work/err" >&2; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

printf '%-28s %8s %8s %9s %8s %12s %7s %10s\n' "rrvm" "plain s" "record s" "overhead" "replay s" "instructions" "MIPS" "B/Minstr"
for smp in 1 4; do
  plain=$(median_seconds "$rrctl" up --smp "$smp" "${images[@]}" --append "$append")
  record=$(median_seconds "$rrctl" up --smp "$smp" "${images[@]}" --append "$append" --record "$work/boot.log" --force)
  replay=$(median_seconds "$rrctl" replay "$work/boot.log")
  stats=$("$rrctl" log stats "$work/boot.log")
  instructions=$(echo "$stats" | awk -F': ' '/^instructions retired/ {print $2}')
  bytes=$(echo "$stats" | awk -F': ' '/^bytes per million/ {print $2}')
  printf '%-28s %8.2f %8.2f %8.1f%% %8.2f %12d %7.0f %10s\n' "Linux boot, $smp hart(s)" "$plain" "$record" \
    "$(echo "($record - $plain) * 100 / $plain" | bc -l)" "$replay" "$instructions" \
    "$(echo "$instructions / $plain / 1000000" | bc -l)" "$bytes"
done

# The 4-hart contention program of the determinism tests (issue 5), bare metal.
programs=$root/.build/guest-programs
"$root/Tests/GuestPrograms/build.sh" "$programs" smp-contend >/dev/null 2>&1
contend=(--smp 4 --bios none --kernel "$programs/smp-contend.elf")
plain=$(median_seconds "$rrctl" up "${contend[@]}")
record=$(median_seconds "$rrctl" up "${contend[@]}" --record "$work/contend.log" --force)
replay=$(median_seconds "$rrctl" replay "$work/contend.log")
stats=$("$rrctl" log stats "$work/contend.log")
instructions=$(echo "$stats" | awk -F': ' '/^instructions retired/ {print $2}')
printf '%-28s %8.2f %8.2f %8.1f%% %8.2f %12d %7.0f %10s\n' "smp-contend, 4 harts" "$plain" "$record" \
  "$(echo "($record - $plain) * 100 / $plain" | bc -l)" "$replay" "$instructions" \
  "$(echo "$instructions / $plain / 1000000" | bc -l)" "$(echo "$stats" | awk -F': ' '/^bytes per million/ {print $2}')"

command -v qemu-system-riscv64 >/dev/null || { echo "(qemu-system-riscv64 not installed: no comparison)"; exit 0; }
qemu=(qemu-system-riscv64 -M virt -m 256M -nographic -bios "$guest/fw_jump.bin" -kernel "$guest/Image"
      -initrd "$guest/initramfs.cpio" -append "$append" -global virtio-mmio.force-legacy=false)
# The same devices as rrvm's default machine: disk, entropy and the network card with user-mode networking
# (recorded through filter-replay, as QEMU records a netdev).
plain_disk=(-drive "file=$guest/disk.ext2,format=raw,if=none,id=d0,snapshot=on" -device virtio-blk-device,drive=d0
            -device virtio-rng-device -netdev user,id=n0 -device virtio-net-device,netdev=n0)
replay_disk=(-drive "file=$guest/disk.ext2,format=raw,if=none,id=direct,snapshot=on"
             -drive driver=blkreplay,if=none,image=direct,id=d0 -device virtio-blk-device,drive=d0
             -device virtio-rng-device -netdev user,id=n0 -device virtio-net-device,netdev=n0
             -object filter-replay,id=r0,netdev=n0)
# One row of QEMU's figures. A QEMU run that fails or never ends (7.2 -smp 4 sometimes never powers the guest
# off) is shown as such and the comparison goes on: rrvm's figures above stand either way.
qemu_row() {
  local label=$1 seconds
  shift
  if seconds=$(median_seconds "$@"); then
    printf '%-40s %8.2f\n' "$label" "$seconds"
  else
    printf '%-40s %8s\n' "$label" "no figure (see above)"
  fi
}
echo
printf '%-40s %8s\n' "QEMU 7.2 (same kernel and initrd)" "s"
for smp in 1 4; do
  qemu_row "plain, $smp CPU(s)" "${qemu[@]}" -smp "$smp" "${plain_disk[@]}"
done
qemu_row "record (-icount rr=record), 1 CPU" \
  "${qemu[@]}" -smp 1 -icount "shift=auto,rr=record,rrfile=$work/qemu.rr" "${replay_disk[@]}"
qemu_row "replay (-icount rr=replay), 1 CPU" \
  "${qemu[@]}" -smp 1 -icount "shift=auto,rr=replay,rrfile=$work/qemu.rr" "${replay_disk[@]}"
if "${qemu[@]}" -smp 4 -icount "shift=auto,rr=record,rrfile=$work/qemu4.rr" "${replay_disk[@]}" </dev/null >"$work/out" 2>&1; then
  echo "record, 4 CPUs: accepted"
else
  echo "record, 4 CPUs: refused: $(grep -m1 -i 'smp\|replay' "$work/out" || tail -1 "$work/out")"
fi
