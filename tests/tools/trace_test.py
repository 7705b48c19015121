#!/usr/bin/env python3
"""`vkfd run --trace`: the trace file of a run checked against the ioctl log of the same run, its
structure (tracks, flows, waits, page-table jobs), and a run killed with SIGKILL.

    trace_test.py VKFD TRACE_DEMO WORKDIR
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def load(path):
    """The events of a trace file, as a viewer reads it: "[", then one event per line, each followed
    by ","; the closing "]" is optional. Returns (events, cut): `cut` is an unparsable last line (a
    write cut short by SIGKILL), which viewers drop."""
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    if lines[0] != "[":
        raise AssertionError("the trace does not start with '['")
    events, cut = [], None
    body = [line for line in lines[1:] if line.strip() not in ("", "]")]
    for i, line in enumerate(body):
        try:
            events.append(json.loads(line.rstrip().rstrip(",")))
        except json.JSONDecodeError:
            if i != len(body) - 1:
                raise AssertionError("line %d of the trace is not one JSON event: %r" % (i + 2, line))
            cut = line
    if cut is None:
        # The viewers' own rule: strip the trailing comma, add the bracket; the whole must parse.
        whole = text.rstrip().rstrip(",")
        if not whole.endswith("]"):
            whole += "]"
        check(len(json.loads(whole)) == len(events), "the file parses as one JSON array")
    return events, cut


LOG_LINE = re.compile(r"^\[vkfd (\d+)\] (\S+) \{(.*)\} = (-1 (\S+) \(.*\)|\d+) <[\d.]+s>$")


def log_calls(path):
    """Per pid, the ioctls of --log-ioctls in order: (name, "k=v k=v", result)."""
    calls = defaultdict(list)
    with open(path) as f:
        for line in f:
            m = LOG_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            result = "-1 " + m.group(5) if m.group(5) else m.group(4)
            calls[int(m.group(1))].append((m.group(2), m.group(3), result))
    return calls


def trace_calls(events):
    calls = defaultdict(list)
    for e in events:
        if e.get("cat") != "ioctl" or e.get("ph") != "X":
            continue
        args = e.get("args", {})
        fields = " ".join("%s=%s" % (k, v) for k, v in args.items()
                          if k not in ("cmd", "result", "errno"))
        result = "-1 " + args["errno"] if args["result"] < 0 else str(args["result"])
        calls[e["pid"]].append((e["name"], fields, result))
    return calls


def run_demo(vkfd, demo, workdir):
    trace = os.path.join(workdir, "trace_demo.json")
    log = os.path.join(workdir, "trace_demo.log")
    out = subprocess.run([vkfd, "run", "--gpus", "4", "--dma-latency", "20ms", "--trace", trace,
                          "--log-ioctls=" + log, "--", demo], capture_output=True, text=True,
                         timeout=120)
    print(out.stdout, end="")
    print(out.stderr, end="", file=sys.stderr)
    check(out.returncode == 0, "trace_demo exits 0 (got %d)" % out.returncode)
    m = re.search(r"MAP interrupted (\d+) time", out.stdout)
    interrupted = int(m.group(1)) if m else -1

    events, cut = load(trace)
    check(cut is None, "a run that exits writes only whole events")

    # 1. Every ioctl of the log is in the trace, same order, arguments and result.
    logged, traced = log_calls(log), trace_calls(events)
    check(sum(map(len, logged.values())) > 20, "the log has the demo's ioctls")
    check(logged == traced, "the trace's ioctls equal the ioctl log's (per process, in order)")
    if logged != traced:
        for pid in set(logged) | set(traced):
            for i, (a, b) in enumerate(zip(logged.get(pid, []), traced.get(pid, []))):
                if a != b:
                    print("  first difference in pid %d at call %d:\n    log   %s\n    trace %s"
                          % (pid, i, a, b))
                    break
            if len(logged.get(pid, [])) != len(traced.get(pid, [])):
                print("  pid %d: %d logged, %d traced" % (pid, len(logged.get(pid, [])),
                                                          len(traced.get(pid, []))))

    # 2. Tracks: the program's thread and, per GPU, its page-table engine and fences.
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    engines = [n for n in names.values() if n.endswith("page tables")]
    fence_tracks = [n for n in names.values() if n.endswith("fences")]
    check(len(engines) == 4 and len(fence_tracks) == 4,
          "four page-table engine tracks and four fence tracks (got %s)" % sorted(names.values()))

    # 3. Fences: every arrow starts on the submitting thread inside an ioctl and ends on a fence
    #    track, where the fence is signalled.
    starts = {e["id"]: e for e in events if e.get("ph") == "s"}
    ends = {e["id"]: e for e in events if e.get("ph") == "f"}
    check(len(starts) > 0 and set(starts) == set(ends), "every flow has both ends")
    ioctls = [e for e in events if e.get("cat") == "ioctl"]
    for fid, s in starts.items():
        inside = any(i["tid"] == s["tid"] and i["ts"] <= s["ts"] <= i["ts"] + i["dur"] for i in ioctls)
        if not inside:
            check(False, "flow %s starts inside an ioctl" % fid)
            break
    jobs = [e for e in events if e.get("name") == "page-table job"]
    # A job whose fence signalled as its writes ended carries the signal (args fence, error) and
    # the arrow; the others' signals are on the fence tracks.
    carried = {j["args"]["fence"]: j for j in jobs if "error" in j["args"]}
    for fid, s in starts.items():
        if fid not in ends:
            continue
        track = names.get((ends[fid]["pid"], ends[fid]["tid"]), "")
        job = carried.get(int(fid, 16))
        if job is not None:
            check(track.endswith("page tables") and
                  job["ts"] <= ends[fid]["ts"] <= job["ts"] + job["dur"],
                  "flow %s ends inside the job that carries its signal" % fid)
        else:
            check(track.endswith("fences"), "flow %s ends on a fence track" % fid)
        check(ends[fid]["ts"] >= s["ts"], "flow %s ends after it starts" % fid)
    signalled = [e for e in events if e.get("name") == "fence signalled"]
    check(len(jobs) == len(starts) and len(signalled) + len(carried) == len(starts),
          "one page-table job and one signal per flow")

    # 4. The MAP on four GPUs: the signal in its wait, and the restart.
    maps = [e for e in ioctls if e["name"] == "MAP_MEMORY_TO_GPU"]
    eintr = [e for e in maps if e["args"].get("errno") == "EINTR"]
    check(interrupted >= 0 and len(eintr) == interrupted,
          "the trace has as many EINTR MAPs as the program saw (%d, %d)" % (len(eintr), interrupted))
    waits = [e for e in events if e.get("cat") == "wait" and e["name"] == "fence wait"]
    for m in eintr:
        broken = [w for w in waits if w["tid"] == m["tid"] and
                  m["ts"] <= w["ts"] <= m["ts"] + m["dur"] and
                  w["args"]["outcome"].startswith("interrupted")]
        check(len(broken) == 1, "the EINTR MAP holds one interrupted wait")
        check(m["args"]["n_success"] == "4", "n_success is 4 when the wait is interrupted")
    check(len(maps) == interrupted + 1 + 0, "the MAP is restarted once per interruption")
    if maps:
        last = maps[-1]
        check(last["args"]["result"] == 0, "the restarted MAP succeeds")
        check(any(w["tid"] == last["tid"] and last["ts"] <= w["ts"] <= last["ts"] + last["dur"] and
                  w["args"]["outcome"] == "woken" for w in waits),
              "the restarted MAP waits until the fences signal")

    # 5. The async pipeline: eight MAP_ASYNCs that do not wait, one FENCE_WAIT.
    asyncs = [e for e in ioctls if e["name"] == "VKFD_MAP_ASYNC"]
    check(len(asyncs) == 8, "eight MAP_ASYNC calls (got %d)" % len(asyncs))
    check(all(int(a["args"]["fence_fd"]) >= 0 for a in asyncs), "each returns a fence fd")
    check(sum(1 for e in ioctls if e["name"] == "VKFD_FENCE_WAIT") >= 1, "a FENCE_WAIT")


def run_killed(vkfd, demo, workdir):
    """A program killed with SIGKILL leaves a trace that loads: whole events up to the last batch."""
    trace = os.path.join(workdir, "trace_killed.json")
    proc = subprocess.Popen([vkfd, "run", "--gpus", "2", "--trace", trace, "--", demo, "--loop"],
                            stdout=subprocess.DEVNULL)
    time.sleep(1.5)
    check(proc.poll() is None, "trace_demo --loop still runs after 1.5 s")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    events, cut = load(trace)
    ioctls = [e for e in events if e.get("cat") == "ioctl"]
    print("killed run: %d events (%d ioctls), last line %s" %
          (len(events), len(ioctls), "cut" if cut else "whole"))
    check(len(ioctls) > 10, "the killed run's trace has its ioctls")
    # No latency model: every fence signals as its job's writes end, so every job carries its
    # signal and its arrow ends inside it; the fence tracks stay empty.
    jobs = [e for e in events if e.get("name") == "page-table job"]
    ends = {e["id"]: e for e in events if e.get("ph") == "f"}
    check(len(jobs) > 0 and all("error" in j["args"] for j in jobs),
          "without a latency model every job carries its signal")
    check(all(j["ts"] <= ends["0x%x" % j["args"]["fence"]]["ts"] <= j["ts"] + j["dur"]
              and ends["0x%x" % j["args"]["fence"]]["tid"] == j["tid"] for j in jobs),
          "each job's arrow ends inside it")
    check(not any(e.get("name") == "fence signalled" for e in events),
          "no separate signals without a latency model")


def main():
    vkfd, demo, workdir = sys.argv[1:4]
    os.makedirs(workdir, exist_ok=True)
    run_demo(vkfd, demo, workdir)
    run_killed(vkfd, demo, workdir)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("trace checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
