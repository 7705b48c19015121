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
for cmd in "" run topology inject bench support-matrix; do
  # (unquoted: "" is no word)
  { "$vkfd" $cmd --help >"$tmp/out" 2>"$tmp/err" && grep -q '^usage: vkfd' "$tmp/out" &&
    [ ! -s "$tmp/err" ]; } || fail "vkfd $cmd --help: usage on stdout, nothing on stderr, exit 0"
done
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

# amdgpu's module parameters with 6.1.y's defaults (issue 12 item 10).
[ "$("$vkfd" run --gpus 2 -- cat /sys/module/amdgpu/parameters/cwsr_enable)" = 1 ] ||
  fail "cwsr_enable under /sys/module/amdgpu/parameters"
[ "$("$vkfd" run --gpus 2 -- cat /sys/module/amdgpu/parameters/noretry)" = -1 ] ||
  fail "noretry under /sys/module/amdgpu/parameters"

# A program that never touches /dev/kfd is unaffected.
[ "$("$vkfd" run --gpus 2 -- ls /)" = "$(ls /)" ] || fail "ls / differs under vkfd run"
"$vkfd" run -- sh -c 'exit 7'; [ $? -eq 7 ] || fail "exit status is passed through"
"$vkfd" run -- /nonexistent/program 2>/dev/null; [ $? -eq 127 ] || fail "missing program: 127"

# --log-ioctls: one decoded line per KFD ioctl, to a file.
"$vkfd" run --gpus 2 --log-ioctls="$tmp/log" -- rocminfo >/dev/null 2>&1 || fail "rocminfo with log"
grep -qE '^\[vkfd [0-9]+\] GET_VERSION \{major=1 minor=11\} = 0 <[0-9]+\.[0-9]{6}s>$' "$tmp/log" ||
  fail "GET_VERSION log line: $(grep GET_VERSION "$tmp/log")"
# A refused ioctl still shows its arguments: an unknown number its raw bytes (issue 12 item 12).
grep -qE 'DBG_TRAP \{size=[0-9]+ bytes=[0-9a-f]+(\.\.\.)?\} = -1 ENOTTY \(Inappropriate ioctl for device\)' "$tmp/log" ||
  fail "DBG_TRAP log line: $(grep DBG_TRAP "$tmp/log")"
grep -qE 'MAP_MEMORY_TO_GPU \{handle=0x[0-9a-f]+ n_devices=[0-9]+ n_success=[0-9]+\} = 0' "$tmp/log" ||
  fail "MAP log line"
grep -q 'GET_CLOCK_COUNTERS {gpu_id=0x1000 .*system_clock_freq=1000000000' "$tmp/log" ||
  fail "GET_CLOCK_COUNTERS log line"
# ... and to stderr.
"$vkfd" run --gpus 1 --log-ioctls -- rocminfo 2>&1 >/dev/null | grep -q 'ACQUIRE_VM {drm_fd=' ||
  fail "log to stderr"

# Fault injection from the command line.
[ "$("$vkfd" inject --list | wc -l)" -eq 10 ] || fail "inject --list: 10 points"
"$vkfd" inject --list | grep -qx 'map.page_tables' || fail "inject --list names map.page_tables"
"$vkfd" inject --check 'map.page_tables[gpu=1,nth=2]:ENOMEM;map.wait:signal=SIGUSR1' | grep -qx ok ||
  fail "inject --check of a valid spec"
expect_usage_error "unknown point (check)" inject --check 'map.foo:ENOMEM'
grep -q 'valid: alloc.reserve, alloc.backing' "$tmp/err" || fail "unknown point lists the valid ones"
expect_usage_error "unknown point (run)" run --inject 'map.foo:ENOMEM' -- true
grep -q 'map.page_tables' "$tmp/err" || fail "run --inject: message names the points"
expect_usage_error "errno the driver cannot return there" run --inject 'map.wait:ENOMEM' -- true
expect_usage_error "malformed option" run --inject 'map.wait[often]:EINTR' -- true
expect_usage_error "bad seed" run --inject 'free:EINTR' --inject-seed x1 -- true
expect_usage_error "--inject-log without --inject" run --inject-log "$tmp/f" -- true
expect_usage_error "bad duration" run --dma-latency 5xs -- true
expect_usage_error "option without its value" run --gpus
expect_usage_error "empty value after =" run --log-ioctls= -- true
expect_usage_error "empty value after =, a value after it" run --dma-latency= 2ms -- true

