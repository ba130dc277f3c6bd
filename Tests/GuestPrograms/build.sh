#!/usr/bin/env bash
# Builds the bare-metal test programs into OUTDIR/<name>.elf with the Debian bare-metal cross compiler.
#   usage: build.sh OUTDIR [NAME...]     (no NAME: every program)
# A program is every <name>.c and <name>.S of one group directory (isa/, machine/, determinism/),
# linked with common/. An output newer than all of its inputs (its sources, common/, the group's
# headers and this script) is left alone. Progress goes to stderr; the ELF paths go to stdout.
# Environment: RRVM_GUEST_CC (default riscv64-unknown-elf-gcc); RRVM_GUEST_CFLAGS, compiler flags added after
# the usual ones (e.g. -DITERATIONS=20000 for a longer smp-contend: the benchmarks). An output built with other
# flags counts as up to date: build such variants into an OUTDIR of their own.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
groups=(isa machine determinism)
cc=${RRVM_GUEST_CC:-riscv64-unknown-elf-gcc}

fail() {
  printf 'guest programs: error: %s\n' "$*" >&2
  exit 1
}

[ $# -ge 1 ] || fail "usage: build.sh OUTDIR [NAME...]"
out=$1
shift
command -v "$cc" >/dev/null 2>&1 ||
  fail "$cc not found; install the bare-metal RISC-V compiler: apt-get install gcc-riscv64-unknown-elf"
mkdir -p "$out" || fail "cannot create $out"

flags=(
  -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -static -O2 -g
  -ffreestanding -fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables
  -Wall -Wextra -Werror
  -I"$here/common" -T "$here/common/link.ld" -Wl,--no-warn-rwx-segments
)
read -r -a extra_flags <<< "${RRVM_GUEST_CFLAGS:-}"
flags+=("${extra_flags[@]}")
common_sources=("$here/common/start.S" "$here/common/guest.c")

# name -> group, from the sources present.
declare -A group_of=()
for group in "${groups[@]}"; do
  for src in "$here/$group"/*.c "$here/$group"/*.S; do
    [ -e "$src" ] || continue
    name=$(basename "${src%.*}")
    if [ -n "${group_of[$name]:-}" ] && [ "${group_of[$name]}" != "$group" ]; then
      fail "program $name has sources in both ${group_of[$name]}/ and $group/"
    fi
    group_of[$name]=$group
  done
done

if [ $# -gt 0 ]; then
  names=("$@")
else
  mapfile -t names < <(printf '%s\n' "${!group_of[@]}" | sort)
fi

# True when $1 exists and is newer than every other argument.
up_to_date() {
  local target=$1 input
  shift
  [ -e "$target" ] || return 1
  for input in "$@"; do
    [ "$target" -nt "$input" ] || return 1
  done
}

built=0
current=0
for name in "${names[@]}"; do
  group=${group_of[$name]:-}
  [ -n "$group" ] || fail "no program named $name (looked in ${groups[*]})"
  sources=()
  for src in "$here/$group/$name.c" "$here/$group/$name.S"; do
    [ -e "$src" ] && sources+=("$src")
  done
  inputs=("${sources[@]}" "$here"/common/* "${BASH_SOURCE[0]}")
  for header in "$here/$group"/*.h; do
    [ -e "$header" ] && inputs+=("$header")
  done
  elf=$out/$name.elf
  if up_to_date "$elf" "${inputs[@]}"; then
    current=$((current + 1))
  else
    printf 'guest programs: building %s\n' "$name" >&2
    tmp=$out/.$name.elf.$$
    if ! "$cc" "${flags[@]}" -I"$here/$group" -DTEST_NAME="\"$name\"" -o "$tmp" \
      "${common_sources[@]}" "${sources[@]}"; then
      rm -f "$tmp"
      fail "building $name failed"
    fi
    mv -f "$tmp" "$elf"
    built=$((built + 1))
  fi
  printf '%s\n' "$elf"
done
printf 'guest programs: %d built, %d up to date in %s\n' "$built" "$current" "$out" >&2
