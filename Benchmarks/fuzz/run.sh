#!/usr/bin/env bash
# libFuzzer over rrvm's untrusted-input decoders: the bus frame decoder and the log reader, each for a
# bounded time. Builds the fuzz target (Benchmarks/fuzz/rrvm-fuzz, which exists in the package only when
# RRVM_FUZZ=1, so the default build never sees it) with -sanitize=fuzzer into .build/fuzz, then prints, per
# decoder, the inputs tried, their rate and the crashes found (saved under .build/fuzz/findings/).
#   Benchmarks/fuzz/run.sh [SECONDS_PER_DECODER]      (default 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
cd "$root"
build=.build/fuzz
# --manifest-cache none: the manifest differs with RRVM_FUZZ; no cached evaluation may leak either way.
RRVM_FUZZ=1 swift build -c release --build-path "$build" --manifest-cache none --product rrvm-fuzz \
  -Xswiftc -sanitize=fuzzer >"$build.log" 2>&1 || { tail -20 "$build.log" >&2; exit 1; }
fuzzer=$build/release/rrvm-fuzz

printf '%-8s %12s %14s %8s\n' decoder inputs "inputs/s" crashes
status=0
for target in frames log; do
  corpus=$build/corpus/$target
  findings=$build/findings/$target
  mkdir -p "$corpus" "$findings"
  # Seeds: two small frames; a log preamble (magic and version) with nothing after it.
  printf '\x08\x03\x00\x00\x00abc\x00\x00\x00\x00' >"$corpus/seed-frames"
  printf 'RRVMLOG\n' >"$corpus/seed-log"
  set +e
  RRVM_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$findings/" \
    -close_fd_mask=1 "$corpus" >"$build/$target.out" 2>&1
  set -e
  inputs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$build/$target.out")
  crashes=$(find "$findings" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  printf '%-8s %12s %14s %8s\n' "$target" "${inputs:-?}" "$(( ${inputs:-0} / seconds ))" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    status=1
    find "$findings" -type f | head -5 | sed 's/^/  finding: /'
  fi
done
exit $status
