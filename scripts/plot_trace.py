#!/usr/bin/env python3
"""Draws a window of a `vkfd run --trace` file as a timeline PNG, the way Perfetto's UI lays it out:
one row per track (the program's threads, then per GPU its page-table engine and its fences), spans as
bars (nested spans — a wait inside an ioctl — drawn thinner inside their parent), instants as red
marks, flows (a fence from the ioctl that dispatched it to its signal) as arrows. No browser needed:
this is how docs/img/trace-*.png were made (docs/trace.md).

    plot_trace.py TRACE.json OUT.png --first NAME [--last NAME] [--title TEXT]

The window starts at the first span called --first and ends at the end of the last span called
--last (default: the last --first), with a margin. Needs python3-matplotlib.
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402


def load(path):
    """Events of a trace file: "[", one event per line followed by ","; "]" optional; a last line cut
    by SIGKILL is dropped, as the viewers drop it."""
    events = []
    with open(path) as f:
        lines = f.read().split("\n")
    for line in lines[1:]:
        line = line.strip().rstrip(",")
        if line in ("", "]"):
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return events


COLOURS = {"ioctl": "#4e79a7", "wait": "#f28e2b", "dma": "#59a14f", "fence": "#76b7b2",
           "queue": "#edc948", "eviction": "#b07aa1"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--first", required=True)
    ap.add_argument("--last")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    events = load(a.trace)
    spans = [e for e in events if e.get("ph") == "X"]
    firsts = [e for e in spans if e["name"] == a.first]
    lasts = [e for e in spans if e["name"] == (a.last or a.first)]
    if not firsts or not lasts:
        sys.exit("no span called %s / %s in %s" % (a.first, a.last or a.first, a.trace))
    t0 = firsts[0]["ts"]
    t1 = max(e["ts"] + e["dur"] for e in lasts if e["ts"] >= t0)
    margin = (t1 - t0) * 0.04
    t0, t1 = t0 - margin, t1 + margin

    names, sort = {}, {}
    for e in events:
        if e.get("ph") == "M" and e["name"] == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
        if e.get("ph") == "M" and e["name"] == "thread_sort_index":
            sort[(e["pid"], e["tid"])] = e["args"]["sort_index"]

    def visible(e):
        if e.get("ph") == "X":
            return e["ts"] <= t1 and e["ts"] + e["dur"] >= t0
        return e.get("ph") in ("i", "s", "f") and t0 <= e["ts"] <= t1

    shown = [e for e in events if visible(e)]
    tracks = sorted({(e["pid"], e["tid"]) for e in shown if e.get("ph") in ("X", "i")},
                    key=lambda k: (sort.get(k, 0), k))
    row = {k: i for i, k in enumerate(tracks)}
    fig, ax = plt.subplots(figsize=(14, 0.7 * len(tracks) + 1.6))

    def x(ts):
        return (ts - t0) / 1000.0  # ms from the window's start

    # Spans: depth by nesting on the same track.
    by_track = {}
    for e in sorted((e for e in shown if e["ph"] == "X"), key=lambda e: (e["ts"], -e["dur"])):
        by_track.setdefault((e["pid"], e["tid"]), []).append(e)
    for key, items in by_track.items():
        stack = []
        for e in items:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] < e["ts"]:
                stack.pop()
            depth = len(stack)
            stack.append(e)
            y = len(tracks) - 1 - row[key]
            height = 0.7 - 0.2 * depth
            left, width = x(max(e["ts"], t0)), max(x(min(e["ts"] + e["dur"], t1)) - x(max(e["ts"], t0)), 0.002)
            colour = COLOURS.get(e.get("cat"), "#bab0ac")
            if e.get("args", {}).get("errno") or "interrupted" in e.get("args", {}).get("outcome", ""):
                colour = "#e15759"
            ax.add_patch(Rectangle((left, y - height / 2), width, height, facecolor=colour,
                                   edgecolor="black", linewidth=0.4, alpha=0.9))
            label = e["name"]
            if e.get("args", {}).get("errno"):
                label += " = " + e["args"]["errno"]
            elif e.get("cat") == "wait":
                label += " (%s)" % e["args"].get("outcome", "")
            if width > (t1 - t0) / 1000.0 * 0.06:
                # A span's name above it; a nested one's inside it.
                ax.text(left + width / 2, y + 0.37 if depth == 0 else y, label, ha="center",
                        va="bottom" if depth == 0 else "center", fontsize=7, clip_on=True)
    # Instants.
    for e in shown:
        if e["ph"] != "i":
            continue
        y = len(tracks) - 1 - row[(e["pid"], e["tid"])]
        ax.plot([x(e["ts"])], [y + 0.2], marker="v", color="#e15759", markersize=7)
        ax.text(x(e["ts"]), y - 0.45, e["name"], fontsize=6.5, color="#e15759", ha="center")
    # Flows.
    starts = {e["id"]: e for e in shown if e["ph"] == "s"}
    for e in shown:
        if e["ph"] != "f" or e["id"] not in starts:
            continue
        s = starts[e["id"]]
        if (s["pid"], s["tid"]) not in row or (e["pid"], e["tid"]) not in row:
            continue
        ys = len(tracks) - 1 - row[(s["pid"], s["tid"])]
        ye = len(tracks) - 1 - row[(e["pid"], e["tid"])]
        ax.add_patch(FancyArrowPatch((x(s["ts"]), ys - 0.3), (x(e["ts"]), ye + 0.3),
                                     arrowstyle="-|>", mutation_scale=7, linewidth=0.5,
                                     color="#555555", alpha=0.6))
    ax.set_yticks(range(len(tracks)))
    ax.set_yticklabels([names.get(k, "thread %d" % k[1]) for k in reversed(tracks)], fontsize=8)
    ax.set_xlim(0, x(t1))
    ax.set_ylim(-0.7, len(tracks) - 0.3)
    ax.set_xlabel("ms")
    ax.grid(axis="x", linewidth=0.3)
    if a.title:
        ax.set_title(a.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(a.out, dpi=130)
    print("wrote %s: %d tracks, %.2f ms" % (a.out, len(tracks), (t1 - t0) / 1000.0))


if __name__ == "__main__":
    main()
