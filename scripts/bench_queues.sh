#!/usr/bin/env bash
# The GPU-side benchmarks (bench/queue_bench.cc) with the timing model off and on, the tables of
# docs/benchmarks.md and docs/api-designs-measured.md, and their plots.
# usage: scripts/bench_queues.sh [--quick] [BUILD_DIR]     (default build/; ~4 min, --quick ~40 s)
#   writes docs/data/queue-bench.json (both runs), prints the tables, draws docs/img/queue-*.svg
# The timing model "on" is `vkfd run --dma-latency 10us`: every completion (AQL packet, SDMA fence,
# atomic or trap) becomes visible 10 us after the work before it, as the page-table jobs of the map
# benchmark. Needs python3 and gnuplot (scripts/install-deps.sh installs both).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
build=${1:-$top/build}
vkfd=$build/bin/vkfd
bench=$build/bench/queue_bench
[ -x "$vkfd" ] && [ -x "$bench" ] || { echo "build first: scripts/build.sh (needs libbenchmark-dev)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $quick = 1 ]; then
  args=(--benchmark_min_time=0.02 --benchmark_filter='SubmitCost|RoundTrip|Stream|HostIoctl')
else
  args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_min_time=0.1)
fi
for timing in off on; do
  latency=()
  [ $timing = on ] && latency=(--dma-latency 10us)
  echo "queue_bench: timing model $timing ..." >&2
  filter=()
  # The idle and cold measurements do not depend on the timing model: once, in the "off" run.
  [ $timing = on ] && [ $quick = 0 ] && filter=(--benchmark_filter='SubmitCost|RoundTrip|Stream|HostIoctl')
  "$vkfd" run --topology mi210x4 "${latency[@]}" -- "$bench" "${args[@]}" "${filter[@]}" \
      --benchmark_out="$tmp/$timing.json" --benchmark_out_format=json > "$tmp/$timing.log" 2>&1 ||
    { cat "$tmp/$timing.log" >&2; exit 1; }
done
mkdir -p "$top/docs/data" "$top/docs/img"
out=$top/docs/data/queue-bench.json
[ $quick = 1 ] && out=$tmp/queue-bench.json
python3 - "$tmp/off.json" "$tmp/on.json" "$out" "$tmp" <<'EOF'
import json, re, sys
off, on = (json.load(open(p)) for p in sys.argv[1:3])
json.dump({"timing_off": off, "timing_on": on}, open(sys.argv[3], "w"), indent=1)
tmp = sys.argv[4]

