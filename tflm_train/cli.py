"""tflm-train: the command line.

    tflm-train convert  --input=model.tflite|model.keras|saved_model_dir --output=m.train.tflite
                        [--scheme=last:2|bias|full|classifier|auto|sparse:...] [--sram_budget=96K]
                        [--calibration=calib.npz] [--train_data=data.npz] [--grad_dtype=float32|int8]
                        [--update_precision=int8|int16]
                        [--learning_rate=0.01] [--decay_steps=0] [--final_learning_rate=0] [--warmup_steps=0]
                        [--seed=0] [--patch=auto|none|OPS:RxC]
                        [--weight_headroom=4] [--logit_headroom=2]
    tflm-train inspect  m.train.tflite [--measure] [--plot=memory.png]
    tflm-train fit      m.train.tflite --data=train.npz [--epochs=1] [--eval_data=test.npz]
                        [--output=m.trained.tflite] [--backend=tflm|reference] [--plot=loss.png]
    tflm-train export-c m.train.tflite --output_dir=out [--name=model] [--static]

Data files are .npz with `x` (samples, float or int8, [N, ...]) and `y` (integer labels, [N]).
A model or trained state is always written atomically (all or nothing).
"""
from __future__ import annotations

import os
import re
import sys
from collections import Counter

import numpy as np
from absl import app, flags

from . import memory
from .errors import DivergenceError, InputError, TflmTrainError, UnsupportedModelError
from .model import TrainingModel, atomic_write, load

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "convert: the model to convert (.tflite, .keras/.h5 or a SavedModel directory)")
flags.DEFINE_string("output", None, "convert / fit: where to write the model")
flags.DEFINE_string("scheme", "bias", "convert: full, bias, classifier, last:K, auto or sparse:bias=K;weights=L:R,...")
flags.DEFINE_string("sram_budget", None, "convert --scheme=auto: training arena budget in bytes (suffix K or M ok)")
flags.DEFINE_string("calibration", None, "convert: .npz of representative inputs (x) for a Keras/SavedModel input")
flags.DEFINE_string("train_data", None, "convert --scheme=auto: .npz (x, y) for the contribution analysis")
flags.DEFINE_enum("grad_dtype", "float32", ["float32", "int8"], "convert: gradient dtype of the backward ops")
flags.DEFINE_enum("update_precision", "int8", ["int8", "int16"],
                  "convert: int16 adds one residual byte per trained weight (16-bit weight updates)")
flags.DEFINE_float("learning_rate", None, "convert: SGD learning rate (default 0.01)")
flags.DEFINE_integer("decay_steps", 0, "convert: decay the learning rate linearly over each update's first N steps "
                     "(0: constant; for a fine-tuning of known length, its step count)")
flags.DEFINE_float("final_learning_rate", 0.0, "convert --decay_steps: the rate the decay ends at")
flags.DEFINE_integer("warmup_steps", 0, "convert: ramp the learning rate up linearly over each update's first N steps")
flags.DEFINE_integer("seed", 0, "convert / fit: seed (stochastic rounding, search, sample order)")
flags.DEFINE_float("weight_headroom", 4.0, "convert: re-quantize the weight-trained layers with this many times "
                   "their scale, so trained weights can grow past the pretrained range (>= 1)")
flags.DEFINE_float("logit_headroom", 2.0, "convert: widen the logits' int8 scale this many times, so fine-tuning "
                   "can grow them past the pretrained range (>= 1)")
flags.DEFINE_string("patch", "auto", "convert: patch-based first stage: auto, none, or OPS:RxC (e.g. 6:3x3)")
flags.DEFINE_bool("measure", False, "inspect: also load the model in TFLM and report the measured arena")
flags.DEFINE_string("plot", None, "inspect: memory timeline PNG; fit: loss curve PNG")
flags.DEFINE_string("data", None, "fit: .npz training data (x, y)")
flags.DEFINE_string("eval_data", None, "fit: .npz test data (x, y) for accuracy before and after")
flags.DEFINE_integer("epochs", 1, "fit: passes over the data")
flags.DEFINE_enum("backend", "tflm", ["tflm", "reference"], "fit: TFLM's interpreter or the numpy reference")
flags.DEFINE_bool("fast_forward", True, "fit --backend=tflm: run CONV_2D/DEPTHWISE_CONV_2D on tflm-train's optimised "
                  "int8 kernels instead of the wheel's reference kernels (bit-exact; --nofast_forward for the wheel's)")
