"""tflm-train against stock TensorFlow Lite training and TensorFlow, batch 1, same model, one run.

Rows (see bench/stock_training.py for why stock TFLite training needs a stand-in here):
  litert        the float32 full-update training step with builtin-op gradients, LiteRT signature runner
  tflm-stock    the same .tflite (train signature only) in the TFLM wheel's interpreter
  tf            TensorFlow 2.21 tf.function step (hand-written gradients, checked against GradientTape)
  torch         PyTorch (the `torch` extra) eager step: the same network, autograd, torch.optim.SGD
  ours-full     tflm-train, int8 + QAS, full update, TFLM backend
  ours-sparse   tflm-train, a sparse scheme: last:2 (small CNN); "auto" under 1.10x the inference arena (MbV2)
  ours-paper    tflm-train, the paper's released ~100 KB scheme (MbV2)
  ours-*-ff     the same, with Trainer(fast_forward=True): the wheel's reference CONV_2D and
                DEPTHWISE_CONV_2D replaced by kernels/core's int8 kernels (bit-exact) in the same
                interpreter; the other rows run the wheel's own kernels

Memory: each row runs in its own process; its peak RSS (VmHWM) minus that of a process that
only imported the same runtime. For TFLM rows also the arena TFLM reports. Time: median
ms per step after warm-up steps, all rows measured in this one run.

    python bench/vs_stock.py --quick        # < 5 min: both models, 5 timed steps per row
    python bench/vs_stock.py                # 30 timed steps per row
"""
from __future__ import annotations

import argparse
import contextlib
import io as pyio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MODELS = {"small": "Fashion-MNIST example CNN (mcu, 28x28x1)", "mbv2": "MobileNetV2-w0.35, 128x128x3"}
OURS = ("ours-full", "ours-sparse", "ours-paper", "ours-sparse-ff", "ours-paper-ff")
ROWS = ("litert", "tflm-stock", "tf", "torch") + OURS
RUNTIME_OF = {"litert": "litert", "tflm-stock": "tflm", "tf": "tf", "torch": "torch", **{r: "tflm" for r in OURS}}
KB, MB = 1024, 1024 * 1024


def vm_hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# ----------------------------------------------------------------------------- preparation (parent)

def prepare(model: str, work: str) -> dict:
    """Writes the int8 model, the stock stand-in .tflite files and tflm-train's graphs for one model."""
    import stock_training as S
    import tflm_train as tt

    if model == "small":
        sys.path.insert(0, os.path.join(ROOT, "examples", "fashion_mnist_transfer"))
        import quickstart as q
        keras_model, calibration = q.pretrain(0, arch="mcu")
        sparse, paper = "last:2", None
    else:
        from tflm_train import zoo
        from tflm_train.sparse.paper import paper_scheme
        keras_model = zoo.build("mbv2-w0.35", num_classes=10, input_size=128, seed=0)
        calibration = np.random.default_rng(0).uniform(-1, 1, (8, 128, 128, 3)).astype(np.float32)
        # A live signal: with Keras's default init (no BatchNorm) the gradients are almost all
        # zero, and kernels that skip zero work would be timed on work they never do.
        zoo.scale_to_unit_signal(keras_model, calibration[:2])
        sparse = "auto"  # under 1.10x the (patched) inference arena, as bench/memory_table.py
        paper = paper_scheme("mbv2-w0.35", "100kb")
    with contextlib.redirect_stdout(pyio.StringIO()):
        int8 = tt.keras_to_int8_tflite(keras_model, calibration)
    prog = S.float_program(int8)
    t0 = time.time()
    with contextlib.redirect_stdout(pyio.StringIO()):
        stock = S.training_tflite(prog, with_infer=True)
        stock_train_only = S.training_tflite(prog, with_infer=False)
    convert_s = time.time() - t0
    paths = {"int8": "int8.tflite", "stock": "stock_train.tflite", "stock_train_only": "stock_train_only.tflite",
             "ours-full": "full.train.tflite", "ours-sparse": "sparse.train.tflite",
             "ours-paper": "paper.train.tflite"}
    paths = {k: os.path.join(work, f"{model}_{v}") for k, v in paths.items()}
    for key, data in (("int8", int8), ("stock", stock), ("stock_train_only", stock_train_only)):
        with open(paths[key], "wb") as f:
            f.write(data)
    budget = None
    if sparse == "auto":
        probe = tt.convert_tflite(int8, scheme="classifier", progress=False)
        inference = tt.Trainer(probe, backend="tflm").memory_report()["tflm"]["inference_arena_bytes"]
        budget = min(int(1.10 * inference), 256 * KB)
    for key, scheme in (("ours-full", "full"), ("ours-sparse", sparse), ("ours-paper", paper)):
        if scheme is None:
            continue
        tm = tt.convert_tflite(int8, scheme=scheme, progress=False, max_loss=float("inf"),
                               sram_budget=budget if scheme == "auto" else None)
        tm.save(paths[key])
        if key == "ours-sparse":
            sparse = tm.scheme
            static_c = static_c_memory(tm)
    np.savez(os.path.join(work, f"{model}_sample.npz"), x=calibration[:1], y=np.array([3], np.int32))
    ops = stock_ops(stock)
    return {"paths": paths, "sparse_scheme": sparse, "sparse_budget_bytes": budget, "static_c": static_c,
            "stock_convert_seconds": convert_s,
            "stock_file_bytes": len(stock), "stock_ops": ops,
            "converter_flags": "TFLiteConverter.from_saved_model(signature_keys=['train', 'infer']); "
                               "target_spec.supported_ops = [TFLITE_BUILTINS] (resource variables on, the default)"}


