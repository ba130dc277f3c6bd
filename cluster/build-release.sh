#!/usr/bin/env bash
# Builds rrvm's executables in release mode (incrementally): only the project's own products, so that
# SwiftPM does not also build the tools of dependencies (swift-protobuf's protoc) that rrvm never runs.
# The Swift runtime and Foundation are linked statically: a cluster starts a dozen processes, and each
# then starts in about 4 ms instead of 11 (no dynamic relocation of Foundation). The linker warns about
# `mktemp` in the toolchain's static Foundation (not rrvm's code); rrvm never calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
for product in rrctl rrvm-sequencer rrvm-hart rrvm-device rrvm-bench; do
  swift build -c release --static-swift-stdlib --product "$product"
done
