#!/usr/bin/env bash
# `cmake --install` of the build tree into a fresh prefix: the installed vkfd finds its installed
# interposer (relative to its own binary, not the build tree) and runs rocminfo on it.
# usage: install_test.sh BUILD_DIR
set -u
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL: cmake --install"; exit 1; }
[ -x "$prefix/bin/vkfd" ] || { echo "FAIL: no $prefix/bin/vkfd"; exit 1; }
out=$(cd / && env -u VKFD_PRELOAD_LIB "$prefix/bin/vkfd" run --gpus 2 -- rocminfo 2>/dev/null)
[ "$(grep -cE '^  Name: +gfx90a' <<<"$out")" -eq 2 ] || { echo "FAIL: installed vkfd + rocminfo"; exit 1; }
[ -f "$prefix/include/vkfd/vkfd_ioctl.h" ] || { echo "FAIL: no installed vkfd/vkfd_ioctl.h"; exit 1; }
# And it is the installed library that the installed tool preloads.
preload=$("$prefix/bin/vkfd" run --gpus 1 -- sh -c 'echo "$LD_PRELOAD"')
case "$preload" in
  *"$prefix/lib/vkfd/libvkfd-preload.so"*) ;;
  *) echo "FAIL: installed vkfd preloads '$preload'"; exit 1 ;;
esac
# The installed conformance runner, found by the installed tool.
if [ -x "$build/libexec/vkfd/vkfd-conformance" ]; then
  rules=$("$prefix/bin/vkfd" conformance --list 2>&1 | grep -c "kfd_ioctl_map_memory_to_gpu")
  [ "$rules" -gt 0 ] || { echo "FAIL: installed vkfd conformance --list"; exit 1; }
fi
echo "ok: installed to $prefix, rocminfo lists 2 GPUs"
