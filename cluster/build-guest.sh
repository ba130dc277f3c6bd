#!/usr/bin/env bash
# Builds the default rrvm guest from Debian packages into $RRVM_GUEST_DIR (default cluster/out):
#   Image           Linux 6.1 (linux-source-6.1), tinyconfig + cluster/guest/kernel.config
#   vmlinux         the same kernel with its symbols, for gdb-multiarch (rrctl replay --gdb)
#   initramfs.cpio  cluster/guest/init.c (+ net.c) as a static /init
#   disk.ext2       the files of cluster/guest/disk/
#   fw_jump.bin     OpenSBI from the opensbi package
#   manifest.txt    what was built, from what, with sizes and SHA-256 sums
# Each part is rebuilt only when its inputs change (a hash of them is kept in stamps/).
# Progress goes to stderr; on success the output directory is printed on stdout.
# Environment: RRVM_GUEST_DIR (output directory), RRVM_GUEST_JOBS (make -j, default 2),
# RRVM_GUEST_VERBOSE=1 (show the whole kernel build), SOURCE_DATE_EPOCH (timestamps inside the
# images; fixed by default so that the same inputs give byte-identical images).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest_src=$here/guest
out=${RRVM_GUEST_DIR:-$here/out}
jobs=${RRVM_GUEST_JOBS:-2}
epoch=${SOURCE_DATE_EPOCH:-1735689600}   # 2025-01-01 00:00:00 UTC
linux_tarball=/usr/src/linux-source-6.1.tar.xz
linux_package=linux-source-6.1
opensbi_fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
cross=riscv64-linux-gnu-
disk_size=8M
disk_uuid=8f1c2d3e-5a6b-4c7d-9e0f-a1b2c3d4e5f6   # fixed, like the timestamps: reproducible images
default_append="console=ttyS0 earlycon"
# Recipe versions: bump one to force a rebuild of that part after changing how it is built.
kernel_recipe=1
initramfs_recipe=1
disk_recipe=2

export PATH=$PATH:/usr/sbin:/sbin   # mke2fs lives in /usr/sbin, outside a user's PATH

started=$SECONDS
progress() { printf 'rrvm guest: %s\n' "$*" >&2; }
fail() {
  printf 'rrvm guest: error: %s\n' "$*" >&2
  exit 1
}
elapsed() { printf '%dm%02ds' $(((SECONDS - $1) / 60)) $(((SECONDS - $1) % 60)); }

