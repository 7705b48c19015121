#!/usr/bin/env bash
# Configures and builds one flavour of vkfd. Usage: scripts/build.sh [release|asan|tsan] [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
  release) dir=${2:-$top/build}; extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=${2:-$top/build-asan}
        extra=(-DCMAKE_BUILD_TYPE=Debug -DVKFD_SANITIZE=address,undefined -DVKFD_BUILD_BENCH=OFF
               -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14) ;;
  tsan) dir=${2:-$top/build-tsan}
        extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKFD_SANITIZE=thread -DVKFD_BUILD_BENCH=OFF
               -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14) ;;
  *) echo "usage: $0 [release|asan|tsan] [BUILD_DIR]" >&2; exit 2 ;;
esac
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$top" -B "$dir" "${generator[@]}" "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
