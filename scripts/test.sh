#!/usr/bin/env bash
# The README's second command: install what is missing, then build and run the whole test suite —
# the normal build, then the ASan/UBSan and TSan builds (set VKFD_SANITIZERS=0 to skip those).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
status=0
run_suite() {
  local flavour=$1 dir=$2
  echo "=== vkfd tests: $flavour build ($dir)"
  "$top/scripts/build.sh" "$flavour" "$dir"
  (cd "$dir" && ctest --output-on-failure -j 2) || status=1
}
run_suite release "$top/build"
if [ "${VKFD_SANITIZERS:-1}" != 0 ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allow_user_segv_handler=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  export VKFD_TEST_SCALE=${VKFD_TEST_SCALE:-sanitizer}
  run_suite asan "$top/build-asan"
  run_suite tsan "$top/build-tsan"
fi
exit $status
