#!/usr/bin/env bash
# libFuzzer over rrvm's untrusted-input decoders: the bus frame decoder and the log reader, each for a
# bounded time. Builds the fuzz target (Benchmarks/fuzz/rrvm-fuzz, which exists in the package only when
# RRVM_FUZZ=1, so the default build never sees it) with -sanitize=fuzzer,address (AddressSanitizer: a bad
# access in the decoders' unsafe-pointer code is a finding too, not only a trap) into its own scratch directory
# (.build/fuzz: every module is instrumented, so nothing is shared with the ordinary builds), then prints,
# per decoder, the inputs tried, their rate, the coverage reached and the crashes found (saved under
# .build/fuzz/findings/). Exits 1 if anything was found.
#   Benchmarks/fuzz/run.sh [SECONDS_PER_DECODER]      (default 60; RRVM_FUZZ_SECONDS also sets it)
# The corpus (.build/fuzz/corpus/) is kept between runs, so a later run starts where the last one ended.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-${RRVM_FUZZ_SECONDS:-60}}
cd "$root"
build=.build/fuzz
mkdir -p "$build"
# --manifest-cache none: the manifest differs with RRVM_FUZZ; no cached evaluation may leak either way.
# -use-ld=lld: the default linker (gold) fails on the instrumented objects with "internal error in
# format_file_lineno" (dwarf_reader.cc); the toolchain's own lld links them. libFuzzer's main is not
# linked (the target's main calls LLVMFuzzerRunDriver itself), so Swift's entry point is the only one.
RRVM_FUZZ=1 swift build -c release --scratch-path "$build" --manifest-cache none --product rrvm-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld >"$build.log" 2>&1 || { tail -20 "$build.log" >&2; exit 1; }
fuzzer=$build/release/rrvm-fuzz

printf '%-8s %7s %12s %10s %9s %8s %8s\n' decoder seconds inputs "inputs/s" coverage corpus crashes
status=0
for target in frames log; do
  corpus=$build/corpus/$target
  findings=$build/findings/$target
  rm -rf "$findings"
  mkdir -p "$corpus" "$findings"
  if [ "$target" = frames ]; then
    # Two small frames (3 bytes, then an empty one) behind the control byte (see fuzzFrames).
    printf '\x08\x03\x00\x00\x00abc\x00\x00\x00\x00' >"$corpus/seed-frames"
  else
    # Whole logs written by the recorder's LogWriter, and a bare preamble.
    "$fuzzer" --write-seed-logs "$corpus"
    printf 'RRVMLOG\n' >"$corpus/seed-magic"
  fi
  set +e
  RRVM_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$findings/" \
    -close_fd_mask=1 "$corpus" >"$build/$target.out" 2>&1
  set -e
  inputs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$build/$target.out")
  coverage=$(grep -Eo 'cov: [0-9]+' "$build/$target.out" | tail -1 | awk '{print $2}')
  entries=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$findings" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  printf '%-8s %7s %12s %10s %9s %8s %8s\n' "$target" "$seconds" "${inputs:-?}" "$(( ${inputs:-0} / seconds ))" \
    "${coverage:-?}" "$entries" "$crashes"
  if [ "$crashes" -gt 0 ] || [ -z "$inputs" ]; then
    status=1
    find "$findings" -type f | head -5 | sed 's/^/  finding: /'
    grep -m3 -E '^==[0-9]+==|Fatal error|Precondition failed' "$build/$target.out" | sed 's/^/  /' || true
  fi
done
echo "coverage: edges of the instrumented code reached (libFuzzer's cov); corpus: inputs kept in $build/corpus"
exit $status
