"""Writes what examples/tflm_app/main.cc includes: model.{c,h} (the training model, via
`tflm-train export-c`) and app_data.{c,h} (labelled Fashion-MNIST samples of the new classes, int8).

    python examples/tflm_app/make_app_data.py OUT_DIR [--per-class 20]
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fashion_mnist_transfer"))


def main(argv=None) -> int:
    import quickstart as Q

    import tflm_train as tt
    from tflm_train.cli import export_c
    from tflm_train.model import atomic_write
    from tflm_train.reference.forward import quantize

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=20)
    a = ap.parse_args(argv)
    keras_model, calibration = Q.pretrain(0, arch="mcu")
    tm = tt.convert(keras_model, calibration, scheme="last:2", progress=False)
    header, source = export_c(tm, "model")
    os.makedirs(a.out, exist_ok=True)
    atomic_write(os.path.join(a.out, "model.h"), header.encode())
    atomic_write(os.path.join(a.out, "model.c"), source.encode())
    xs, ys, _, _ = Q.new_task(a.per_class, 0, 1)
    _, _, q = tm.input_details()
    xq = np.stack([quantize(x[None], q.per_tensor_scale, q.per_tensor_zero_point) for x in xs]).reshape(len(xs), -1)
    rows = ",\n".join("  " + ", ".join(str(int(v)) for v in row) for row in xq)
    atomic_write(os.path.join(a.out, "app_data.h"), (
        "#ifndef APP_DATA_H_\n#define APP_DATA_H_\n#include <stdint.h>\n"
        f"#define kSampleCount {len(xs)}\n#define kSampleBytes {xq.shape[1]}\n"
        "#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
        "extern const int8_t kSamples[kSampleCount * kSampleBytes];\nextern const int32_t kLabels[kSampleCount];\n"
        "#ifdef __cplusplus\n}\n#endif\n#endif\n").encode())
    atomic_write(os.path.join(a.out, "app_data.c"), (
        '#include "app_data.h"\n'
        f"const int8_t kSamples[kSampleCount * kSampleBytes] = {{\n{rows}\n}};\n"
        f"const int32_t kLabels[kSampleCount] = {{{', '.join(str(int(y)) for y in ys)}}};\n").encode())
    print(f"wrote model.{{c,h}} and app_data.{{c,h}} ({len(xs)} samples) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
