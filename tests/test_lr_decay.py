"""Learning-rate decay (convert(decay_steps=N, final_learning_rate=F)): the numpy rule (the spec), TFLM
(the C kernels' registrations) == the reference step after step across the decay's end, the schedule
carried on by export and checkpoints, bad settings refused, and what the decay does to training."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train import tflite_io as io
from tflm_train._generated import tflm_train_generated as G
from tflm_train.errors import InputError, ModelFormatError
from tflm_train.reference import training as R

from conftest import assert_backends_agree, assert_resumes_exactly, int8_model

f32 = np.float32


def test_the_rate_falls_linearly_then_stays():
    rates = [R.scheduled_learning_rate(0.1, 0.02, 4, s) for s in range(7)]
    assert all(isinstance(r, np.float32) for r in rates)
    want = [f32(0.1) * (f32(1) - f32(min(s, 4)) / f32(4)) + f32(0.02) * (f32(min(s, 4)) / f32(4)) for s in range(7)]
    assert [r.tobytes() for r in rates] == [w.tobytes() for w in want]
    assert rates[0] == f32(0.1) and rates[4] == rates[6] == f32(0.02)
    assert R.scheduled_learning_rate(0.1, 0.0, 0, 10**6) == f32(0.1)  # no decay


def test_the_warm_up_ramps_the_scheduled_rate_up():
    rates = [R.scheduled_learning_rate(0.1, 0.0, 10, s, warmup_steps=4) for s in range(6)]
    decayed = [R.scheduled_learning_rate(0.1, 0.0, 10, s) for s in range(6)]
    want = [decayed[s] * (f32(s + 1) / f32(4)) for s in range(3)] + decayed[3:]
    assert [r.tobytes() for r in rates] == [w.tobytes() for w in want]
    assert R.scheduled_learning_rate(0.1, 0.0, 0, 1, warmup_steps=2) == f32(0.1)  # warm-up alone, done


@pytest.mark.parametrize("grad_dtype,precision,warmup", [("float32", "int8", 0), ("int8", "int8", 3),
                                                          ("float32", "int16", 2)])
def test_tflm_equals_reference_across_the_decay(grad_dtype, precision, warmup):
    data, shape = int8_model("mobilenet_v2_style")
    kw = dict(scheme="full", grad_dtype=grad_dtype, learning_rate=0.05, seed=3, progress=False,
              max_loss=float("inf"), update_precision=precision)
    decayed = tt.convert_tflite(data, decay_steps=5, final_learning_rate=0.005, warmup_steps=warmup, **kw)
    assert decayed.learning_rate_decay == (5, pytest.approx(0.005))
    ops = [op for op in decayed.train_ops if op.name.endswith("_UPDATE")]
    assert ops and all(op.options.decaySteps == 5 and op.options.warmupSteps == warmup for op in ops)
    got = assert_backends_agree(decayed, shape, 9)  # past the decay's end
    const = assert_backends_agree(tt.convert_tflite(data, **kw), shape, 9)
    assert any(not np.array_equal(got[k], const[k]) for k in got)  # the decay changed the steps


def test_the_schedule_resumes_from_export_and_checkpoints():
    data, shape = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="last:3", learning_rate=0.05, decay_steps=6, progress=False,
                           max_loss=float("inf"))
    assert tt.load(tt.Trainer(tm).export()).learning_rate_decay == (6, 0.0)
    assert_resumes_exactly(tm, shape)


@pytest.mark.parametrize("kw,msg", [
    (dict(decay_steps=-1), "decay_steps must be an integer in"),
    (dict(decay_steps=2**24 + 1), "decay_steps must be an integer in"),
    (dict(decay_steps=1.5), "decay_steps must be an integer in"),
    (dict(decay_steps=True), "decay_steps must be an integer in"),
    (dict(warmup_steps=-1), "warmup_steps must be an integer in"),
    (dict(decay_steps=10, final_learning_rate=-0.1), "final_learning_rate must be a finite number >= 0"),
    (dict(decay_steps=10, final_learning_rate=float("nan")), "final_learning_rate must be a finite number >= 0"),
    (dict(decay_steps=10, final_learning_rate="fast"), "final_learning_rate must be a finite number >= 0"),
])
def test_bad_decay_settings_are_refused(kw, msg):
    data, _ = int8_model("mobilenet_v2_style")
    with pytest.raises(InputError, match=msg):
        tt.convert_tflite(data, scheme="last:2", progress=False, **kw)


def test_a_model_with_a_corrupt_decay_is_refused_by_the_loader():
    data, _ = int8_model("mobilenet_v2_style")
    tm = tt.convert_tflite(data, scheme="last:2", progress=False, decay_steps=10)
    from tflm_train import schema as S
    g = tm.graph
    g.optimizer.finalLearningRate = -1.0
    model = io.read_model(tm.to_bytes())
    io.set_metadata(model, S.METADATA_NAME, S.encode_graph(g))
    with pytest.raises(ModelFormatError, match="invalid learning-rate schedule"):
        tt.load(io.write_model(model))


def test_inspect_names_the_decay():
    from tflm_train.cli import describe
    data, _ = int8_model("mobilenet_v2_style")
    text = describe(tt.convert_tflite(data, scheme="last:2", progress=False, learning_rate=0.1, decay_steps=500))
    assert "learning rate 0.1 decaying to 0 over 500 steps" in text
    assert "decaying" not in describe(tt.convert_tflite(data, scheme="last:2", progress=False))
    assert "warm-up 20 steps" in describe(tt.convert_tflite(data, scheme="last:2", progress=False, warmup_steps=20))
