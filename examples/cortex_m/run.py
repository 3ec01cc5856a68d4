"""Runs the Cortex-M7 images under QEMU with the op-count plugin: bit-exactness, and instructions per op.

The images check themselves against the host (exit status 0 = every loss and the
trained state bit-exact); this script runs the optimised and the naive image, reads
the plugin's per-op counts and prints them per training step, with the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict

QEMU = ["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native"]


def symbol(elf: str, name: str) -> tuple[int, int]:
    out = subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[0], 16), int(parts[1], 16)
    raise SystemExit(f"{elf}: symbol {name} not found")


def run_image(elf: str, plugin: str, n_marks: int) -> dict:
    marks, _ = symbol(elf, "tflmt_op_marks")
    lo, size = symbol(elf, "tflmt_op_mark")
    lo &= ~1  # Thumb bit
    args = f"{plugin},marks={marks:#x},n={n_marks},lo={lo:#x},hi={lo + size:#x}"
    r = subprocess.run(QEMU + ["-plugin", args, "-kernel", elf], capture_output=True, text=True, timeout=3600)
    counts, other = {}, {}
    messages = []
    for line in r.stderr.splitlines():
        p = line.split()
        if len(p) == 3 and p[0] == "op":
            counts[int(p[1])] = int(p[2])
        elif len(p) == 2 and p[0] in ("pre", "total"):
            other[p[0]] = int(p[1])
        else:
            messages.append(line)
    return {"exit": r.returncode, "counts": counts, "total": other.get("total", 0), "messages": messages}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--json", default=None, help="also write the results here")
    a = p.parse_args(argv)
    for tool in ("qemu-system-arm", "arm-none-eabi-nm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install --no-install-recommends qemu-system-arm "
                             "gcc-arm-none-eabi libnewlib-arm-none-eabi (or bash scripts/setup.sh)")
    info = json.load(open(os.path.join(a.build, "image.json")))
    names, steps = info["op_names"], info["steps"]
    n_ops = len(names)
    plugin = os.path.abspath(os.path.join(a.build, "libopcount.so"))
    res = {v: run_image(os.path.join(a.build, elf), plugin, n_ops + 2)
           for v, elf in (("optimised", "m7.elf"), ("naive", "m7_naive.elf"))}
    for v, r in res.items():
        for m in r["messages"]:
            print(f"[{v}] {m}")
    ok = all(r["exit"] == 0 for r in res.values())
    print(f"\n{info['model']}: {info['scheme']}, {info['grad_dtype']} gradients, {steps} steps on Cortex-M7 "
          f"(QEMU mps2-an500); arena {info['arena_bytes']} B, trainable state {info['trainable_bytes']} B")
    print(f"bit-exact with the host (TFLM interpreter): {'yes' if ok else 'NO'}\n")
    rows = []
    print("| op | kind | optimised instr/step | naive instr/step | naive / optimised |")
    print("|---:|---|---:|---:|---:|")
    by_kind = defaultdict(lambda: [0, 0])
    for i in range(n_ops):
        o = res["optimised"]["counts"].get(i, 0) / steps
        nv = res["naive"]["counts"].get(i, 0) / steps
        rows.append({"op": i, "kind": names[i], "optimised": o, "naive": nv})
        by_kind[names[i]][0] += o
        by_kind[names[i]][1] += nv
        ratio = f"{nv / o:.2f}x" if o else "-"
        print(f"| {i} | {names[i]} | {o:,.0f} | {nv:,.0f} | {ratio} |")
    step_o = sum(r["optimised"] for r in rows)
    step_n = sum(r["naive"] for r in rows)
    print(f"| | **training step** | **{step_o:,.0f}** | **{step_n:,.0f}** | **{step_n / step_o:.2f}x** |")
    print("\nby op kind (instructions per step):")
    for k, (o, nv) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print(f"  {k:28s} {o:14,.0f} {nv:14,.0f}  {nv / o if o else 0:.2f}x")
    out = {"info": {k: v for k, v in info.items() if k != "op_names"}, "bit_exact": ok, "ops": rows,
           "step_instructions": {"optimised": step_o, "naive": step_n},
           "by_kind": {k: {"optimised": o, "naive": nv} for k, (o, nv) in by_kind.items()},
           "image_total_instructions": {v: r["total"] for v, r in res.items()}}
    with open(a.json or os.path.join(a.build, "counts.json"), "w") as f:
        json.dump(out, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
