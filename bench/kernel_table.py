"""Instruction counts of the hot training ops, optimised vs naive, on the host (valgrind callgrind).

Each op runs once in bench/kernel_bench.c (gcc -O2, -ffp-contract=off) on an MCUNet-like shape:
1x1 conv 16x16, 48 -> 16 channels (weight gradient + update; input gradient = the transposed conv),
depthwise 3x3 16x16x48, and the 96 -> 10 classifier. The count of a run with the op skipped is
subtracted. Exact counts: no timing noise.

    python bench/kernel_table.py [--out bench/results/kernel_table.json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OPS = [("wu_conv1x1", "1x1 conv weight grad + update"), ("ig_conv1x1", "1x1 conv input grad"),
       ("wu_dw3x3", "depthwise 3x3 weight grad + update"), ("ig_dw3x3", "depthwise 3x3 input grad"),
       ("wu_fc", "FC weight grad + update"), ("ig_fc", "FC input grad")]


def build(folder: str) -> str:
    exe = os.path.join(folder, "kernel_bench")
    srcs = [os.path.join(ROOT, "bench", "kernel_bench.c")]
    for sub in ("core", "core/naive"):
        d = os.path.join(ROOT, "kernels", sub)
        srcs += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".c")]
    subprocess.run(["gcc", "-std=c99", "-O2", "-ffp-contract=off", "-I", os.path.join(ROOT, "kernels", "include"),
                    *srcs, "-lm", "-o", exe], check=True)
    return exe


def instructions(exe: str, *args: str) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", exe, *args],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        m = re.search(r"^summary:\s+(\d+)", open(out).read(), re.M)
        return int(m.group(1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "kernel_table.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        exe = build(d)
        rows = []
        for op, label in OPS:
            for dtype in ("f32", "s8"):
                base = instructions(exe, op, "none", dtype)
                opt = instructions(exe, op, "opt", dtype) - base
                naive = instructions(exe, op, "naive", dtype) - base
                rows.append({"op": op, "what": label, "dtype": dtype, "optimised": opt, "naive": naive,
                             "ratio": naive / max(opt, 1)})
                print(f"| {label} | {dtype} | {opt:,} | {naive:,} | {naive / max(opt, 1):.1f}x |", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"tool": "valgrind callgrind (host x86-64, gcc -O2)", "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
