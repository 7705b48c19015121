#!/usr/bin/env bash
# Real clients under fault injection: runs Debian's rocminfo and the libhsakmt test program
# (tests/clients/hsakmt_client.c) under each injection of the table below on 4 emulated GPUs, and
# prints one Markdown row per run: what fired, how the client ended, and how many of its BOs were still
# mapped when it exited (after its own cleanup) beyond a fault-free run — the table of
# docs/failure-behaviour.md.
#
# usage: failure_matrix.sh VKFD HSAKMT_CLIENT [--check EXPECTED.md]
#   --check: compare the outcome column with the table in EXPECTED.md (the doc) and fail on a change.
set -u
vkfd=$1; client=$2; shift 2
check=""
if [ "${1:-}" = "--check" ]; then check=$2; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Injection specs, one per row. Seeds are fixed so every row reproduces exactly.
specs=(
  "alloc.reserve[nth=1]:ENOMEM"
  "alloc.reserve[nth=12]:ENOMEM"
  "alloc.backing[gpu=0,nth=3]:ENOMEM"
  "map.peer_access[gpu=1,nth=1]:EINVAL"
  "map.page_tables[gpu=2,nth=2]:ENOMEM"
  "map.page_tables[gpu=3,nth=6]:ENOMEM"
  "dma.submit[gpu=1,nth=3]:ENOMEM"
  "dma.job[gpu=0,every=2]:EIO"
  "map.wait[nth=3]:EINTR"
  "map.wait[every=1]:EINTR"
  "map.wait[nth=3]:signal=SIGCHLD"
  "map.wait[nth=3]:signal=SIGUSR1"
  "unmap.gpu[gpu=1,nth=1]:ENOMEM"
  "unmap.wait[nth=1]:EINTR"
  "free[nth=1]:ENOMEM"
  "free[nth=2]:EINTR"
  "map.page_tables[p=0.2]:ENOMEM"
)
seed=42

# run CLIENT_NAME SPEC -> sets rc, fired, mapped, first_error
run() {
  local name=$1 spec=$2 cmd
  case $name in
    rocminfo) cmd=(rocminfo) ;;
    hsakmt) cmd=("$client") ;;
  esac
  : >"$tmp/log"
  # (The braces keep the shell's own "Aborted" job messages out of the table.)
  { timeout -s KILL 10 "$vkfd" run --gpus 4 --inject "$spec" --inject-seed $seed \
      --inject-log "$tmp/log" -- "${cmd[@]}" >"$tmp/out" 2>"$tmp/err"; } 2>/dev/null
  rc=$?
  fired=$(grep -c ' inject [a-z_]*\.[a-z_]* call=\| inject free call=' "$tmp/log")
  mapped=$(sed -n 's/.* exit bos=[0-9]* mapped=\([0-9]*\).*/\1/p' "$tmp/log" | head -1)
  first_error=$(grep -v -e '^amdgpu_device_initialize' -e '^\[vkfd' "$tmp/err" "$tmp/out" 2>/dev/null |
                grep -i -m1 -e 'fail' -e 'error' -e 'abort' -e 'assert' | cut -d: -f2- |
                sed 's|^ *||; s|FAIL /[^ ]*/||; s|\||\\\||g' | cut -c1-100)
}

printf '| client | injection | fired | outcome | mapped BOs left at exit (baseline) | first message |\n'
printf '|---|---|---|---|---|---|\n'
for name in hsakmt rocminfo; do
  run "$name" "free[nth=1000000]:ENOMEM"  # never fires: the baseline
  base=${mapped:-?}
  for spec in "${specs[@]}"; do
    run "$name" "$spec"
    if [ "$rc" -eq 137 ]; then
      outcome="hangs (killed after 10 s)"
    elif [ "$rc" -gt 128 ]; then
      outcome="aborts (signal $((rc - 128)))"
    elif [ "$rc" -ne 0 ]; then
      outcome="reports an error (exit $rc)"
    else
      outcome="recovers"
    fi
    if [ -n "${mapped:-}" ] && [ "$base" != "?" ] && [ "$mapped" -gt "$base" ]; then
      outcome="$outcome, leaks $((mapped - base)) mapping(s)"
    fi
    [ "$fired" -eq 0 ] && outcome="$outcome (fault never reached)"
    printf '| %s | `%s` | %s | %s | %s (%s) | %s |\n' "$name" "$spec" "$fired" "$outcome" \
      "${mapped:-n/a}" "$base" "${first_error:-}"
  done
done >"$tmp/table"
cat "$tmp/table"

if [ -n "$check" ]; then
  # Compare client, injection and outcome (columns 2-5) with the documented table.
  extract() { grep '^| \(hsakmt\|rocminfo\) |' "$1" | awk -F'|' '{print $2 "|" $3 "|" $5}' | sed 's/  */ /g'; }
  if ! diff <(extract "$check") <(extract "$tmp/table") >"$tmp/diff"; then
    echo "FAIL: client behaviour under faults differs from $check:"
    cat "$tmp/diff"
    exit 1
  fi
  echo "ok: every row matches $check"
fi
