#!/usr/bin/env bash
# Configures and builds one flavour of vkfd.
# Usage: scripts/build.sh [FLAVOUR] [BUILD_DIR] [TARGET...]
#   release        RelWithDebInfo, the default compiler (g++): what the tests and the tool use
#   release-gcc    Release (-O3) with g++ 12          } built by .ci/run so that an optimised build
#   release-clang  Release (-O3) with clang 14        } cannot break unnoticed
#   asan           Debug, clang 14, ASan + UBSan
#   tsan           RelWithDebInfo, clang 14, TSan
# TARGETs limit the build (e.g. `vkfd` builds the tool and its interposer only).
# VKFD_WERROR=ON makes warnings errors (.ci/run sets it; a user's build does not need it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
clang=(-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14)
case "$flavour" in
  release) dir=${2:-$top/build}; extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  release-gcc) dir=${2:-$top/build-release-gcc}
               extra=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++) ;;
  release-clang) dir=${2:-$top/build-release-clang}; extra=(-DCMAKE_BUILD_TYPE=Release "${clang[@]}") ;;
  asan) dir=${2:-$top/build-asan}
        extra=(-DCMAKE_BUILD_TYPE=Debug -DVKFD_SANITIZE=address,undefined -DVKFD_BUILD_BENCH=OFF
               "${clang[@]}") ;;
  tsan) dir=${2:-$top/build-tsan}
        extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKFD_SANITIZE=thread -DVKFD_BUILD_BENCH=OFF
               "${clang[@]}") ;;
  *) echo "usage: $0 [release|release-gcc|release-clang|asan|tsan] [BUILD_DIR] [TARGET...]" >&2
     exit 2 ;;
esac
shift $(( $# < 2 ? $# : 2 ))
targets=()
for t in "$@"; do targets+=(--target "$t"); done
generator=()
if command -v ninja >/dev/null && [ ! -f "$dir/Makefile" ]; then generator=(-G Ninja); fi
cmake -S "$top" -B "$dir" "${generator[@]}" "${extra[@]}" -DVKFD_WERROR="${VKFD_WERROR:-OFF}" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
