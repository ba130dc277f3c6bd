#!/usr/bin/env bash
# Installs the Debian packages rrvm needs to build, test and boot its guests.
# Idempotent: packages already present are skipped, so it is cheap to run again.
set -euo pipefail

packages=(
  libuv1-dev pkg-config                                  # the bus
  libslirp-dev                                          # user-mode networking (virtio-net)
  gcc-riscv64-unknown-elf binutils-riscv64-unknown-elf  # bare-metal test programs
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross         # static guest programs
  opensbi                                               # firmware (fw_jump.bin)
  device-tree-compiler                                  # dtc, to check generated device trees
  e2fsprogs                                             # mke2fs for the guest disk
  gdb-multiarch                                         # the debugger the --gdb tests attach
)
if [ "${RRVM_WITH_KERNEL:-0}" = 1 ]; then
  packages+=(linux-source-6.1 make gcc flex bison bc xz-utils)
fi
if [ "${RRVM_WITH_REFERENCE:-0}" = 1 ]; then
  packages+=(qemu-system-misc)                          # the tests' reference (device tree, OpenSBI); rrvm never runs it
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "rrvm: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
