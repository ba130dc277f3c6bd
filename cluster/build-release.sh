#!/usr/bin/env bash
# Builds rrvm's executables in release mode (incrementally): only the project's own products, so that
# SwiftPM does not also build the tools of dependencies (swift-protobuf's protoc) that rrvm never runs.
# The Swift runtime and Foundation (FoundationEssentials for all but rrvm-bench) are linked statically: a cluster
# starts a dozen processes, and each then starts in about 4 ms instead of 11 (no dynamic relocation of
# Foundation). The linker warns about `mktemp` in the toolchain's static FoundationEssentials (not rrvm's code);
# rrvm never calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
# libstdc++ (the static Foundation's ICU is C++) is linked statically as well: loading and relocating the
# shared one was a third of each process's start-up (rrvm-hart: 2.7 -> 1.9 ms of task-clock, 316 -> 252 page
# faults). The static runtime's link line asks for `-lstdc++`, and the linker looks in SwiftPM's build
# directory before the compiler's, where the shared library is: the archive placed there is found first.
bin=$(swift build -c release --show-bin-path)
archive=$(clang -print-file-name=libstdc++.a)
mkdir -p "$bin"
if [ -f "$archive" ] && [ "$(readlink "$bin/libstdc++.a" || true)" != "$archive" ]; then
  ln -sfn "$archive" "$bin/libstdc++.a"
  # Executables linked against the shared library before are linked again.
  rm -f "$bin"/rrctl "$bin"/rrvm-sequencer "$bin"/rrvm-hart "$bin"/rrvm-device "$bin"/rrvm-bench
fi
# TERM is fixed for the build: SwiftPM chooses colour diagnostics from it, and a changed compiler command line
# rebuilds everything (a minute), e.g. the first `cluster/rrctl up` from tmux after one from another terminal.
for product in rrctl rrvm-sequencer rrvm-hart rrvm-device rrvm-bench; do
  TERM=dumb swift build -c release --static-swift-stdlib --product "$product"
done