# Fails naming the installer when a command or file this step needs is absent.
require() {
  local missing=()
  for need in "$@"; do
    case $need in
      /*) [ -e "$need" ] || missing+=("$need") ;;
      *) command -v "$need" >/dev/null 2>&1 || missing+=("$need") ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] ||
    fail "missing ${missing[*]}; install the build dependencies with: RRVM_WITH_KERNEL=1 cluster/install-deps.sh"
}

package_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# A stamp holds the hash of a part's inputs and the hash of the output it produced; the part is
# current when both still match (so an output edited or deleted by hand is rebuilt too).
stamp_current() { # part key output
  [ -f "$out/stamps/$1" ] && [ -f "$3" ] &&
    [ "$(cat "$out/stamps/$1")" = "$2 $(sha256 "$3")" ]
}
write_stamp() { # part key output
  mkdir -p "$out/stamps"
  echo "$2 $(sha256 "$3")" >"$out/stamps/$1"
}
# Installs a freshly built file atomically, so an interrupted build never leaves a torn output.
install_output() { # built-file name
  cp "$1" "$out/$2.tmp"
  mv -f "$out/$2.tmp" "$out/$2"
}

work=$out/work
mkdir -p "$work"
exec 9>"$out/.lock"
flock -n 9 || {
  progress "waiting for another build in $out"
  flock 9
}

require sha256sum dpkg-query "$linux_tarball"
linux_version=$(package_version $linux_package)
cross_gcc_version=$("${cross}gcc" --version 2>/dev/null | head -1 || echo missing)
linux_src=$work/linux-$linux_version

# The kernel source tree, unpacked once per linux-source package version.
unpack_linux() {
  [ -f "$linux_src/.rrvm-unpacked" ] && return
  require tar xz
  rm -rf "$work"/linux-*
  progress "unpacking $linux_package $linux_version (about a minute)"
  mkdir -p "$linux_src"
  tar -xJf "$linux_tarball" -C "$linux_src" --strip-components=1
  touch "$linux_src/.rrvm-unpacked"
}

kernel_make() { # target...
  make -C "$linux_src" O="$work/kernel-build" ARCH=riscv CROSS_COMPILE=$cross \
    KBUILD_BUILD_USER=rrvm KBUILD_BUILD_HOST=rrvm KBUILD_BUILD_VERSION=1 \
    KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$epoch" '+%a %b %e %H:%M:%S UTC %Y')" "$@"
}

# tinyconfig, then the fragment's lines override it; olddefconfig resolves the rest. Every line
# of the fragment must survive: an option whose dependencies are unmet is silently dropped by
# Kconfig, and that is a build error here.
configure_kernel() {
  local build=$work/kernel-build fragment=$guest_src/kernel.config
  local log=$work/kernel-config.log
  kernel_make -s tinyconfig >"$log" 2>&1 || {
    cat "$log" >&2
    fail "make tinyconfig failed"
  }
  local symbols
  symbols=$(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p' \
    -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$fragment")
  {
    grep -v -w -F "$symbols" "$build/.config" || true
    grep -E '^(CONFIG_|# CONFIG_.* is not set$)' "$fragment"
  } >"$build/.config.merged"
  mv "$build/.config.merged" "$build/.config"
  # Kconfig warns about choices (HZ, NO_HZ) switched by the fragment: expected, kept in the log.
  kernel_make -s olddefconfig >>"$log" 2>&1 || {
    cat "$log" >&2
    fail "make olddefconfig failed"
  }
  local wanted symbol got unmet=()
  while IFS= read -r wanted; do
    symbol=${wanted#\# }
    symbol=${symbol%%[= ]*}
    got=$(grep -E "^(# )?$symbol[= ]" "$build/.config" || echo "$symbol absent")
    case $wanted in
      CONFIG_*) [ "$got" = "$wanted" ] || unmet+=("$wanted (got: $got)") ;;
      *) [[ $got != "$symbol="* ]] || unmet+=("$wanted (got: $got)") ;;
    esac
  done < <(grep -E '^(CONFIG_|# CONFIG_.* is not set$)' "$fragment")
  if [ ${#unmet[@]} -gt 0 ]; then
    printf 'rrvm guest: not in the final kernel .config as asked: %s\n' "${unmet[@]}" >&2
    fail "cluster/guest/kernel.config asks for options Kconfig did not keep (unmet dependencies?)"
  fi
}

# Runs the kernel build, printing a progress line every 200 compiled files (or everything with
# RRVM_GUEST_VERBOSE=1); the full output is kept in work/kernel-build.log.
compile_kernel() {
  local log=$work/kernel-build.log since=$SECONDS compiled=0 line
  : >"$log"
  if ! kernel_make -j"$jobs" Image 2>&1 | while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    if [ "${RRVM_GUEST_VERBOSE:-0}" = 1 ]; then
      printf '%s\n' "$line" >&2
    elif [[ $line == "  CC "* || $line == "  AS "* ]]; then
      compiled=$((compiled + 1))
      [ $((compiled % 200)) -ne 0 ] || progress "kernel: $compiled files compiled ($(elapsed "$since"))"
    fi
  done; then
    tail -n 30 "$log" >&2
    fail "the kernel build failed; full log: $log"
  fi
}

build_kernel() {
  local key
  key=$( {
    echo "kernel recipe $kernel_recipe, $linux_package $linux_version, $cross_gcc_version, epoch $epoch"
    cat "$guest_src/kernel.config"
  } | sha256sum | cut -d' ' -f1)
  if stamp_current kernel "$key" "$out/Image"; then
    progress "kernel: up to date ($(stat -c %s "$out/Image") bytes)"
    # vmlinux (the kernel with symbols, for gdb) came later than Image: an older output gets it here.
    [ -e "$out/vmlinux" ] || [ ! -e "$work/kernel-build/vmlinux" ] || install_output "$work/kernel-build/vmlinux" vmlinux
    return
  fi
  require "${cross}gcc" make gcc flex bison bc perl
  unpack_linux
  # A build directory made from another source tree (another version, or the output directory
  # was moved: kbuild keeps absolute paths) is not reused.
  if [ "$(cat "$work/kernel-build/.rrvm-source" 2>/dev/null)" != "$linux_src" ]; then
    rm -rf "$work/kernel-build"
    mkdir -p "$work/kernel-build"
    echo "$linux_src" >"$work/kernel-build/.rrvm-source"
  fi
  progress "kernel: configuring Linux $linux_version (tinyconfig + cluster/guest/kernel.config)"
  configure_kernel
  local since=$SECONDS
  progress "kernel: building Image with make -j$jobs (a few minutes on 2 cores)"
  compile_kernel
  install_output "$work/kernel-build/arch/riscv/boot/Image" Image
  install_output "$work/kernel-build/.config" linux.config
  # The same kernel with its symbols, for debugging the guest (rrctl replay --gdb; gdb-multiarch vmlinux).
  install_output "$work/kernel-build/vmlinux" vmlinux
  write_stamp kernel "$key" "$out/Image"
  progress "kernel: Image built in $(elapsed "$since"), $(stat -c %s "$out/Image") bytes"
}

build_initramfs() {
  local key
  key=$( {
    echo "initramfs recipe $initramfs_recipe, $cross_gcc_version, $linux_package $linux_version, epoch $epoch"
    cat "$guest_src/init.c" "$guest_src/net.c" "$guest_src/net.h"
  } | sha256sum | cut -d' ' -f1)
  if stamp_current initramfs "$key" "$out/initramfs.cpio"; then
    progress "initramfs: up to date"
    return
  fi
  require "${cross}gcc" gcc /usr/riscv64-linux-gnu/lib/libc.a
  progress "initramfs: compiling init.c (static) and packing initramfs.cpio"
  local dir=$work/initramfs
  rm -rf "$dir"
  mkdir -p "$dir"
  # gen_init_cpio (from the kernel source) writes device nodes and root ownership without root.
  if [ -f "$linux_src/.rrvm-unpacked" ]; then
    cp "$linux_src/usr/gen_init_cpio.c" "$dir/"
  else
    require tar xz
    tar -xJf "$linux_tarball" -O "$linux_package/usr/gen_init_cpio.c" >"$dir/gen_init_cpio.c"
  fi
  gcc -O2 -o "$dir/gen_init_cpio" "$dir/gen_init_cpio.c"
  "${cross}gcc" -static -O2 -s -pthread -Wall -Wextra -Werror -o "$dir/init" "$guest_src/init.c" "$guest_src/net.c"
  touch -d "@$epoch" "$dir/init"
  cat >"$dir/list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0555 0 0
dir /sys 0555 0 0
dir /mnt 0755 0 0
file /init $dir/init 0755 0 0
EOF
  "$dir/gen_init_cpio" -t "$epoch" "$dir/list" >"$dir/initramfs.cpio"
  install_output "$dir/initramfs.cpio" initramfs.cpio
  write_stamp initramfs "$key" "$out/initramfs.cpio"
  progress "initramfs: $(stat -c %s "$out/initramfs.cpio") bytes (init $(stat -c %s "$dir/init") bytes)"
}

build_disk() {
  require mke2fs debugfs
  local key
  key=$( {
    echo "disk recipe $disk_recipe, size $disk_size, $(mke2fs -V 2>&1 | head -1), epoch $epoch"
    cd "$guest_src/disk" && find . -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' path; do
      printf '%s %s\n' "$path" "$(stat -c %A "$path")"
      if [ -f "$path" ]; then sha256 "$path"; fi
    done
  } | sha256sum | cut -d' ' -f1)
  if stamp_current disk "$key" "$out/disk.ext2"; then
    progress "disk: up to date"
    return
  fi
  progress "disk: making a $disk_size ext2 image from cluster/guest/disk/"
  local root=$work/disk-root
  rm -rf "$root" "$work/disk.ext2"
  cp -R "$guest_src/disk" "$root"
  find "$root" -exec touch -h -d "@$epoch" {} +
  E2FSPROGS_FAKE_TIME=$epoch mke2fs -q -F -t ext2 -L rrvm -U "$disk_uuid" \
    -E "hash_seed=$disk_uuid,root_owner=0:0" -d "$root" "$work/disk.ext2" "$disk_size" >/dev/null
  # mke2fs -d copies each file's ctime, which touch cannot set: pin it like the other times.
  (cd "$root" && find . -mindepth 1 | while IFS= read -r path; do
    printf 'set_inode_field "%s" ctime @%s\n' "${path#.}" "$epoch"
  done) >"$work/disk-ctimes"
  E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$work/disk-ctimes" "$work/disk.ext2" >/dev/null 2>"$work/debugfs.log" ||
    fail "debugfs could not set the file times in disk.ext2 (see $work/debugfs.log)"
  install_output "$work/disk.ext2" disk.ext2
  write_stamp disk "$key" "$out/disk.ext2"
}

copy_firmware() {
  require "$opensbi_fw"
  cmp -s "$opensbi_fw" "$out/fw_jump.bin" 2>/dev/null || install_output "$opensbi_fw" fw_jump.bin
}

# key=value lines; paths are relative to the manifest's directory.
write_manifest() {
  local manifest=$out/manifest.txt.tmp
  {
    echo "# rrvm default guest, built by cluster/build-guest.sh; paths relative to this file"
    echo "format=1"
    echo "smp=4"
    echo "memory=256M"
    echo "append=$default_append"
    local role file source
    while read -r role file source; do
      echo "$role=$file"
      echo "$role.bytes=$(stat -c %s "$out/$file")"
      echo "$role.sha256=$(sha256 "$out/$file")"
      echo "$role.source=$source"
    done <<EOF
bios fw_jump.bin opensbi $(package_version opensbi)
kernel Image $linux_package $linux_version + cluster/guest/kernel.config
initrd initramfs.cpio cluster/guest/init.c
disk disk.ext2 cluster/guest/disk/
EOF
  } >"$manifest"
  mv -f "$manifest" "$out/manifest.txt"
}

progress "building the default guest in $out"
build_kernel
build_initramfs
build_disk
copy_firmware
write_manifest
progress "done in $(elapsed "$started"): Image initramfs.cpio disk.ext2 fw_jump.bin manifest.txt"
echo "$out"
