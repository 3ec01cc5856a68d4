"""The corrupt-model corpus (corrupt_corpus.py): the Python loader rejects every structural case with
a TflmTrainError that says what is wrong; random bit flips either load cleanly or are rejected; damaged
op options handed straight to TFLM (no Python check) fail in our kernels' Prepare, never crash."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train.runtime.tflm import TflmError, _interpreter

import corrupt_corpus as K
from conftest import int8_model


@pytest.fixture(scope="module")
def good():
    data, _ = int8_model("mobilenet_v2_style")
    return tt.convert_tflite(data, scheme=tt.SparseScheme(3, {-3: "1/2", -1: 1}), grad_dtype="int8").to_bytes()


def test_every_structural_case_is_rejected_clearly(good):
    cases = K.structural(good)
    assert len(cases) >= 30
    for name, data in cases:
        with pytest.raises(tt.TflmTrainError) as e:
            tt.load(data)
        assert len(str(e.value)) > 20, f"{name}: uninformative error {e.value!r}"
        with pytest.raises(tt.TflmTrainError):  # the TFLM backend goes through the same loader
            tt.Trainer(data, backend="tflm")


def test_bit_flips_load_cleanly_or_fail_cleanly(good):
    x = np.zeros((16, 16, 3), np.float32)
    outcomes = {"rejected": 0, "ran": 0}
    for name, data in K.bit_flips(good, 300, seed=1):
        try:
            tm = tt.load(data)
        except tt.TflmTrainError:
            outcomes["rejected"] += 1
            continue
        try:
            tr = tt.Trainer(tm, backend="tflm")
            tr.train_step(x, 0)
        except tt.TflmTrainError:
            outcomes["rejected"] += 1
            continue
        outcomes["ran"] += 1
    assert outcomes["rejected"] > 0 and outcomes["ran"] > 0, outcomes


@pytest.mark.parametrize("damage, message", [("tiny_output_scale", "output scale"),
                                             ("no_input_quantization", "needs one finite positive scale")])
def test_add_scales_tflm_would_abort_on_are_refused(good, damage, message):
    """TFLM's ADD Prepare aborts the process (a failed check) when a rescale factor is not in (0, 1):
    the loader refuses such a model first, naming the op and the tensor."""
    from tflm_train import tflite_io as io
    m = io.read_model(good)
    sg = m.subgraphs[0]
    add = next(op for op in sg.operators if io.op_name(m, op) == "ADD")
    if damage == "tiny_output_scale":
        sg.tensors[int(add.outputs[0])].quantization.scale = np.array([1e-12], np.float32)
    else:
        sg.tensors[int(add.inputs[1])].quantization = None
    with pytest.raises(tt.TflmTrainError, match=rf"\(ADD\): .*{message}"):
        tt.load(io.write_model(m))


def test_per_channel_axis_outside_the_tensor_is_refused(good):
    """TFLM indexes a weight's dims by its quantized_dimension unchecked (a corrupt one crashed it)."""
    from tflm_train import tflite_io as io
    m = io.read_model(good)
    t = next(t for t in m.subgraphs[0].tensors if t.quantization is not None and t.quantization.scale is not None
             and len(t.quantization.scale) > 1)
    t.quantization.quantizedDimension = 8388611
    with pytest.raises(tt.TflmTrainError, match="per-channel quantization on axis 8388611"):
        tt.load(io.write_model(m))


@pytest.mark.parametrize("kind, field, value, message", [
    # TFLM's depthwise kernel loops over the option, not the shapes: a bit-flipped 2049 segfaulted it
    ("DEPTHWISE_CONV_2D", "depthMultiplier", 2049, "depth_multiplier option 2049"),
    ("CONV_2D", "strideW", 0, "strides 2x0 must be at least 1"),
    ("DEPTHWISE_CONV_2D", "dilationHFactor", 0, "dilations 0x1 must be at least 1"),
    ("CONV_2D", "padding", 7, "padding 7 is neither SAME nor VALID"),
    ("CONV_2D", "fusedActivationFunction", 4, "fused activation 4 is not one of"),
])
def test_builtin_options_tflm_reads_unchecked_are_refused(good, kind, field, value, message):
    from tflm_train import tflite_io as io
    m = io.read_model(good)
    i, op = next((i, op) for i, op in enumerate(m.subgraphs[0].operators) if io.op_name(m, op) == kind)
    setattr(op.builtinOptions, field, value)
    with pytest.raises(tt.TflmTrainError, match=rf"operator {i} \({kind}\).*{message}"):
        tt.load(io.write_model(m))


def test_an_arena_the_wheel_cannot_take_is_a_clear_error(good):
    with pytest.raises(TflmError, match="outside what the TFLM wheel takes"):
        _interpreter(good, 1 << 40)


def test_damaged_options_fail_in_prepare(good):
    failed = survived = 0
    for name, data in K.option_mutations(good, per_op=12, seed=2):
        try:
            interp = _interpreter(data, 1 << 20)
        except TflmError as e:
            assert "TFLMT_" in str(e) or "options" in str(e), f"{name}: {e}"
            failed += 1
            continue
        survived += 1  # a mutation that kept the options meaningful (e.g. a changed float)
        del interp
    assert failed > survived > 0
