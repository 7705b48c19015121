#!/usr/bin/env bash
# `vkfd conformance`: its command line, a complete run inside vkfd (every rule passes or is skipped,
# the JSON table is the printed one), destructive rules refused without --destructive, and SIGTERM in
# the middle of a run (the rule's process ends, the rest are reported as not run, nothing is left).
# usage: conformance_test.sh VKFD WORKDIR
set -u
vkfd=$1
work=$2
mkdir -p "$work"
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }

# Command line: help on stdout with exit 0, a usage error in one line with exit 2.
out=$("$vkfd" conformance --help); rc=$?
check '[ $rc -eq 0 ] && grep -q -- "--destructive" <<<"$out" && grep -q "6.1" <<<"$out"' "--help"
err=$("$vkfd" conformance --bogus 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q "^vkfd: " <<<"$err"' \
  "usage error: exit 2, one line (got $rc: $err)"
err=$("$vkfd" conformance --filter= 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]' "an empty --filter is a usage error"
list=$("$vkfd" run --gpus 4 -- "$vkfd" conformance --list)
check 'grep -q "ConformanceTest.kfd_ioctl_map_memory_to_gpu_ResumesAtNSuccessAfterABogusDevice *kfd_ioctl_map_memory_to_gpu" <<<"$list"' \
  "--list names the rules and their kernel functions"

# Outside vkfd on a machine without /dev/kfd: an error that says what is missing, not a table of skips.
if [ ! -e /dev/kfd ]; then
  err=$("$vkfd" conformance 2>&1 >/dev/null); rc=$?
  check '[ $rc -eq 1 ] && grep -q "cannot open /dev/kfd" <<<"$err"' "no /dev/kfd: exit 1 and why (got $rc: $err)"
fi

# The whole suite inside vkfd, destructive rules included: nothing fails.
tmp_before=$(ls -d /tmp/vkfd-conformance-* 2>/dev/null | wc -l)
"$vkfd" run --gpus 4 -- "$vkfd" conformance --destructive --json "$work/all.json" >"$work/all.txt"
rc=$?
cat "$work/all.txt"
check '[ $rc -eq 0 ]' "inside vkfd every rule passes or is skipped (exit $rc)"
check 'grep -q "^vkfd conformance: the rules of Linux 6.1" "$work/all.txt"' "states the kernel it assumes"
check 'grep -qE "^[0-9]+ passed, 0 failed" "$work/all.txt"' "summary: 0 failed"
python3 - "$work/all.json" "$work/all.txt" <<'PY' || fail=1
import json, re, sys
doc = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
rules = doc["rules"]
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("FAIL:", what); ok = False
check(len(rules) > 50, "the JSON has every rule (%d)" % len(rules))
check(doc["summary"]["fail"] == 0 and doc["summary"]["pass"] > 30, "JSON summary %s" % doc["summary"])
check(all(r["result"] in ("pass", "skip") for r in rules), "every rule passes or is skipped")
check(all(r["follows"] for r in rules), "every rule names what it follows")
check(all(r["detail"] for r in rules if r["result"] == "skip"), "every skip says why")
m = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped", text, re.M)
check(m and int(m.group(1)) == doc["summary"]["pass"] and int(m.group(3)) == doc["summary"]["skip"],
      "the JSON is the printed table")
check(any(r["result"] == "skip" and "needs topology" in r["detail"] for r in rules),
      "rules of other topologies are skipped, saying so")
sys.exit(0 if ok else 1)
PY
tmp_after=$(ls -d /tmp/vkfd-conformance-* 2>/dev/null | wc -l)
check '[ "$tmp_after" -le "$tmp_before" ]' "no temporary directory left behind"

# Without --destructive: those rules are refused (skipped, saying how to run them).
out=$("$vkfd" run --gpus 4 -- "$vkfd" conformance --filter '*VramExhaustion*:QueueTest.SdmaCopyLinear*')
rc=$?
check '[ $rc -eq 0 ] && [ "$(grep -c "run with --destructive" <<<"$out")" -eq 2 ]' \
  "destructive rules are skipped without --destructive: $out"

# SIGTERM during a rule (page-table jobs of 50 ms keep the signal tests busy): the runner passes it
# on, reports the rest as not run, and exits 128+15; no process of the run is left.
"$vkfd" run --gpus 4 --dma-latency 50ms -- "$vkfd" conformance --filter 'SignalTest.*:ConformanceTest.*' \
  >"$work/term.txt" 2>&1 &
pid=$!
sleep 3
kill -TERM $pid
wait $pid
rc=$?
cat "$work/term.txt"
check '[ $rc -eq 143 ]' "SIGTERM: exit 143 (got $rc)"
check 'grep -q "not run" "$work/term.txt"' "SIGTERM: the rules not run are reported"
sleep 0.5
left=$(pgrep -f "libexec/vkfd/vkfd-conformance" | wc -l)
check '[ "$left" -eq 0 ]' "SIGTERM: no rule process left ($left)"

[ $fail -eq 0 ] && echo "conformance command checks passed"
exit $fail
