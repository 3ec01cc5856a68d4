"""Every trainable tensor's gradient == tf.GradientTape on the dequantized graph (cosine)."""
import numpy as np
import pytest
import tf_oracle
from conftest import cosine, int8_model

import nets
import tflm_train as tt


@pytest.mark.parametrize("grad_dtype,threshold", [("float32", 0.99), ("int8", 0.95)])
def test_gradients_match_tensorflow(arch, grad_dtype, threshold):
    data, shape = int8_model(arch)
    tm = tt.convert_tflite(data, scheme="full", grad_dtype=grad_dtype)
    tr = tt.Trainer(tm)
    assert len(tm.graph.trainables) >= 6
    nonzero = 0
    for i, x in enumerate(nets.samples(shape, 3, 7)):
        label = i % tm.num_classes
        ours = tr.gradients(x, label)
        theirs = tf_oracle.gradients(tm, tr._input(x), label)
        assert set(ours) == set(theirs) == set(tm.trainable_names())
        for name in ours:
            assert ours[name].shape == theirs[name].shape
            c = cosine(ours[name], theirs[name])
            assert c >= threshold, f"{arch} {grad_dtype} sample {i}: {name} cosine {c:.4f}"
            nonzero += bool(np.any(ours[name]))
    assert nonzero >= len(tm.graph.trainables)  # the comparison is not vacuous