def figures(run):
    out = {}
    for b in run["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = re.sub(r"(_median|/manual_time|/iterations:\d+|/repeats:\d+)", "", b.get("run_name", b["name"]))
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        out[name] = dict(us=b["real_time"] * scale, label=b.get("label", ""), **{
            k: v for k, v in b.items() if k in ("bytes_per_second", "items_per_second",
                                                "cpu_percent_of_one_core")})
    return out
f_off, f_on = figures(off), figures(on)
paths = ["doorbell", "ioctl", "ioctl_defer"]
def get(f, name, key="us"):
    v = f.get(name, {}).get(key)
    return float("nan") if v is None else v

print("### Dispatch paths (median of 5; timing model off | on)\n")
print("| measurement | " + " | ".join(paths) + " |")
print("|---|" + "---|" * len(paths))
row = lambda title, fn: print(f"| {title} | " + " | ".join(fn(i) for i in range(3)) + " |")
row("submission, ns per packet (off)", lambda i: f"{get(f_off, f'BM_SubmitCost/{i}') * 1000 / 32:.0f}")
for w, wn in ((0, "spin"), (1, "WAIT_EVENTS")):
    row(f"empty barrier round trip, {wn}, us (off / on)",
        lambda i: f"{get(f_off, f'BM_BarrierRoundTrip/{i}/{w}'):.1f} / {get(f_on, f'BM_BarrierRoundTrip/{i}/{w}'):.1f}")
row("256 SDMA 4 KiB copies, us (off / on)",
    lambda i: f"{get(f_off, f'BM_SdmaStream/{i}'):.0f} / {get(f_on, f'BM_SdmaStream/{i}'):.0f}")
row("256 copyBuffer dispatches, us (off / on)",
    lambda i: f"{get(f_off, f'BM_BlitStream/{i}'):.0f} / {get(f_on, f'BM_BlitStream/{i}'):.0f}")
print(f"\nHost ioctl(2) that fails (ENOTTY), same run: {get(f_off, 'BM_HostIoctl') * 1000:.0f} ns (off run), "
      f"{get(f_on, 'BM_HostIoctl') * 1000:.0f} ns (on run).")
if "BM_Copy64MiB/2/0" in f_off:
    print("\n### 64 MiB copies (median of 5, timing model off)\n")
    print("| engine | VRAM->VRAM GB/s | host->VRAM GB/s | vs memcpy (VRAM / host) |")
    print("|---|---|---|---|")
    mv = get(f_off, "BM_Copy64MiB/2/0", "bytes_per_second")
    mh = get(f_off, "BM_Copy64MiB/2/1", "bytes_per_second")
    for e, en in ((0, "SDMA COPY_LINEAR"), (1, "copyBufferAligned kernel"), (2, "host memcpy")):
        v = get(f_off, f"BM_Copy64MiB/{e}/0", "bytes_per_second")
        h = get(f_off, f"BM_Copy64MiB/{e}/1", "bytes_per_second")
        print(f"| {en} | {v / 1e9:.1f} | {h / 1e9:.1f} | {100 * v / mv:.0f} % / {100 * h / mh:.0f} % |")
if "BM_IdleQueues/10" in f_off:
    print(f"\nIdle: 16 queues (4 on each of 4 GPUs) for 10 s: "
          f"{get(f_off, 'BM_IdleQueues/10', 'cpu_percent_of_one_core'):.3f} % of one core. "
          f"First packet after 120 ms idle (one doorbell trap): median "
          f"{get(f_off, 'BM_ColdRoundTrip'):.0f} us.")
with open(f"{tmp}/dispatch.dat", "w") as f:
    f.write("path submit_ns rt_spin_off rt_spin_on rt_event_off rt_event_on\n")
    for i, p in enumerate(paths):
        f.write(f"{p} {get(f_off, f'BM_SubmitCost/{i}') * 1000 / 32:.1f} "
                f"{get(f_off, f'BM_BarrierRoundTrip/{i}/0'):.2f} {get(f_on, f'BM_BarrierRoundTrip/{i}/0'):.2f} "
                f"{get(f_off, f'BM_BarrierRoundTrip/{i}/1'):.2f} {get(f_on, f'BM_BarrierRoundTrip/{i}/1'):.2f}\n")
with open(f"{tmp}/streams.dat", "w") as f:
    f.write("path sdma_off sdma_on blit_off blit_on\n")
    for i, p in enumerate(paths):
        f.write(f"{p} {get(f_off, f'BM_SdmaStream/{i}') / 256:.3f} {get(f_on, f'BM_SdmaStream/{i}') / 256:.3f} "
                f"{get(f_off, f'BM_BlitStream/{i}') / 256:.3f} {get(f_on, f'BM_BlitStream/{i}') / 256:.3f}\n")
EOF
[ $quick = 1 ] && exit 0
command -v gnuplot >/dev/null || { echo "gnuplot is missing: no plots" >&2; exit 0; }
gnuplot <<EOF
set terminal svg size 720,440 font "sans,12" background "white"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set key top left
set logscale y
set ylabel "microseconds"
set output "$top/docs/img/queue-round-trip.svg"
set title "Empty barrier packet: submit -> completion signal -> waiter sees it"
plot "$tmp/dispatch.dat" using 3:xtic(1) title "spin, timing off", \
     "" using 4 title "spin, timing on (10 us)", \
     "" using 5 title "WAIT_EVENTS, timing off", \
     "" using 6 title "WAIT_EVENTS, timing on"
set output "$top/docs/img/queue-streams.svg"
set title "Streams of 256 small operations, each its own submission"
set ylabel "microseconds per operation"
plot "$tmp/streams.dat" using 2:xtic(1) title "SDMA 4 KiB copy, timing off", \
     "" using 3 title "SDMA 4 KiB copy, timing on", \
     "" using 4 title "copyBuffer dispatch, timing off", \
     "" using 5 title "copyBuffer dispatch, timing on"
set output "$top/docs/img/queue-submit.svg"
set title "Submission cost per packet (timing off)"
set ylabel "nanoseconds per packet"
plot "$tmp/dispatch.dat" using 2:xtic(1) title "empty barrier"
EOF
echo "wrote $out and docs/img/queue-{round-trip,streams,submit}.svg" >&2