flags.DEFINE_string("output_dir", None, "export-c: folder for <name>.h and <name>.c")
flags.DEFINE_string("name", "model", "export-c: C identifier prefix")
flags.DEFINE_bool("static", False, "export-c: write the training step as static C on kernels/core (no TFLM: "
                  "<name>_step / <name>_infer, one planned arena, constants in flash) instead of a model array "
                  "for the TFLM interpreter")

COMMANDS = ("convert", "inspect", "fit", "export-c")
KB = 1024


# ---------------------------------------------------------------------------- helpers
def parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)[bB]?\s*", text or "")
    if not m:
        raise InputError(f"--sram_budget={text!r}: give bytes, e.g. 98304, 96K or 1M")
    return int(m.group(1)) * {"": 1, "k": KB, "m": KB * KB}[m.group(2).lower()]


def parse_patch(text: str):
    from .patch import PatchPlan

    t = (text or "").strip().lower()
    if t == "auto":
        return "auto"
    if t in ("none", "off", ""):
        return None
    m = re.fullmatch(r"(\d+):(\d+)x(\d+)", t)
    if not m:
        raise InputError(f"--patch={text!r}: use auto, none or OPS:RxC (e.g. 6:3x3)")
    return PatchPlan(int(m.group(1)), (int(m.group(2)), int(m.group(3))))


