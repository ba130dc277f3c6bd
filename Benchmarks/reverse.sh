#!/usr/bin/env bash
# Reverse execution benchmark (issue 12): the default 4-hart Linux guest (auto power-off) recorded, then
# replayed under gdb-multiarch with its vmlinux, stopped at machine_power_off. Times, as gdb sees them:
#   reverse-stepi                       one instruction back on the stopped hart   (target <= 1 s)
#   reverse-continue                    back to a breakpoint hit ~10^7 instructions earlier (<= 2 s)
#   monitor seek 0, monitor seek back   the whole machine to G=0 and back to the end       (<= 2 s)
# The breakpoint: the pc of the stopped hart 10^7 instructions (of G) before the end, or a little earlier when
# that pc runs again later; the distance actually gone back is printed too.
# With --record the same gdb session drives a recording instead (`rrctl up --record LOG --gdb PORT`): going
# back replays the log written so far, and the final continue returns to live recording; the log must then
# replay to a match. That mode first prints the cost of recording under gdb: the wall time of a plain
# recording, and of one under gdb that only continues, with automatic checkpoints (the default) and with
# checkpoints off (an interval beyond the run: one at G=0 only).
# Run after `cluster/build-release.sh` and `cluster/build-guest.sh`:  Benchmarks/reverse.sh [--record]
set -euo pipefail
mode=replay
[ "${1:-}" != --record ] || mode=record
root=$(cd "$(dirname "$0")/.." && pwd)
rrctl=$root/.build/release/rrctl
guest=${RRVM_GUEST_DIR:-$root/cluster/out}
work=$(mktemp -d)
replay_pid=
cleanup() {
  [ -z "$replay_pid" ] || kill "$replay_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "reverse.sh: $*" >&2; exit 1; }
[ -x "$rrctl" ] || fail "build first: cluster/build-release.sh"
[ -f "$guest/Image" ] || fail "build the guest first: cluster/build-guest.sh"
vmlinux=$guest/vmlinux
[ -f "$vmlinux" ] || vmlinux=$guest/work/kernel-build/vmlinux
[ -f "$vmlinux" ] || fail "no vmlinux next to $guest/Image (cluster/build-guest.sh keeps one)"
command -v gdb-multiarch >/dev/null || fail "gdb-multiarch is not installed (cluster/install-deps.sh)"

guest_args=(--smp 4 --bios "$guest/fw_jump.bin" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio"
  --disk "$guest/disk.ext2" --append "console=ttyS0 earlycon rrvm_poweroff=1")
seconds() { local start=$1; echo "$(date +%s.%N) - $start" | bc; }

# The machine under gdb, in the background: a replay of boot.log, or a recording into live.log.
serve() {
  if [ "$mode" = replay ]; then
    "$rrctl" replay "$work/boot.log" --gdb 0 "$@" </dev/null >"$work/replay.out" 2>"$work/replay.err" &
  else
    "$rrctl" up "${guest_args[@]}" --record "$work/live.log" --force --gdb 0 "$@" </dev/null >"$work/replay.out" 2>"$work/replay.err" &
  fi
  replay_pid=$!
  port=
  for _ in $(seq 300); do
    port=$(grep -o "target remote :[0-9]*" "$work/replay.err" 2>/dev/null | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || fail "no GDB port: $(cat "$work/replay.err")"
}

start=$(date +%s.%N)
"$rrctl" up "${guest_args[@]}" --record "$work/boot.log" --force \
  </dev/null >"$work/record.out" 2>"$work/record.err" || { tail -5 "$work/record.err" >&2; fail "recording failed"; }
plain=$(seconds "$start")

if [ "$mode" = record ]; then
  # Recording under gdb that only continues to the power-off: with checkpoints, then without.
  for checkpoints in on off; do
    extra=()
    [ $checkpoints = on ] || extra=(--checkpoint-interval 1000000000000)
    start=$(date +%s.%N)
    serve "${extra[@]}"
    # No symbol file: loading vmlinux alone takes gdb about a second.
    gdb-multiarch -batch -nx -ex "set architecture riscv:rv64" -ex "target remote :$port" -ex continue \
      >"$work/gdb-$checkpoints.out" 2>&1 || true
    wait "$replay_pid" || fail "the recording under gdb failed: $(tail -3 "$work/replay.err")"
    replay_pid=
    printf 'BENCH %-44s %7.2f s\n' "record under gdb, checkpoints $checkpoints" "$(seconds "$start")" | sed 's/^BENCH //'
  done
  printf '%-44s %7.2f s\n' "record without gdb" "$plain"
fi

serve

cat >"$work/bench.py" <<'PY'
import re, time
import gdb

def run(command):
    return gdb.execute(command, to_string=True)

def timed(command):
    start = time.monotonic()
    output = run(command)
    return time.monotonic() - start, output

def when():
    return int(re.search(r"G=(\d+)", run("monitor when")).group(1))

def flush():
    run("maintenance flush register-cache")

run("break machine_power_off")
run("continue")
run("delete")
end = when()
step, _ = timed("reverse-stepi")
run("stepi")
flush()
# A breakpoint hit about 10^7 G before the end: the pc of the stopped hart there. A pc that runs again later
# (a loop) is hit nearer the end; then the next candidate, a little earlier.
for attempt in range(12):
    target = max(0, end - 10_000_000 - attempt * 2_000_000)
    run("monitor seek %d" % target)
    flush()
    pc = int(gdb.parse_and_eval("$pc")) & 0xffffffffffffffff
    run("monitor seek %d" % end)
    flush()
    run("break *0x%x" % pc)
    back, _ = timed("reverse-continue")
    hit = when()
    run("delete")
    run("monitor seek %d" % end)
    flush()
    if end - hit >= 9_000_000:
        break
to_start, _ = timed("monitor seek 0")
to_end, _ = timed("monitor seek %d" % end)
print("BENCH end G=%d" % end)
print("BENCH %-44s %7.3f s   (target <= 1 s, goal 0.3 s)" % ("reverse-stepi", step))
print("BENCH %-44s %7.3f s   (target <= 2 s, goal 0.3 s)" % ("reverse-continue, %d instructions back" % (end - hit), back))
print("BENCH %-44s %7.3f s   (target <= 2 s, goal 0.3 s)" % ("monitor seek 0", to_start))
print("BENCH %-44s %7.3f s   (target <= 2 s, goal 0.3 s)" % ("monitor seek back to the end", to_end))
print("BENCH %-44s %7.3f s" % ("seek 0 and back", to_start + to_end))
PY

gdb-multiarch -batch -nx -ex "set pagination off" -ex "target remote :$port" -x "$work/bench.py" -ex "continue" \
  "$vmlinux" >"$work/gdb.out" 2>&1 || true
grep '^BENCH ' "$work/gdb.out" | sed 's/^BENCH //' || { tail -20 "$work/gdb.out" >&2; fail "gdb printed no figures"; }
grep -q '^BENCH seek' "$work/gdb.out" || { tail -20 "$work/gdb.out" >&2; fail "the benchmark did not finish"; }
wait "$replay_pid" || true
replay_pid=
if [ "$mode" = record ]; then
  grep -q 'recording again' "$work/replay.err" || fail "the recording never returned to its present: $(tail -3 "$work/replay.err")"
  "$rrctl" replay "$work/live.log" </dev/null >"$work/check.out" 2>"$work/check.err" && cmp -s "$work/check.out" "$work/replay.out" \
    && echo "the log recorded while going back and forth replays to a match, with the same console output" \
    || { tail -3 "$work/check.err" >&2; fail "the log recorded under gdb does not replay to a match"; }
else
  grep -q 'matched the recording' "$work/replay.err" && echo "replay after going back and forth: matched the recording" \
    || { tail -3 "$work/replay.err" >&2; fail "the replay did not match its recording after going back"; }
fi
