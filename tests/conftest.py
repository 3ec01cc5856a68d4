import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import nets  # noqa: E402

ARCHS = {
    "plain_cnn": (nets.plain_cnn, (16, 16, 1)),
    "mobilenet_v2_style": (nets.mobilenet_v2_style, (16, 16, 3)),
    "depthwise_k5_odd": (nets.depthwise_k5_odd, (15, 15, 5)),
}
_cache: dict = {}


def int8_model(arch: str) -> tuple[bytes, tuple]:
    """The arch converted to int8 by the TF converter (cached per session)."""
    if arch not in _cache:
        import tflm_train as tt
        build, shape = ARCHS[arch]
        m = nets.init_random(build(input_shape=shape), seed=1)
        _cache[arch] = (tt.keras_to_int8_tflite(m, nets.samples(shape, 50, 0)), shape)
    return _cache[arch]


def float_io_model(arch: str, seed: int = 3) -> tuple[bytes, list]:
    """The arch quantized by the TF converter with float input and output (QUANTIZE ... DEQUANTIZE),
    and its calibration samples."""
    import tensorflow as tf
    build, shape = ARCHS[arch]
    m = nets.init_random(build(input_shape=shape), seed=seed)
    inp = tf.keras.Input(shape, batch_size=1)
    conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, m(inp)))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = nets.samples(shape, 20, 0)
    conv.representative_dataset = lambda: ([s[None]] for s in samples)
    return conv.convert(), samples


@pytest.fixture(params=list(ARCHS))
def arch(request):
    return request.param


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    return float(a @ b / (na * nb))


def assert_resumes_exactly(tm, shape, seed: int = 2) -> None:
    """8 TFLM steps straight == 4 steps, then 4 more after a checkpoint, after export (TFLM) and after
    export (reference): every piece of trained state (values, step counters) carried over."""
    import tflm_train as tt

    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(8)]
    straight = tt.Trainer(tm, backend="tflm")
    for i, x in enumerate(xs):
        straight.train_step(x, i % 4)
    first = tt.Trainer(tm, backend="tflm")
    for i, x in enumerate(xs[:4]):
        first.train_step(x, i % 4)
    image = bytearray(2 * first.checkpoint_bytes())
    first.save_checkpoint(image, len(image) // 2)
    resumed = tt.Trainer(tm, backend="tflm")
    resumed.load_checkpoint(image, len(image) // 2)
    exported = tt.load(first.export())
    for trainer in (resumed, tt.Trainer(exported, backend="tflm"), tt.Trainer(exported)):
        for i, x in enumerate(xs[4:], start=4):
            trainer.train_step(x, i % 4)
        got, want = trainer._backend.params, straight._backend.params
        assert all(np.array_equal(got[k], want[k]) for k in want)


def assert_backends_agree(tm, shape, steps: int, seed: int = 1) -> dict:
    """`steps` training steps on random int8 inputs (labels 0..3) on the reference and TFLM backends:
    the same loss bits and every trained tensor equal after each step. Returns the trained tensors."""
    import tflm_train as tt

    ref, dev = tt.Trainer(tm), tt.Trainer(tm, backend="tflm")
    rng = np.random.default_rng(seed)
    for i in range(steps):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        assert np.float32(ref.train_step(x, i % 4)) == np.float32(dev.train_step(x, i % 4)), f"step {i}"
        pr, pd = ref._backend.params, dev._backend.params
        for k in pr:
            assert np.array_equal(pr[k], pd[k]), f"step {i}: trained tensor {k} differs"
    return ref._backend.params