def load_npz(path: str, need_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        with np.load(path) as z:
            keys = set(z.files)
            if "x" not in keys or (need_labels and "y" not in keys):
                raise InputError(f"{path}: needs arrays 'x'" + (" and 'y'" if need_labels else "")
                                 + f", has {sorted(keys)}")
            x = z["x"]
            y = z["y"] if "y" in keys else None
    except (OSError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path}: not a readable .npz file ({e})") from None
    if y is not None and len(y) != len(x):
        raise InputError(f"{path}: {len(x)} samples in x but {len(y)} labels in y")
    if len(x) == 0:
        raise InputError(f"{path}: no samples")
    return x, y


def _require(value, flag: str, command: str):
    if value is None:
        raise InputError(f"{command} needs --{flag}")
    return value


def _kb(n: float) -> str:
    return f"{n / KB:.1f} KB"


# ---------------------------------------------------------------------------- convert
def cmd_convert(args: list[str]) -> int:
    from . import converter

    src = FLAGS.input or (args[0] if args else None)
    _require(src, "input", "convert")
    out = FLAGS.output or re.sub(r"(\.tflite|\.keras|\.h5)?/?$", "", src) + ".train.tflite"
    kw = dict(scheme=FLAGS.scheme, grad_dtype=FLAGS.grad_dtype, update_precision=FLAGS.update_precision,
              learning_rate=FLAGS.learning_rate, decay_steps=FLAGS.decay_steps,
              final_learning_rate=FLAGS.final_learning_rate, warmup_steps=FLAGS.warmup_steps, seed=FLAGS.seed,
              patch=parse_patch(FLAGS.patch), weight_headroom=FLAGS.weight_headroom,
              logit_headroom=FLAGS.logit_headroom)
    if FLAGS.sram_budget is not None:
        kw["sram_budget"] = parse_bytes(FLAGS.sram_budget)
    if FLAGS.train_data:
        x, y = load_npz(FLAGS.train_data)
        kw["train_data"] = list(zip(x, y))
    if src.endswith(".tflite"):
        if not os.path.isfile(src):
            raise InputError(f"{src}: no such file")
        tm = converter.convert_tflite(src, **kw)
    else:
        import tensorflow as tf

        if not os.path.exists(src):
            raise InputError(f"{src}: no such file or directory")
        calib = _require(FLAGS.calibration, "calibration", "convert of a Keras model or SavedModel")
        x, _ = load_npz(calib, need_labels=False)
        model = src if os.path.isdir(src) else tf.keras.models.load_model(src, compile=False)
        tm = converter.convert(model, x, **kw)
    tm.save(out)
    mem = tm.memory_report()
    print(f"wrote {out} ({len(tm.to_bytes())} bytes): scheme {tm.scheme}"
          + (f", {tm.patch}" if tm.patch else "") + f", {tm.grad_dtype} gradients")
    print(f"memory (analytic): inference {_kb(mem['inference_peak_bytes'])}, training "
          f"{_kb(mem['training_peak_bytes'])}, trainable state {_kb(mem['trainable_bytes'])}")
    r = tm.search_result
    if r is not None and r.measured_arena_bytes is not None:
        print(f"auto scheme: training arena {_kb(r.measured_arena_bytes)} as TFLM measures it "
              f"(budget {_kb(kw['sram_budget'])}), {r.evaluated} schemes sized, {len(r.measured)} measured")
        for text, loss in r.validated:
            print(f"  validated {text}: held-out loss {loss:.4f}" + ("  <- picked" if text == r.scheme.text() else ""))
    return 0


# ---------------------------------------------------------------------------- inspect
def describe(tm: TrainingModel) -> str:
    from . import tflite_io as io
    from ._generated import tflm_train_generated as G

    g, sg = tm.graph, tm.model.subgraphs[0]
    producer = g.producer.decode() if isinstance(g.producer, bytes) else g.producer
    residual = any(t.kind == G.ParamKind.RESIDUAL for t in g.trainables or [])
    decay = tm.learning_rate_decay
    rate = f"{tm.learning_rate:g}" + (f" decaying to {decay[1]:g} over {decay[0]} steps" if decay else "") \
        + (f", warm-up {tm.warmup_steps} steps" if tm.warmup_steps else "")
    lines = [f"producer {producer}; scheme {tm.scheme}; {tm.grad_dtype} gradients; "
             f"{'int16 (residual bytes)' if residual else 'int8'} weight updates; learning rate {rate}; "
             f"{tm.num_classes} classes" + (f"; {tm.patch}" if tm.patch else "")]
    shape, dtype, _ = tm.input_details()
    lines.append(f"input {shape} {np.dtype(dtype).name}; {len(sg.operators)} operators, {len(sg.tensors)} tensors")
    fwd = Counter(op.kind for op in tm.forward_ops)
    train = Counter(op.name for op in tm.train_ops)
    lines.append("forward ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(fwd.items())))
    lines.append("training ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(train.items())))
    lines.append("")
    lines.append(f"{'trainable tensor':48} {'kind':6} {'shape':18} {'channels':>9} {'bytes':>8}")
    for t in g.trainables or []:
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        tshape = io.shape(sg.tensors[t.tensor])
        # A channel slice holds its listed channels of the frozen tensor (slice_of): n of that tensor's C.
        of = io.shape(sg.tensors[t.sliceOf])[-1] if t.sliceOf >= 0 else tshape[-1]
        n_ch = len(t.inputChannels) if t.inputChannels is not None and len(t.inputChannels) else tshape[-1]
        kind = {G.ParamKind.WEIGHT: "weight", G.ParamKind.BIAS: "bias"}.get(t.kind, "resid")
        lines.append(f"{name[-48:]:48} {kind:6} {str(tshape):18} {f'{n_ch}/{of}':>9} {t.stateBytes:>8}")
    return "\n".join(lines)


def memory_lines(report: dict) -> list[str]:
    a = report.get("analytic", report)
    out = [f"memory, analytic: inference arena {_kb(a['inference_peak_bytes'])}; training arena "
           f"{_kb(a['training_peak_bytes'])} = planned {_kb(a['training_nonpersistent_bytes'])} + persistent "
           f"{_kb(a['training_persistent_bytes'])} (trainable state {_kb(a['trainable_bytes'])}, clamp masks "
           f"{_kb(a['mask_bytes'])})"]
    if "tflm" in report:
        t = report["tflm"]
        out.append(f"memory, TFLM measured: inference arena {_kb(t['inference_arena_bytes'])}; training arena "
                   f"{_kb(t['training_arena_bytes'])} = planned {_kb(t['training_nonpersistent_bytes'])} + "
                   f"persistent {_kb(t['training_persistent_bytes'])}")
    return out


def memory_timeline(tm: TrainingModel) -> tuple[list[str], list[int]]:
    """Bytes of tensors and scratch live at each operator of the schedule (the planner's input)."""
    from . import tflite_io as io

    m, g = tm.model, tm.graph
    sg = m.subgraphs[0]
    ops = list(range(len(sg.operators)))
    scratch = {i: memory.scratch_bytes(m, sg.operators[i]) for i in ops}
    bufs = memory.lifetimes(m, ops, [g.inputTensor, g.labelTensor], [g.logitsTensor, g.lossTensor], scratch)
    live = [sum(b.size for b in bufs if b.first <= i <= b.last) for i in ops]
    return [io.op_name(m, sg.operators[i]) for i in ops], live


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'tflm-train[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_memory(tm: TrainingModel, path: str) -> None:
    plt = _pyplot()
    names, live = memory_timeline(tm)
    mem = tm.memory_report()
    loss_op = min((op.index for op in tm.train_ops if op.name == "TFLMT_SOFTMAX_CE"), default=len(live))
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(range(len(live)), np.asarray(live) / KB, lw=1.2, label="live tensors + scratch")
    ax.axhline(mem["training_nonpersistent_bytes"] / KB, color="C1", ls="--", lw=1, label="planned arena head")
    ax.axvline(loss_op - 0.5, color="gray", lw=0.8, ls=":", label="end of forward pass")
    ax.set_xlabel("operator (schedule order)")
    ax.set_ylabel("KB")
    ax.set_title(f"{os.path.basename(path)}: scheme {tm.scheme}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig, path: str) -> None:
    import io as _io

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write(path, buf.getvalue())


def cmd_inspect(args: list[str]) -> int:
    path = _require(args[0] if args else FLAGS.input, "input", "inspect")
    tm = load(path)
    print(f"{path} ({len(tm.to_bytes())} bytes)")
    print(describe(tm))
    print()
    if FLAGS.measure:
        from .runtime import Trainer
        report = Trainer(tm, backend="tflm").memory_report()
    else:
        report = tm.memory_report()
    print("\n".join(memory_lines(report)))
    if FLAGS.plot:
        plot_memory(tm, FLAGS.plot)
        print(f"memory timeline written to {FLAGS.plot}")
    return 0


# ---------------------------------------------------------------------------- fit
def cmd_fit(args: list[str]) -> int:
    from .progress import Progress
    from .runtime import Trainer

    path = _require(args[0] if args else FLAGS.input, "input", "fit")
    x, y = load_npz(_require(FLAGS.data, "data", "fit"))
    if FLAGS.epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {FLAGS.epochs}")
    out = FLAGS.output or re.sub(r"(\.train)?\.tflite$", "", path) + ".trained.tflite"
    if os.path.abspath(out) == os.path.abspath(path):
        raise InputError(f"--output {out} would overwrite the input model; choose another file")
    tm = load(path)
    trainer = Trainer(tm, backend=FLAGS.backend, fast_forward=FLAGS.fast_forward and FLAGS.backend == "tflm")
    ev = load_npz(FLAGS.eval_data) if FLAGS.eval_data else None
    if ev is not None:
        print(f"accuracy before: {100 * trainer.evaluate(*ev):.1f}% on {len(ev[0])} samples")
    rng = np.random.default_rng(FLAGS.seed)
    curve, refused = [], 0
    for epoch in range(FLAGS.epochs):
        bar = Progress(len(x), f"epoch {epoch + 1}/{FLAGS.epochs}")
        losses = []
        for k, i in enumerate(rng.permutation(len(x)), start=1):
            try:
                losses.append(trainer.train_step(x[i], y[i]))
                curve.append(losses[-1])
            except DivergenceError:
                refused += 1  # no update applied; the state is as before this step
            if k % 25 == 0 or k == len(x):
                bar.done = k - 1
                bar.step(f"loss {np.mean(losses[-100:]):.3f}" if losses else "")
        bar.close()
    if refused:
        print(f"{refused} steps refused by the divergence guard (loss above the model's max_loss): "
              "lower the learning rate")
    if ev is not None:
        print(f"accuracy after:  {100 * trainer.evaluate(*ev):.1f}%")
    atomic_write(out, trainer.export())
    print(f"trained model written to {out}")
    if FLAGS.plot:
        plot_loss(curve, FLAGS.plot)
        print(f"loss curve written to {FLAGS.plot}")
    return 0


def plot_loss(losses: list[float], path: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    k = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(losses, lw=0.5, alpha=0.4, label="per step")
    ax.plot(np.arange(len(smooth)) + k - 1, smooth, lw=1.5, label=f"mean of {k}")
    ax.set_xlabel("training step (batch 1)")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)


# ---------------------------------------------------------------------------- export-c
RESOLVER_CALLS = {
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "FULLY_CONNECTED": "AddFullyConnected",
    "ADD": "AddAdd", "AVERAGE_POOL_2D": "AddAveragePool2D", "MEAN": "AddMean", "RESHAPE": "AddReshape",
    "PAD": "AddPad", "SOFTMAX": "AddSoftmax", "QUANTIZE": "AddQuantize", "DEQUANTIZE": "AddDequantize",
    "STRIDED_SLICE": "AddStridedSlice", "CONCATENATION": "AddConcatenation", "MAX_POOL_2D": "AddMaxPool2D",
}
TRAINING_OPS = 18  # tflmt::AddTrainingOps registers this many (kernels/tflm/ops.cc)


def export_c(tm: TrainingModel, name: str, source: str = "") -> tuple[str, str]:
    """(<name>.h, <name>.c): the model as an aligned const array, its arena size and the ops to register."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise InputError(f"--name={name!r} is not a C identifier")
    data = tm.to_bytes()
    kinds = sorted({op.kind for op in tm.forward_ops})
    mem = tm.memory_report()
    # The analytic arena is for the 64-bit host; a 32-bit MCU's TFLM structs are smaller. 5% headroom.
    arena = (int(mem["training_peak_bytes"] * 1.05) + 15) // 16 * 16
    up = name.upper()
    calls = " ".join(f"(resolver).{RESOLVER_CALLS[k]}();" for k in kinds)
    header = f"""/* Generated by tflm-train export-c{' from ' + os.path.basename(source) if source else ''}. Do not edit.
 * Scheme {tm.scheme}; {tm.grad_dtype} gradients; {len(tm.forward_ops)} forward + {len(tm.train_ops)} training ops.
 *
 *   tflite::MicroMutableOpResolver<{up}_RESOLVER_OPS> resolver;
 *   {up}_ADD_FORWARD_OPS(resolver);
 *   tflmt::AddTrainingOps(resolver);
 *   alignas(16) static uint8_t arena[{up}_ARENA_SIZE];
 *   tflite::MicroInterpreter interpreter(tflite::GetModel({name}_model), resolver, arena, {up}_ARENA_SIZE);
 */
#ifndef {up}_TFLM_TRAIN_H_
#define {up}_TFLM_TRAIN_H_

/* Training arena: tflm-train's analytic figure ({mem['training_peak_bytes']} B on the 64-bit host,
 * within 1% of TFLM's measured arena) plus 5% headroom. */
#define {up}_ARENA_SIZE {arena}
#define {up}_MODEL_SIZE {len(data)}
#define {up}_NUM_CLASSES {tm.num_classes}
#define {up}_RESOLVER_OPS ({len(kinds)} + {TRAINING_OPS})
#define {up}_ADD_FORWARD_OPS(resolver) do {{ {calls} }} while (0)

#ifdef __cplusplus
extern "C" {{
#endif
extern const unsigned char {name}_model[{up}_MODEL_SIZE];
#ifdef __cplusplus
}}
#endif

#endif /* {up}_TFLM_TRAIN_H_ */
"""
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    body = ",\n  ".join(rows)
    source_c = f"""/* Generated by tflm-train export-c. Do not edit. */
#include "{name}.h"

/* 16-byte aligned: TFLM reads the flatbuffer in place (flash). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((aligned(16)))
#endif
const unsigned char {name}_model[{up}_MODEL_SIZE] = {{
  {body}
}};
"""
    return header, source_c


def cmd_export_c(args: list[str]) -> int:
    path = _require(args[0] if args else FLAGS.input, "input", "export-c")
    folder = _require(FLAGS.output_dir, "output_dir", "export-c")
    tm = load(path)
    if FLAGS.static:
        from . import codegen
        export_c(tm, FLAGS.name, path)  # the same checks of the name
        try:
            prog = codegen.generate(tm, FLAGS.name)
        except UnsupportedModelError as e:
            raise UnsupportedModelError(f"{e}; export-c without --static writes this model for the TFLM "
                                        "interpreter") from None
        header, source = prog.header, prog.source
        what = f"static C: arena {prog.arena_bytes} B, link with kernels/core"
    else:
        header, source = export_c(tm, FLAGS.name, path)
        what = f"{len(tm.to_bytes())} model bytes"
    os.makedirs(folder, exist_ok=True)
    atomic_write(os.path.join(folder, f"{FLAGS.name}.h"), header.encode())
    atomic_write(os.path.join(folder, f"{FLAGS.name}.c"), source.encode())
    print(f"wrote {os.path.join(folder, FLAGS.name)}.h and .c ({what})")
    return 0


# ---------------------------------------------------------------------------- main
def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in COMMANDS:
        given = argv[1] if len(argv) > 1 else "nothing"
        print(f"tflm-train: expected a command ({', '.join(COMMANDS)}), got {given}\n{__doc__}", file=sys.stderr)
        return 2
    command, rest = argv[1], argv[2:]
    handler = {"convert": cmd_convert, "inspect": cmd_inspect, "fit": cmd_fit, "export-c": cmd_export_c}[command]
    try:
        return handler(rest)
    except TflmTrainError as e:
        print(f"tflm-train {command}: error: {e}", file=sys.stderr)
        return 1


HELP_FLAGS = ("--help", "-h", "-?", "--helpshort")


def flag_commands(help_text: str) -> set[str]:
    """The commands a flag's help names before its colon(s), e.g. "inspect: ...; fit: ..." -> {inspect, fit}."""
    text = re.sub(r"^<[^>]*>: ", "", help_text)  # absl prefixes an enum's help with its values
    named: set[str] = set()
    for section in text.split("; "):
        head = section.split(":", 1)[0] if ":" in section else ""
        named |= {c for c in COMMANDS if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", head)}
    return named


def usage(command: str | None = None) -> str:
    """The module's usage and the flags of `command` (of every command without one)."""
    lines = [__doc__.rstrip(), ""]
    for c in [command] if command else COMMANDS:
        lines.append(f"flags of {c}:")
        for f in FLAGS.get_flags_for_module(__name__):
            if c in flag_commands(f.help):
                default = "" if f.default in (None, "") else f" (default: {f.default})"
                name = f"[no]{f.name}" if isinstance(f, flags.BooleanFlag) else f.name
                lines.append(f"  --{name}: {f.help}{default}")
        lines.append("")
    return "\n".join(lines)


def run() -> None:
    # absl's own --help describes the console script's __main__ (a stub without flags): answer it here.
    args = sys.argv[1:]
    if any(a in HELP_FLAGS for a in args) or args[:1] == ["help"]:  # "help" only as the command: it may be a value
        try:
            print(usage(next((a for a in args if a in COMMANDS), None)), flush=True)
        except BrokenPipeError:  # `tflm-train --help | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    app.run(main)


if __name__ == "__main__":
    run()
