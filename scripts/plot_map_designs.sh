#!/usr/bin/env bash
# Plots of `vkfd bench --json FILE` for docs/api-designs-measured.md, made with gnuplot (SVG).
# usage: scripts/plot_map_designs.sh BENCH.json [OUTDIR]      (default OUTDIR: docs/img)
#        PLOT_FORMAT=png scripts/plot_map_designs.sh ...         (PNG instead of SVG)
#   map-designs-gpus-<timing>.svg   us per BO (2 MiB BOs) against the GPU count, one line per design
#   map-designs-size-<timing>.svg   us per BO on 4 GPUs against the BO size, one line per design
#   map-designs-overhead.svg        share of the batched design's time that is syscall + dispatch
# Needs python3 (standard library only) and gnuplot (gnuplot-nox, which scripts/install-deps.sh
# installs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
json=$1
out=${2:-$top/docs/img}
fmt=${PLOT_FORMAT:-svg}
case $fmt in
  svg) terminal='svg size 720,440 font "sans,12" background "white"' ;;
  png) terminal='pngcairo size 720,440 font "sans,11" background "white"' ;;
  *) echo "PLOT_FORMAT must be svg or png" >&2; exit 2 ;;
esac
mkdir -p "$out"
command -v gnuplot >/dev/null || { echo "gnuplot is missing (apt install gnuplot-nox)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# JSON -> whitespace tables gnuplot reads: one file per (timing, view).
python3 - "$json" "$tmp" <<'EOF'
import json, re, sys
doc = json.load(open(sys.argv[1]))
tmp = sys.argv[2]
designs = ["batched", "per-gpu", "async", "atomic"]
def figures(run):
    us, extra = {}, {}
    for b in run["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        m = re.match(r"BM_Map/design:(\d+)/gpus:(\d+)/size:(\d+)", name)
        if m:
            us[tuple(int(x) for x in m.groups())] = b["real_time"] * scale / 16.0
        elif name.startswith("BM_HostSyscall"):
            extra["syscall_us"] = b["real_time"] * scale
        elif name.startswith("BM_KfdNullIoctl"):
            extra["null_us"] = b["real_time"] * scale
    return us, extra
for timing in ("timing_off", "timing_on"):
    us, extra = figures(doc[timing])
    gpus = sorted({k[1] for k in us})
    sizes = sorted({k[2] for k in us})
    with open(f"{tmp}/{timing}-gpus.dat", "w") as f:
        f.write("gpus " + " ".join(designs) + "\n")
        for g in gpus:
            f.write(f"{g} " + " ".join(f"{us.get((d, g, 2 << 20), float('nan')):.3f}"
                                        for d in range(4)) + "\n")
    with open(f"{tmp}/{timing}-size.dat", "w") as f:
        f.write("size_kib " + " ".join(designs) + "\n")
        for s in sizes:
            f.write(f"{s // 1024} " + " ".join(f"{us.get((d, 4, s), float('nan')):.3f}"
                                              for d in range(4)) + "\n")
    if timing == "timing_on":
        over = extra.get("syscall_us", 0) + extra.get("null_us", 0)
        with open(f"{tmp}/overhead.dat", "w") as f:
            f.write("gpus " + " ".join(f"{s // 1024}KiB" for s in sizes) + "\n")
            for g in gpus:
                f.write(f"{g} " + " ".join(f"{100 * over / us[(0, g, s)]:.2f}" if (0, g, s) in us
                                            else "nan" for s in sizes) + "\n")
EOF

for timing in timing_off timing_on; do
  label=$([ $timing = timing_on ] && echo "timing model on: 10 us per job, 2 ns per PTE" || echo "timing model off")
  gnuplot <<EOF
set terminal $terminal
set key top left
set grid
set logscale y
set ylabel "microseconds per BO mapped"
set output "$out/map-designs-gpus-${timing#timing_}.$fmt"
set title "2 MiB VRAM BOs, batches of 16 ($label)"
set xlabel "GPUs"
set xtics (1, 2, 4, 8)
set logscale x 2
set xrange [0.8:10]
plot for [c=2:5] "$tmp/$timing-gpus.dat" using 1:c with linespoints lw 2 title columnheader(c)
set output "$out/map-designs-size-${timing#timing_}.$fmt"
set title "4 GPUs, batches of 16 ($label)"
set xlabel "BO size"
set xtics ("4 KiB" 4, "2 MiB" 2048, "256 MiB" 262144)
set logscale x 2
set xrange [2:524288]
plot for [c=2:5] "$tmp/$timing-size.dat" using 1:c with linespoints lw 2 title columnheader(c)
EOF
done
gnuplot <<EOF
set terminal $terminal
set output "$out/map-designs-overhead.$fmt"
set title "Syscall + dispatch as a share of a synchronous batched MAP (timing model on)"
set xlabel "GPUs"
set ylabel "percent of the time per BO"
set grid
set key top right
set logscale x 2
set xtics (1, 2, 4, 8)
set xrange [0.8:10]
set yrange [0:*]
plot for [c=2:*] "$tmp/overhead.dat" using 1:c with linespoints lw 2 title columnheader(c)
EOF
ls "$out"/map-designs-*.$fmt
