#!/usr/bin/env bash
# Builds rrvm's executables in release mode (incrementally): only the project's own products, so that
# SwiftPM does not also build the tools of dependencies (swift-protobuf's protoc) that rrvm never runs.
set -euo pipefail
cd "$(dirname "$0")/.."
for product in rrctl rrvm-sequencer rrvm-hart rrvm-device rrvm-bench; do
  swift build -c release --product "$product"
done
