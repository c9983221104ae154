#!/usr/bin/env python3
"""Compares two `ecdn simulate` / `sim-bench` output folders (summary.json and the per-scenario
CSV files) and exits non-zero when they disagree beyond rounding.

    scripts/compare-sim.py OLD_DIR NEW_DIR [--rel 1e-6] [--abs 1e-9] [--discrete 0] [--show 40]

A speed change may reorder floating-point operations, so results are equal within a tolerance,
not bit for bit (docs/simulator.md, "Comparing runs"): every real number must agree within a
relative tolerance (--rel, default 1e-6) or an absolute one near zero (--abs, default 1e-9), and
every integer (viewers, events, instance starts, peaks, counts in CSV cells) must be identical.
With --discrete F (for example 0.001) integers may differ by a relative F, and real numbers too:
for a change that legitimately moves a discrete decision; every such difference is listed so that
it can be explained. Timing keys (wall_seconds, events_per_second, sim_wall_ratio) and
flow_recomputations (how often the allocation was recomputed, which a speed change is meant to
change) are not compared.

Exit status: 0 equal within the tolerances, 1 a difference beyond them, 2 a usage or file error
(a file or key present on one side only counts as a difference).
"""
import argparse
import csv
import json
import math
import os
import sys

IGNORED_KEYS = {"wall_seconds", "events_per_second", "sim_wall_ratio", "flow_recomputations"}


class Comparison:
    def __init__(self, rel, abs_tol, discrete):
        self.rel = rel
        self.abs = abs_tol
        self.discrete = discrete
        self.failures = []
        self.bounded = []
        self.values = 0
        self.worst = 0.0

    def number(self, where, old, new, integer):
        self.values += 1
        if old == new:
            return
        if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
            return
        scale = max(abs(old), abs(new))
        diff = abs(old - new)
        relative = diff / scale if scale > 0 else 0.0
        if not integer and (diff <= self.abs or relative <= self.rel):
            self.worst = max(self.worst, relative if diff > self.abs else 0.0)
            return
        line = f"{where}: {old!r} -> {new!r} (relative {relative:.3g})"
        if self.discrete > 0 and relative <= self.discrete:
            self.bounded.append(line)
        else:
            self.failures.append(line)

    def text(self, where, old, new):
        self.values += 1
        if old != new:
            self.failures.append(f"{where}: {old!r} -> {new!r}")


def parse_cell(cell):
    """A CSV cell as (value, is_integer), or None for text."""
    try:
        if cell.strip().lstrip("-").isdigit():
            return int(cell), True
        return float(cell), False
    except ValueError:
        return None


def compare_json(cmp, where, old, new):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key in IGNORED_KEYS:
                continue
            if key not in old or key not in new:
                cmp.failures.append(f"{where}.{key}: only in {'new' if key in new else 'old'}")
                continue
            compare_json(cmp, f"{where}.{key}", old[key], new[key])
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            cmp.failures.append(f"{where}: {len(old)} -> {len(new)} entries")
        for i, (a, b) in enumerate(zip(old, new)):
            name = a.get("name", i) if isinstance(a, dict) else i
            compare_json(cmp, f"{where}[{name}]", a, b)
    elif isinstance(old, bool) or isinstance(new, bool):
        cmp.text(where, old, new)
    elif isinstance(old, (int, float)) and isinstance(new, (int, float)):
        cmp.number(where, float(old), float(new), isinstance(old, int) and isinstance(new, int))
    else:
        cmp.text(where, old, new)


def compare_csv(cmp, name, old_path, new_path):
    with open(old_path, newline="") as f:
        old_rows = list(csv.reader(f))
    with open(new_path, newline="") as f:
        new_rows = list(csv.reader(f))
    header = old_rows[0] if old_rows else []
    if len(old_rows) != len(new_rows):
        cmp.failures.append(f"{name}: {len(old_rows)} -> {len(new_rows)} rows")
    for r, (a, b) in enumerate(zip(old_rows, new_rows)):
        if len(a) != len(b):
            cmp.failures.append(f"{name} row {r}: {len(a)} -> {len(b)} columns")
            continue
        for c, (x, y) in enumerate(zip(a, b)):
            column = header[c] if c < len(header) else str(c)
            if column in IGNORED_KEYS:
                continue
            where = f"{name} row {r} {column}"
            px, py = parse_cell(x), parse_cell(y)
            if px is None or py is None:
                cmp.text(where, x, y)
            else:
                cmp.number(where, float(px[0]), float(py[0]), px[1] and py[1])


def main():
    parser = argparse.ArgumentParser(description="Compare two simulator output folders within rounding.")
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rel", type=float, default=1e-6, help="relative tolerance of real numbers (default 1e-6)")
    parser.add_argument("--abs", type=float, default=1e-9, help="absolute tolerance near zero (default 1e-9)")
    parser.add_argument("--discrete", type=float, default=0.0,
                        help="relative bound for differences of a moved discrete decision (default 0: none allowed)")
    parser.add_argument("--show", type=int, default=40, help="differences listed of each kind (default 40)")
    args = parser.parse_args()
    cmp = Comparison(args.rel, args.abs, args.discrete)
    try:
        with open(os.path.join(args.old, "summary.json")) as f:
            old_summary = json.load(f)
        with open(os.path.join(args.new, "summary.json")) as f:
            new_summary = json.load(f)
    except (OSError, ValueError) as error:
        print(f"compare-sim: {error}", file=sys.stderr)
        return 2
    compare_json(cmp, "summary.json", old_summary, new_summary)
    old_csv = {n for n in os.listdir(args.old) if n.endswith(".csv")}
    new_csv = {n for n in os.listdir(args.new) if n.endswith(".csv")}
    for name in sorted(old_csv ^ new_csv):
        cmp.failures.append(f"{name}: only in {'new' if name in new_csv else 'old'}")
    for name in sorted(old_csv & new_csv):
        compare_csv(cmp, name, os.path.join(args.old, name), os.path.join(args.new, name))
    for line in cmp.bounded[:args.show]:
        print(f"bounded: {line}")
    for line in cmp.failures[:args.show]:
        print(f"DIFFERS: {line}")
    hidden = max(0, len(cmp.bounded) - args.show) + max(0, len(cmp.failures) - args.show)
    if hidden:
        print(f"... {hidden} more differences not shown (--show)")
    verdict = "differ" if cmp.failures else "agree"
    print(f"compare-sim: {cmp.values} values, {len(cmp.failures)} beyond tolerance, {len(cmp.bounded)} within "
          f"--discrete {args.discrete}, largest relative rounding difference {cmp.worst:.3g}: {verdict}")
    return 1 if cmp.failures else 0


if __name__ == "__main__":
    sys.exit(main())
