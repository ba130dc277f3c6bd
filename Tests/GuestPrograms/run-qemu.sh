#!/usr/bin/env bash
# Runs the test programs on QEMU (the reference) as programs.txt describes, after building them.
#   usage: run-qemu.sh OUTDIR [NAME...]
# QEMU options beyond the plain machine: virtio-mmio version 2 (QEMU defaults to the legacy version 1)
# and the devices on virtio-mmio-bus.0, .1 (the transports at 0x1000_1000, 0x1000_2000, where rrvm puts
# them). Each run is limited to RRVM_QEMU_TIMEOUT seconds (default 60). Exits 1 if any program failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: run-qemu.sh OUTDIR [NAME...]" >&2; exit 2; }
out=$1
shift
timeout_s=${RRVM_QEMU_TIMEOUT:-60}
qemu=qemu-system-riscv64
command -v $qemu >/dev/null 2>&1 || { echo "run-qemu.sh: $qemu not found (apt-get install qemu-system-misc)" >&2; exit 1; }
mkdir -p "$out"
"$here/build.sh" "$out" "$@" >/dev/null 2>"$out/.build.log" || { cat "$out/.build.log" >&2; exit 1; }

failed=0
while read -r name harts devices stdin status expect; do
  case $name in ''|'#'*) continue ;; esac
  if [ $# -gt 0 ]; then
    wanted=0
    for n in "$@"; do [ "$n" = "$name" ] && wanted=1; done
    [ $wanted = 1 ] || continue
  fi
  args=(-M virt -bios none -kernel "$out/$name.elf" -nographic -smp "$harts" -m 128M)
  slot=0
  if [ "$devices" != - ]; then
    args+=(-global virtio-mmio.force-legacy=false)
    IFS=, read -ra list <<<"$devices"
    for device in "${list[@]}"; do
      case $device in
        disk)
          disk=$out/$name.disk.img
          truncate -s 0 "$disk" && truncate -s 1M "$disk"
          args+=(-drive "file=$disk,format=raw,if=none,id=disk$slot"
                 -device "virtio-blk-device,drive=disk$slot,bus=virtio-mmio-bus.$slot") ;;
        rng) args+=(-device "virtio-rng-device,bus=virtio-mmio-bus.$slot") ;;
        net) args+=(-netdev "user,id=net$slot,restrict=off" -device "virtio-net-device,netdev=net$slot,bus=virtio-mmio-bus.$slot") ;;
        *) echo "run-qemu.sh: unknown device $device for $name" >&2; exit 1 ;;
      esac
      slot=$((slot + 1))
    done
  fi
  log=$out/$name.qemu.log
  set +e
  if [ "$stdin" != - ]; then
    # The input arrives after a pause, as typed input would.
    (sleep 1; printf '%s' "$stdin") | timeout "$timeout_s" $qemu "${args[@]}" >"$log" 2>&1
    got=${PIPESTATUS[1]}
  else
    timeout "$timeout_s" $qemu "${args[@]}" </dev/null >"$log" 2>&1
    got=$?
  fi
  set -e
  ok=1
  [ "$got" = "$status" ] || ok=0
  if [ "$status" = 0 ] && ! grep -qx "PASS $name" <(tr -d '\r' <"$log"); then ok=0; fi
  if [ -n "$expect" ] && ! grep -qF -- "$expect" "$log"; then ok=0; fi
  if [ $ok = 1 ]; then
    printf 'ok      %s\n' "$name"
  else
    printf 'FAILED  %s (status %s, want %s)\n' "$name" "$got" "$status"
    sed 's/^/    /' "$log"
    failed=1
  fi
done <"$here/programs.txt"
exit $failed
