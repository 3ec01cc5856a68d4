"""Where a Cortex-M7 image spends its instructions: per function and per source line.

Runs the optimised image of a `make run` build under QEMU with pc_profile_plugin (an execution
count per instruction) and maps the addresses to functions (`arm-none-eabi-nm`) and to source
lines (`arm-none-eabi-addr2line`; an inlined helper's line counts where it was inlined from).
Counts are for the whole image run (all its steps), like the op-count plugin's total.

    make profile BUILD=build                     # after make run
    python pc_profile.py --build build --top 15 --lines tflmt_conv2d_s8
"""
from __future__ import annotations

import argparse
import bisect
import os
import subprocess
import sys
from collections import Counter

from run import QEMU


def functions(elf: str) -> list[tuple[int, int, str]]:
    out = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", elf], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tT":
            syms.append((int(p[0], 16) & ~1, int(p[1], 16), p[3]))
    return sorted(syms)


def profile(elf: str, plugin: str, out: str) -> dict[int, int]:
    r = subprocess.run(QEMU + ["-plugin", f"{plugin},out={out}", "-kernel", elf], capture_output=True, text=True,
                       timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"{elf} exited {r.returncode} under QEMU:\n{r.stderr[-2000:]}")
    counts = {}
    with open(out) as f:
        for line in f:
            a, c = line.split()
            if a != "outside":
                counts[int(a, 16)] = int(c)
    return counts


def by_function(counts: dict[int, int], syms) -> Counter:
    starts = [s[0] for s in syms]
    agg: Counter = Counter()
    for a, c in counts.items():
        i = bisect.bisect_right(starts, a) - 1
        agg[syms[i][2] if i >= 0 and a < syms[i][0] + syms[i][1] else "?"] += c
    return agg


def by_line(elf: str, counts: dict[int, int], lo: int, hi: int) -> Counter:
    addrs = sorted(a for a in counts if lo <= a < hi)
    out = subprocess.run(["arm-none-eabi-addr2line", "-a", "-e", elf] + [hex(a) for a in addrs],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    where, current = {}, None
    for line in out:
        if line.startswith("0x"):
            current = int(line, 16)
        elif current is not None and current not in where:
            where[current] = line.rsplit("/", 1)[-1]
    agg: Counter = Counter()
    for a in addrs:
        agg[where.get(a, "?")] += counts[a]
    return agg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--elf", default=None, help="default: BUILD/m7.elf")
    p.add_argument("--top", type=int, default=15, help="functions to list")
    p.add_argument("--lines", default="", help="comma-separated functions to break down by source line")
    a = p.parse_args(argv)
    elf = a.elf or os.path.join(a.build, "m7.elf")
    plugin = os.path.abspath(os.path.join(a.build, "libpcprof.so"))
    for path in (elf, plugin):
        if not os.path.exists(path):
            raise SystemExit(f"{path} not found: run `make run BUILD={a.build}` and `make profile` first")
    counts = profile(elf, plugin, os.path.join(a.build, "pc.txt"))
    syms = functions(elf)
    total = sum(counts.values())
    print(f"{elf}: {total:,} instructions executed")
    for name, c in by_function(counts, syms).most_common(a.top):
        print(f"  {c:14,d} {100 * c / total:5.1f}%  {name}")
    for name in filter(None, a.lines.split(",")):
        hit = [s for s in syms if s[2] == name]
        if not hit:
            raise SystemExit(f"{elf}: no function {name}")
        lo, size, _ = hit[0]
        lines = by_line(elf, counts, lo, lo + size)
        sub = sum(lines.values()) or 1
        print(f"\n{name} by source line:")
        for where, c in lines.most_common(20):
            print(f"  {c:14,d} {100 * c / sub:5.1f}%  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
