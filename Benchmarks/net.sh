#!/usr/bin/env bash
# Network benchmark (issue 14): the default guest on 4 harts downloads a file (10 MB by default) from an
# HTTP server on the host's 127.0.0.1 (python3's http.server) through 10.0.2.2 while recording, and the
# recording is replayed. Prints the throughput host -> guest (in host wall time, the boot subtracted, and
# in the guest's own time) and the log bytes per MB received (the boot's log subtracted). Where
# qemu-system-riscv64 is installed, the same guest fetches the same file under QEMU (plain, 4 CPUs, the same
# devices) beside it.
# Run on a quiet machine after `cluster/build-release.sh` and `cluster/build-guest.sh`:
#   Benchmarks/net.sh [MB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rrctl=$root/.build/release/rrctl
guest=${RRVM_GUEST_DIR:-$root/cluster/out}
megabytes=${1:-10}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
[ -x "$rrctl" ] || { echo "net.sh: build first: cluster/build-release.sh" >&2; exit 1; }
[ -f "$guest/Image" ] || { echo "net.sh: build the guest first: cluster/build-guest.sh" >&2; exit 1; }
command -v python3 >/dev/null || { echo "net.sh: needs python3 (its http.server serves the file)" >&2; exit 1; }
export RRVM_GUEST_DIR=$guest

head -c $((megabytes * 1000000)) /dev/urandom >"$work/file.bin"
crc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$work/file.bin")
(cd "$work" && exec python3 -u -m http.server --bind 127.0.0.1 0 >"$work/server.out" 2>&1) &
server=$!
for _ in $(seq 50); do grep -q 'port' "$work/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/server.out" | head -1)
[ -n "$port" ] || { echo "net.sh: the HTTP server did not start: $(cat "$work/server.out")" >&2; exit 1; }

# Wall seconds of one run (it must succeed), its console kept in $work/out.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" </dev/null >"$work/out" 2>"$work/err" || { echo "net.sh: failed: $*" >&2; tail -5 "$work/out" "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
log_bytes() { "$rrctl" log stats "$1" | awk -F': ' '/^bytes:/ {print $2; exit}'; }

boot=$(seconds "$rrctl" up --smp 4 --record "$work/boot.log" --eval true)
fetch=$(seconds "$rrctl" up --smp 4 --record "$work/fetch.log" --eval "fetch -s http://10.0.2.2:$port/file.bin")
line=$(grep -a '^fetch: ' "$work/out" | tr -d '\r')
echo "$line" | grep -q "HTTP 200, $((megabytes * 1000000)) bytes, crc32 $crc" ||
  { echo "net.sh: the guest did not get the file intact: $line (want crc32 $crc)" >&2; exit 1; }
qemu_line=
if command -v qemu-system-riscv64 >/dev/null; then
  # The commands reach init as rrctl passes them (rrvm.eval=, spaces percent-encoded).
  qemu=(qemu-system-riscv64 -M virt -smp 4 -m 256M -nographic -bios "$guest/fw_jump.bin" -kernel "$guest/Image"
        -initrd "$guest/initramfs.cpio" -global virtio-mmio.force-legacy=false
        -drive "file=$guest/disk.ext2,format=raw,if=none,id=d0,snapshot=on" -device virtio-blk-device,drive=d0
        -device virtio-rng-device -netdev user,id=n0 -device virtio-net-device,netdev=n0)
  qemu_boot=$(seconds "${qemu[@]}" -append "console=ttyS0 earlycon rrvm.eval=true")
  qemu_fetch=$(seconds "${qemu[@]}" -append "console=ttyS0 earlycon rrvm.eval=fetch%20-s%20http://10.0.2.2:$port/file.bin")
  qemu_line=$(grep -a '^fetch: ' "$work/out" | tr -d '\r')
  echo "$qemu_line" | grep -q "HTTP 200, $((megabytes * 1000000)) bytes, crc32 $crc" ||
    { echo "net.sh: the guest under QEMU did not get the file intact: $qemu_line" >&2; exit 1; }
fi
kill "$server" && server=
replay=$(seconds "$rrctl" replay "$work/fetch.log")
guest_rate=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) MB\/s of guest time).*/\1/p')
boot_bytes=$(log_bytes "$work/boot.log")
fetch_bytes=$(log_bytes "$work/fetch.log")

printf '%-44s %s\n' "file" "$megabytes MB (10^6 bytes), crc32 $crc, checked in the guest"
printf '%-44s %.2f s (boot and power-off alone: %.2f s)\n' "record: boot, fetch, power-off" "$fetch" "$boot"
printf '%-44s %.2f MB/s\n' "throughput host -> guest, host wall time" "$(echo "$megabytes / ($fetch - $boot)" | bc -l)"
printf '%-44s %s MB/s\n' "throughput host -> guest, guest time" "$guest_rate"
printf '%-44s %.2f s, the server stopped\n' "replay" "$replay"
printf '%-44s %d (boot alone: %d)\n' "log bytes" "$fetch_bytes" "$boot_bytes"
printf '%-44s %.0f\n' "log bytes per MB received" "$(echo "($fetch_bytes - $boot_bytes) / $megabytes" | bc -l)"
if [ -n "$qemu_line" ]; then
  # QEMU without -icount runs the guest's clock on the host's: the fetch's own time is host wall time (its
  # boot varies too much from run to run for a subtraction).
  printf '%-44s %.2f s (boot and power-off alone: %.2f s)\n' "QEMU 7.2 plain -smp 4: boot, fetch, power-off" \
    "$qemu_fetch" "$qemu_boot"
  printf '%-44s %s MB/s\n' "QEMU throughput, host wall = guest time" \
    "$(echo "$qemu_line" | sed -n 's/.*(\([0-9.]*\) MB\/s of guest time).*/\1/p')"
fi
