#!/usr/bin/env bash
# Boots the default guest (built by cluster/build-guest.sh) under qemu-system-riscv64, the
# reference to compare rrvm with. The console is this terminal (Ctrl-A X quits QEMU); the exit
# status is QEMU's, 0 after the guest powers off.
# Usage: cluster/guest/run-qemu.sh [--smp N] [extra qemu arguments...]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${RRVM_GUEST_DIR:-$here/../out}
smp=4
if [ "${1:-}" = --smp ]; then
  smp=$2
  shift 2
fi

command -v qemu-system-riscv64 >/dev/null ||
  { echo "run-qemu: qemu-system-riscv64 is not installed (Debian package qemu-system-misc)" >&2; exit 1; }
for file in fw_jump.bin Image initramfs.cpio disk.ext2; do
  [ -f "$dir/$file" ] ||
    { echo "run-qemu: $dir/$file is missing; run cluster/build-guest.sh first" >&2; exit 1; }
done

# snapshot=on: the guest mounts the disk read-only anyway, and the image must never change.
exec qemu-system-riscv64 -M virt -smp "$smp" -m 256M -nographic \
  -bios "$dir/fw_jump.bin" -kernel "$dir/Image" -initrd "$dir/initramfs.cpio" \
  -append "console=ttyS0 earlycon" \
  -drive "file=$dir/disk.ext2,format=raw,if=none,id=d0,snapshot=on" \
  -device virtio-blk-device,drive=d0 -device virtio-rng-device \
  -netdev user,id=n0 -device virtio-net-device,netdev=n0 "$@"
