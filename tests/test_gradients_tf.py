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


@pytest.mark.parametrize("grad_dtype,threshold", [("float32", 0.99), ("int8", 0.95)])
def test_channel_slice_gradients_match_tensorflow(grad_dtype, threshold):
    """Channel slices (a 1x1 conv and the classifier): the slice's gradient is TensorFlow's for those
    channels, and the input gradients through the merged weights feed the earlier biases right."""
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme=tt.SparseScheme(5, {-4: "1/4", -1: "1/2"}), grad_dtype=grad_dtype)
    assert sum(t.sliceOf >= 0 for t in tm.graph.trainables) == 2
    tr = tt.Trainer(tm)
    for i, x in enumerate(nets.samples(shape, 3, 7)):
        ours = tr.gradients(x, i % tm.num_classes)
        theirs = tf_oracle.gradients(tm, tr._input(x), i % tm.num_classes)
        assert set(ours) == set(theirs) == set(tm.trainable_names())
        for name in ours:
            assert ours[name].shape == theirs[name].shape and np.any(ours[name])
            c = cosine(ours[name], theirs[name])
            assert c >= threshold, f"{grad_dtype} sample {i}: {name} cosine {c:.4f}"