# PROGRAM's arguments are passed as they are, words that look like options (or like a list to a
# command-line parser) among them; with "--" or without.
args=$("$vkfd" run -- sh -c 'printf "<%s>" "$@"' sh -h --gpus 3 '[a,b]' '{}' '' --x= --)
[ "$args" = "<-h><--gpus><3><[a,b]><{}><><--x=><-->" ] || fail "arguments after --: $args"
args=$("$vkfd" run --gpus 1 sh -c 'printf "<%s>" "$@"' sh --version -- -h)
[ "$args" = "<--version><--><-h>" ] || fail "arguments without --: $args"
# --log-ioctls takes a value only after "=": the next word is the program.
[ "$("$vkfd" run --log-ioctls sh -c 'echo "$VKFD_LOG_IOCTLS"')" = "-" ] ||
  fail "--log-ioctls PROGRAM: logs to stderr and runs PROGRAM"

# The same seed reproduces the same faults; the log names point, call and GPU.
spec='map.page_tables[p=0.3]:ENOMEM;alloc.reserve[p=0.2]:ENOMEM'
for run in 1 2; do
  # (rocminfo may abort on these faults; the braces keep the shell's job message quiet.)
  { "$vkfd" run --gpus 4 --inject "$spec" --inject-seed 9 --inject-log "$tmp/inj$run" -- rocminfo \
    >/dev/null 2>&1; } 2>/dev/null
  sed 's/^\[vkfd [0-9]*\] //' "$tmp/inj$run" >"$tmp/inj$run.clean"
done
grep -qxF "inject armed '$spec' seed=9" "$tmp/inj1.clean" || fail "log names spec and seed"
grep -qE '^inject map.page_tables call=[0-9]+ gpu=[0-3] effect=ENOMEM$' "$tmp/inj1.clean" ||
  fail "log line of a firing: $(head -3 "$tmp/inj1.clean")"
cmp -s "$tmp/inj1.clean" "$tmp/inj2.clean" || fail "same seed, different faults"
{ "$vkfd" run --gpus 4 --inject "$spec" --inject-seed 10 --inject-log "$tmp/inj3" -- rocminfo \
  >/dev/null 2>&1; } 2>/dev/null
sed 's/^\[vkfd [0-9]*\] //' "$tmp/inj3" >"$tmp/inj3.clean"
cmp -s "$tmp/inj1.clean" "$tmp/inj3.clean" && fail "another seed gave the same faults"
# Without --inject-seed a seed is chosen and reported.
"$vkfd" run --gpus 1 --inject 'free[nth=1000]:EINTR' -- rocminfo 2>&1 >/dev/null |
  grep -qE "inject armed 'free\[nth=1000\]:EINTR' seed=[0-9]+" || fail "a chosen seed is reported"

# --dma-latency: every page-table job takes at least that long, so MAP waits for it.
"$vkfd" run --gpus 2 --dma-latency 3ms --log-ioctls="$tmp/slow" -- rocminfo >/dev/null 2>&1 ||
  fail "rocminfo with --dma-latency"
slowest=$(sed -n 's/.*MAP_MEMORY_TO_GPU .* = 0 <\([0-9.]*\)s>$/\1/p' "$tmp/slow" | sort -n | head -1)
awk -v t="${slowest:-0}" 'BEGIN { exit !(t >= 0.003) }' ||
  fail "fastest MAP with --dma-latency 3ms took ${slowest:-?} s"

[ "$failures" -eq 0 ] && echo "ok" || exit 1
