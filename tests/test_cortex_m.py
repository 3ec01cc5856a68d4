"""examples/cortex_m in CI: the generated training step built for Cortex-M7 (arm-none-eabi-gcc,
newlib) runs under QEMU mps2-an500, matches the host TFLM run bit for bit (every loss and the
trained state, the learning rate decaying across the run), the op-count plugin attributes instructions to every op and the per-instruction
profiler agrees with it on the total; kernels/tests/core_test.c passes on the Cortex-M7, where the
kernels take their DSP / VFP paths (optimised == naive on random shapes); the training kernels'
flash stays within 32 KB at -Os."""
import json
import os
import re
import subprocess

from conftest import int8_model

import tflm_train as tt

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EXAMPLE = os.path.join(ROOT, "examples", "cortex_m")


def test_training_image_is_bit_exact_under_qemu_and_counts_ops(tmp_path):
    data, _ = int8_model("mobilenet_v2_style")
    model = tmp_path / "net.train.tflite"
    # The rate warms up over 2 and decays over 3 of the 4 steps: the schedule's float32 arithmetic on the M7's FPU, too.
    tt.convert_tflite(data, scheme="full", grad_dtype="int8", progress=False, patch=None, learning_rate=0.05,
                      decay_steps=3, final_learning_rate=0.005, warmup_steps=2).save(model)
    build = tmp_path / "build"
    r = subprocess.run(["make", "-C", EXAMPLE, "run", f"MODEL={model}", "STEPS=4", f"BUILD={build}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "bit-exact with the host (TFLM interpreter): yes" in r.stdout
    counts = json.loads((build / "counts.json").read_text())
    assert counts["bit_exact"]
    ops = {o["op"]: o for o in counts["ops"]}
    names = json.loads((build / "image.json").read_text())["op_names"]
    assert all(ops[i]["optimised"] > 0 for i in range(len(names))), "every op executes and is counted"
    hot = [o for o in counts["ops"] if o["kind"] in ("TFLMT_CONV_WEIGHT_UPDATE", "TFLMT_CONV_INPUT_GRAD")]
    assert hot and all(o["naive"] > o["optimised"] for o in hot)
    # The per-instruction profiler, an independent plugin, sees exactly the same run.
    r = subprocess.run(["make", "-s", "-C", EXAMPLE, "profile", f"BUILD={build}", "LINES=tflmt_conv2d_s8"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    total = int(re.search(r"([\d,]+) instructions executed", r.stdout).group(1).replace(",", ""))
    assert total == counts["image_total_instructions"]["optimised"]
    assert "tflmt_conv2d_s8 by source line:" in r.stdout and "conv2d_s8.c:" in r.stdout


def test_core_kernels_equal_naive_on_cortex_m7(tmp_path):
    r = subprocess.run(["make", "-C", EXAMPLE, "core-test", f"BUILD={tmp_path / 'ct'}"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "core_test: all passed" in r.stdout + r.stderr


def test_training_kernels_flash_within_32_kb():
    r = subprocess.run(["make", "-s", "-C", EXAMPLE, "size", "BUILD=/tmp/tflmt_size_check"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text, data_, _bss, _dec = (int(v) for v in re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", r.stdout, re.M)[-1])
    assert text + data_ <= 32 * 1024, r.stdout
