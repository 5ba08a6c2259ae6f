#!/usr/bin/env bash
# Compiles every *.bpf.c into a BPF object with BTF beside its compiled TypeScript:
# bpf/X.bpf.c -> dist/bpf/X.bpf.o, test/fixtures/X.bpf.c -> dist/test/fixtures/X.bpf.o,
# against a vmlinux.h taken from the running kernel's BTF.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { # need COMMAND-OR-FILE PACKAGES: one clear line naming what to install
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then
    echo "bpf build: $1 is missing; install it with: apt-get install $2" >&2
    exit 1
  fi
}
need clang "clang llvm"
need bpftool bpftool
need /usr/include/bpf/bpf_helpers.h libbpf-dev

include=dist/bpf/include
mkdir -p "$include" dist/test/fixtures
if [ ! -s "$include/vmlinux.h" ]; then
  if [ ! -r /sys/kernel/btf/vmlinux ]; then
    echo "bpf build: /sys/kernel/btf/vmlinux is missing; the kernel needs CONFIG_DEBUG_INFO_BTF=y" >&2
    exit 1
  fi
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$include/vmlinux.h.tmp"
  mv "$include/vmlinux.h.tmp" "$include/vmlinux.h"
fi

case "$(uname -m)" in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

compile() { # compile SOURCE OBJECT
  clang -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_"$arch" -Wall -Werror \
    -I "$include" -I bpf/include -c "$1" -o "$2"
}

shopt -s nullglob
for source in bpf/*.bpf.c; do
  compile "$source" "dist/bpf/$(basename "${source%.c}").o"
done
for source in test/fixtures/*.bpf.c; do
  compile "$source" "dist/test/fixtures/$(basename "${source%.c}").o"
done