def stock_ops(tflite: bytes) -> dict:
    from collections import Counter

    from tflm_train import tflite_io as io
    m = io.read_model(tflite)
    train = max(m.subgraphs, key=lambda sg: len(sg.operators))  # the train signature's subgraph
    return dict(Counter(io.op_name(m, op) for op in train.operators).most_common())


# ----------------------------------------------------------------------------- rows (children)

def timed(step, steps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        step()
    out = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def child(row: str, work: str, model: str, steps: int) -> dict:
    sample = np.load(os.path.join(work, f"{model}_sample.npz"))
    x, y = sample["x"].astype(np.float32), sample["y"].astype(np.int32)
    p = lambda k: os.path.join(work, f"{model}_{k}")  # noqa: E731
    if row.startswith("import:"):
        rt = row.split(":", 1)[1]
        if rt == "litert":
            from ai_edge_litert.interpreter import Interpreter  # noqa: F401
        elif rt == "tf":
            import tensorflow  # noqa: F401

            import tflm_train  # noqa: F401
        elif rt == "torch":
            import torch  # noqa: F401
        else:
            from tflite_micro.python.tflite_micro import runtime  # noqa: F401

            import tflm_train  # noqa: F401
        return {"hwm_kb": vm_hwm_kb()}
    if row == "litert":
        from ai_edge_litert.interpreter import Interpreter
        interp = Interpreter(model_path=p("stock_train.tflite"), num_threads=1)
        train = interp.get_signature_runner("train")
        losses = []
        ms = timed(lambda: losses.append(float(train(x=x, y=y)["loss"])), steps)
        return {"ms": ms, "hwm_kb": vm_hwm_kb(), "loss_first": losses[0], "loss_last": losses[-1]}
    if row == "tflm-stock":
        from tflite_micro.python.tflite_micro import runtime

        from tflm_train.runtime.tflm import _captured_allocations
        data = open(p("stock_train_only.tflite"), "rb").read()
        interp = runtime.Interpreter.from_bytes(data, arena_size=512 * MB)
        order = [interp.get_input_details(i) for i in range(2)]
        xi = 0 if np.dtype(order[0]["dtype"]) == np.float32 else 1
        losses = []

        def step():
            interp.set_input(x, xi)  # TFLM reuses input buffers: set both before every invoke
            interp.set_input(y, 1 - xi)
            interp.invoke()
            losses.append(float(np.asarray(interp.get_output(0)).reshape(-1)[0]))
        ms = timed(step, steps)
        return {"ms": ms, "hwm_kb": vm_hwm_kb(), "arena_bytes": _captured_allocations(interp)["arena"],
                "loss_first": losses[0], "loss_last": losses[-1]}
    if row == "tf":
        import tensorflow as tf

        import stock_training as S
        prog = S.float_program(open(p("int8.tflite"), "rb").read())
        m = S.StockModel(prog)
        err = S.check_gradients(m, x, int(y[0]))
        fn = tf.function(m.sgd_step, input_signature=[tf.TensorSpec(x.shape, tf.float32),
                                                      tf.TensorSpec([1], tf.int32)])
        xt, yt = tf.constant(x), tf.constant(y)
        losses = []
        ms = timed(lambda: losses.append(float(fn(xt, yt))), steps)
        return {"ms": ms, "hwm_kb": vm_hwm_kb(), "grad_rel_err_vs_tape": err, "loss_first": losses[0],
                "loss_last": losses[-1]}
    if row == "torch":
        try:
            import torch
        except ImportError:
            return {"skipped": "PyTorch is not installed (optional: pip install -e '.[torch]')"}
        import stock_training as S
        import torch_step as T
        m = T.TorchModel(S.float_program(open(p("int8.tflite"), "rb").read()))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        losses = []
        ms = timed(lambda: losses.append(m.sgd_step(xt, yt)), steps)
        return {"ms": ms, "hwm_kb": vm_hwm_kb(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                "loss_first": losses[0], "loss_last": losses[-1]}
    import tflm_train as tt
    fast_forward = row.endswith("-ff")
    name = row.removeprefix("ours-").removesuffix("-ff")
    if not os.path.exists(p(f"{name}.train.tflite")):
        return {"skipped": "no such scheme for this model"}
    tm = tt.load(p(f"{name}.train.tflite"))
    tr = tt.Trainer(tm, backend="tflm", fast_forward=fast_forward)
    losses = []
    ms = timed(lambda: losses.append(tr.train_step(x, int(y[0]))), steps)
    hwm = vm_hwm_kb()  # before memory_report, which builds a second (inference) interpreter
    mem = tr.memory_report()["tflm"]
    return {"ms": ms, "hwm_kb": hwm, "arena_bytes": int(mem["training_arena_bytes"]),
            "trainable_bytes": int(mem["trainable_bytes"]), "inference_arena_bytes": int(mem["inference_arena_bytes"]),
            "scheme": tm.scheme,
            "loss_first": losses[0], "loss_last": losses[-1]}


def run_child(row: str, work: str, model: str, steps: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", row, "--work", work, "--model", model,
           "--steps", str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- report

def ratio(a, b) -> str:
    return f"{a / b:,.0f}x" if a and b else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 timed steps per row (< 5 minutes)")
    ap.add_argument("--models", default="small,mbv2")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "vs_stock.json"))
    ap.add_argument("--plot", default=os.path.join(HERE, "results", "vs_stock.png"),
                    help="PNG of memory and time per row ('' for none)")
    ap.add_argument("--replot", action="store_true", help="only redraw the table and plot from --out's JSON")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    steps = a.steps or (5 if a.quick else 30)
    if a.child:
        with contextlib.redirect_stdout(sys.stderr):
            res = child(a.child, a.work, a.model, steps)
        print(json.dumps(res))
        return 0
    if a.replot:
        results = json.load(open(a.out))
        print_table(results)
        if a.plot:
            plot(results, a.plot)
        return 0
    t_start = time.time()
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{platform.platform()}", "steps_timed": steps, "models": {}}
    with tempfile.TemporaryDirectory() as work:
        for model in a.models.split(","):
            info = prepare(model, work)
            base = {rt: run_child(f"import:{rt}", work, model, steps) for rt in ("litert", "tf", "tflm", "torch")}
            rows = {}
            for row in ROWS:
                r = run_child(row, work, model, steps)
                b = base[RUNTIME_OF[row]].get("hwm_kb")
                if "hwm_kb" in r and b:
                    r["rss_increase_bytes"] = (r["hwm_kb"] - b) * 1024
                if "ms" in r:
                    r["median_ms"] = float(np.median(r["ms"]))
                rows[row] = r
                print(f"[{model}] {row}: " + (f"{r['median_ms']:.2f} ms/step" if "median_ms" in r else
                                              str(r.get("skipped") or r.get("error"))), file=sys.stderr)
            first = {r: rows[r]["loss_first"] for r in ("litert", "tflm-stock", "tf", "torch") if "loss_first" in rows[r]}
            ref = first.get("tf")
            agree = {r: abs(v - ref) / max(abs(ref), 1e-12) for r, v in first.items()} if ref is not None else {}
            print(f"[{model}] first-step loss, relative to TF: " + ", ".join(f"{r} {v:.1e}" for r, v in agree.items()),
                  file=sys.stderr)
            results["models"][model] = {"description": MODELS[model], "rows": rows, "import_baselines": base,
                                        "float_losses_rel_to_tf": agree,
                                        **{k: v for k, v in info.items() if k != "paths"}}
    results["seconds"] = time.time() - t_start
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print_table(results)
    if a.plot:
        plot(results, a.plot)
    return 0


def plot(results: dict, path: str) -> None:
    """Training memory (log scale) and ms per step of every row, one panel pair per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results["models"])
    fig, axes = plt.subplots(2, len(models), figsize=(6 * len(models), 7), squeeze=False)
    for col, model in enumerate(models):
        rows = {k: v for k, v in results["models"][model]["rows"].items() if "median_ms" in v}
        names = list(rows)
        mem = [(r.get("arena_bytes") if k == "tflm-stock" or k in OURS
                else r.get("rss_increase_bytes")) or 0 for k, r in rows.items()]
        colors = ["tab:green" if k.startswith("ours") else "tab:gray" for k in names]
        ax = axes[0][col]
        ax.bar(names, [m / KB for m in mem], color=colors)
        ax.set_yscale("log")
        ax.set_ylabel("training memory, KB (log)")
        ax.set_title(results["models"][model]["description"])
        for i, m in enumerate(mem):
            ax.text(i, m / KB, f"{m / KB:,.0f}", ha="center", va="bottom", fontsize=8)
        ax = axes[1][col]
        ax.bar(names, [r["median_ms"] for r in rows.values()], color=colors)
        ax.set_ylabel("ms per step (median)")
        for a_ in axes[:, col]:
            a_.tick_params(axis="x", labelrotation=20)
    fig.suptitle(f"tflm-train vs stock TFLite training, batch 1 ({results['date']}, {results['machine'].split(',')[0]}); "
                 "memory: TFLM arena (tflm-*, ours-*), process RSS increase (litert, tf)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def static_c_memory(tm) -> dict:
    """The same training step as static C (tflm_train.codegen.generate) on kernels/core, no
    interpreter: its planned arena (tensors and scratch, no TFLM bookkeeping: per-op data and
    requantization constants are in flash) plus the trainable state it keeps in SRAM.
    examples/cortex_m runs that C on the Cortex-M7 and checks it bit for bit against the TFLM run
    (`make run MODEL=mbv2-w0.35 SCHEME=<the sparse scheme> PATCH=auto`)."""
    from tflm_train import codegen
    prog = codegen.generate(tm, "model")
    trainable = prog.trainable_bytes
    return {"arena_bytes": prog.arena_bytes, "trainable_bytes": trainable, "total_bytes": prog.arena_bytes + trainable}


def print_table(results: dict) -> None:
    print(f"\nvs stock TFLite training, batch 1 ({results['date']}, {results['machine']}; "
          f"median of {results['steps_timed']} steps)\n")
    for model, m in results["models"].items():
        rows = m["rows"]
        ours = rows["ours-sparse"]
        ours_mem = ours.get("arena_bytes")
        print(f"### {m['description']}  (sparse scheme: {ours.get('scheme', '?')})\n")
        print("| runtime | what | ms / step | memory | memory / ours-sparse | time / ours-sparse |")
        print("|---|---|---:|---:|---:|---:|")
        what = {"litert": "stand-in, builtin-op gradients, float, full", "tflm-stock": "same .tflite in TFLM",
                "tf": "tf.function step, float, full", "torch": "eager step, autograd, float, full", "ours-full": "int8+QAS, full update",
                "ours-sparse": "int8+QAS, sparse update (auto under 1.10x inference, or last:2)",
                "ours-paper": "int8+QAS, the paper's ~100 KB scheme",
                "ours-sparse-ff": "ours-sparse, fast_forward (our int8 conv kernels in the interpreter)",
                "ours-paper-ff": "ours-paper, fast_forward"}
        for row in ROWS:
            r = rows[row]
            if "median_ms" not in r:
                print(f"| {row} | {r.get('skipped') or r.get('error')} | - | - | - | - |")
                continue
            if row == "tflm-stock" or row in OURS:
                mem, label = r.get("arena_bytes"), "arena"
            else:
                mem, label = r.get("rss_increase_bytes"), "RSS +"
            mem_s = f"{label} {mem / KB:,.1f} KB" if mem else "-"
            print(f"| {row} | {what[row]} | {r['median_ms']:.2f} | {mem_s} | {ratio(mem, ours_mem)} | "
                  f"{r['median_ms'] / ours['median_ms']:.2f}x |")
        ec = m.get("static_c")
        if ec:
            total = ec["total_bytes"]
            mems = {row: rows[row].get("arena_bytes" if row == "tflm-stock" else "rss_increase_bytes")
                    for row in ("litert", "tflm-stock", "tf", "torch") if "median_ms" in rows[row]}
            print(f"\nours-sparse as static C (codegen.generate, kernels/core, no interpreter): planned arena "
                  f"{ec['arena_bytes'] / KB:,.1f} KB + trainable state {ec['trainable_bytes'] / KB:,.1f} KB = "
                  f"{total / KB:,.1f} KB; memory / that: "
                  + ", ".join(f"{k} {ratio(v, total)}" for k, v in mems.items()))
        print()


if __name__ == "__main__":
    sys.exit(main())
