"""Cortex-M7 instruction counts (QEMU mps2-an500, exact, op-count plugin): optimised vs naive kernels.

Runs `make -C examples/cortex_m run` for each configuration: the generated training step,
built twice (optimised kernels / the plain loop nests), each image checking its own
losses and trained state bit for bit against the host TFLM run. Prints per op kind the
instructions per training step and the ratio, and the whole step; writes JSON.

    python bench/cortex_m_table.py                 # ~5 min
    python bench/cortex_m_table.py --configs mcunet
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "cortex_m")
CONFIGS = {
    "example-last2-f32": ["MODEL=fashion_mnist", "SCHEME=last:2", "GRAD=float32", "STEPS=20"],
    "example-full-f32": ["MODEL=fashion_mnist", "SCHEME=full", "GRAD=float32", "STEPS=20"],
    "example-full-int8": ["MODEL=fashion_mnist", "SCHEME=full", "GRAD=int8", "STEPS=20"],
    "mcunet": ["MODEL=mcunet-5fps", "SCHEME=paper", "GRAD=float32", "STEPS=2"],
    "mcunet-int8": ["MODEL=mcunet-5fps", "SCHEME=paper", "GRAD=int8", "STEPS=2"],
}
HOT = ["TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_CONV_INPUT_GRAD", "TFLMT_DW_WEIGHT_UPDATE", "TFLMT_DW_INPUT_GRAD",
       "TFLMT_FC_WEIGHT_UPDATE", "TFLMT_FC_INPUT_GRAD", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD"]


def run(name: str, args: list[str], build_root: str) -> dict:
    build = os.path.join(build_root, name)
    t = time.time()
    r = subprocess.run(["make", "-C", EXAMPLE, "run", f"BUILD={build}", *args], capture_output=True, text=True,
                       timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"{name}: make failed\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    counts = json.load(open(os.path.join(build, "counts.json")))
    counts["seconds"] = time.time() - t
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--out", default=os.path.join(HERE, "results", "cortex_m_table.json"))
    a = p.parse_args(argv)
    res = {"date": time.strftime("%Y-%m-%d"), "target": "Cortex-M7 (QEMU 7.2 mps2-an500), arm-none-eabi-gcc 12 -O2, "
           "-mfpu=fpv5-d16 -mfloat-abi=hard", "configs": {}}
    with tempfile.TemporaryDirectory() as d:
        for name in a.configs.split(","):
            res["configs"][name] = run(name, CONFIGS[name], d)
            print(f"{name}: done", file=sys.stderr)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"\nInstructions per training step on {res['target']} ({res['date']}); optimised / naive (ratio)\n")
    names = list(res["configs"])
    print("| op kind | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for kind in HOT:
        cells = []
        for n in names:
            k = res["configs"][n]["by_kind"].get(kind)
            cells.append("-" if not k or not k["optimised"] else
                         f"{k['optimised'] / 1e6:.3g}M / {k['naive'] / 1e6:.3g}M ({k['naive'] / k['optimised']:.1f}x)")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        s = res["configs"][n]["step_instructions"]
        cells.append(f"**{s['optimised'] / 1e6:.3g}M / {s['naive'] / 1e6:.3g}M ({s['naive'] / s['optimised']:.1f}x)**")
    print("| **whole training step** | " + " | ".join(cells) + " |")
    print("| bit-exact with host TFLM | " + " | ".join("yes" if res["configs"][n]["bit_exact"] else "NO"
                                                      for n in names) + " |")
    print("| scheme | " + " | ".join(str(res["configs"][n]["info"]["scheme"]) for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
