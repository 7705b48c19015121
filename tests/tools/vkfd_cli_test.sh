#!/usr/bin/env bash
# The vkfd command line: help, presets, validation, error lines and exit codes, ioctl logging, and a
# program that never touches /dev/kfd running unaffected.
# usage: vkfd_cli_test.sh VKFD
set -u
vkfd=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_usage_error DESCRIPTION ARGS...: exit 2 and exactly one line on stderr starting "vkfd: ".
expect_usage_error() {
  local what=$1; shift
  "$vkfd" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: stderr has $(wc -l <"$tmp/err") lines"
  grep -q '^vkfd: ' "$tmp/err" || fail "$what: stderr is '$(cat "$tmp/err")'"
}

"$vkfd" --help | grep -q 'usage: vkfd' || fail "vkfd --help"
"$vkfd" run --help | grep -q -- '--log-ioctls' || fail "vkfd run --help"
"$vkfd" topology --help | grep -q 'validate' || fail "vkfd topology --help"
[ "$("$vkfd" topology list | wc -l)" -ge 6 ] || fail "topology list"
"$vkfd" topology list | grep -q '^mi250x8 ' || fail "topology list names mi250x8"
"$vkfd" topology show mi210x4 | grep -q 'model = "mi210"' || fail "topology show"
"$vkfd" topology validate small-bar | grep -q '2 GPUs' || fail "topology validate preset"

expect_usage_error "unknown command" frobnicate
expect_usage_error "unknown option" run --gpuz 2 -- true
expect_usage_error "no program" run --gpus 2
expect_usage_error "bad gpu count" run --gpus 0 -- true
expect_usage_error "gpus and topology" run --gpus 2 --topology mi210x2 -- true
expect_usage_error "unknown preset" run --topology mi999 -- true
expect_usage_error "unknown preset (show)" topology show mi999
printf '[[gpu]]\nmodel = "mi210"\nvram = "3GB"\n' >"$tmp/bad.toml"
expect_usage_error "invalid file (validate)" topology validate "$tmp/bad.toml"
expect_usage_error "invalid file (run)" run --topology "$tmp/bad.toml" -- true
printf '[[gpu]]\nmodel = "mi210"\ncount = 3\n' >"$tmp/good.toml"
"$vkfd" topology validate "$tmp/good.toml" | grep -q '3 GPUs' || fail "validate a good file"
(cd / && "$vkfd" run --topology "$tmp/good.toml" -- ls /dev/dri) | grep -q renderD130 ||
  fail "run with a topology file lists its render nodes"

# A program that never touches /dev/kfd is unaffected.
[ "$("$vkfd" run --gpus 2 -- ls /)" = "$(ls /)" ] || fail "ls / differs under vkfd run"
"$vkfd" run -- sh -c 'exit 7'; [ $? -eq 7 ] || fail "exit status is passed through"
"$vkfd" run -- /nonexistent/program 2>/dev/null; [ $? -eq 127 ] || fail "missing program: 127"

# --log-ioctls: one decoded line per KFD ioctl, to a file.
"$vkfd" run --gpus 2 --log-ioctls="$tmp/log" -- rocminfo >/dev/null 2>&1 || fail "rocminfo with log"
grep -qE '^\[vkfd [0-9]+\] GET_VERSION \{major=1 minor=11\} = 0 <[0-9]+\.[0-9]{6}s>$' "$tmp/log" ||
  fail "GET_VERSION log line: $(grep GET_VERSION "$tmp/log")"
grep -qE 'DBG_TRAP \{\} = -1 EINVAL \(Invalid argument\)' "$tmp/log" || fail "DBG_TRAP log line"
grep -qE 'MAP_MEMORY_TO_GPU \{handle=0x[0-9a-f]+ n_devices=[0-9]+ n_success=[0-9]+\} = 0' "$tmp/log" ||
  fail "MAP log line"
grep -q 'GET_CLOCK_COUNTERS {gpu_id=0x1000 .*system_clock_freq=1000000000' "$tmp/log" ||
  fail "GET_CLOCK_COUNTERS log line"
# ... and to stderr.
"$vkfd" run --gpus 1 --log-ioctls -- rocminfo 2>&1 >/dev/null | grep -q 'ACQUIRE_VM {drm_fd=' ||
  fail "log to stderr"

[ "$failures" -eq 0 ] && echo "ok" || exit 1
