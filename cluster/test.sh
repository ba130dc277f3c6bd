#!/usr/bin/env bash
# The test suite, set-up included: Debian packages, the release binaries that the end-to-end tests
# drive, the bare-metal guest programs, then `swift test`. Extra arguments go to `swift test`
# (e.g. --filter RRBusTests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RRVM_WITH_KERNEL=1 RRVM_WITH_REFERENCE=1 "$root/cluster/install-deps.sh"
echo "== release build" >&2
cluster/build-release.sh
echo "== guest programs" >&2
export RRVM_GUEST_PROGRAMS="$root/.build/guest-programs"
if [ -x Tests/GuestPrograms/build.sh ]; then Tests/GuestPrograms/build.sh "$RRVM_GUEST_PROGRAMS"; fi
echo "== default guest (Linux 6.1, OpenSBI, initramfs, disk)" >&2
export RRVM_GUEST_DIR="${RRVM_GUEST_DIR:-$root/cluster/out}"
bash cluster/build-guest.sh >/dev/null
export RRVM_BIN_DIR="$root/.build/release"
echo "== swift test" >&2
swift test "$@"
