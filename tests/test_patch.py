"""Patch-based first stage (tflm_train/patch.py): bit-exact with the unpatched graph in TFLM, for
every cut and several grids; training through a patched graph equals training through the plain one."""
import copy

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

import tflm_train as tt
from tflm_train import patch
from tflm_train import tflite_io as io
from tflm_train.model import inference_memory
from tflm_train.runtime.tflm import _captured_allocations

from conftest import ARCHS, int8_model


def _stage_model(data: bytes, n: int) -> bytes:
    """The first n operators alone, with the cut tensor as the model output."""
    m = io.read_model(data)
    sg = m.subgraphs[0]
    produced = {int(t) for op in sg.operators[:n] for t in op.outputs}
    later = {int(t) for op in sg.operators[n:] for t in op.inputs}
    (cut,) = produced & later
    sg.operators, sg.outputs = sg.operators[:n], np.asarray([cut], np.int32)
    io.drop_unused_tensors(sg)
    return io.write_model(m)


def _run(model: bytes, xs) -> list[np.ndarray]:
    it = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    out = []
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        out.append(it.get_output(0).copy())
    return out


@pytest.mark.parametrize("arch_name", list(ARCHS))
def test_every_cut_is_bit_exact_in_tflm(arch_name):
    data, shape = int8_model(arch_name)
    cuts = patch.cut_points(io.read_model(data))
    assert cuts, "the net has no patchable first stage"
    rng = np.random.default_rng(0)
    xs = [rng.integers(-128, 128, (1, *shape)).astype(np.int8) for _ in range(3)]
    checked = 0
    for n in cuts:
        stage = _stage_model(data, n)
        want = _run(stage, xs)
        _, h, w, _ = io.shape(io.read_model(stage).subgraphs[0].tensors[int(io.read_model(stage).subgraphs[0].outputs[0])])
        for grid in [(2, 2), (3, 2), (1, 3), (h, w)]:
            if grid[0] > h or grid[1] > w:
                continue
            m = io.read_model(stage)
            try:
                patch.rewrite(m, patch.PatchPlan(n, grid))
            except tt.InputError as e:  # one tile per pixel can land wholly in a PAD's border
                assert grid == (h, w) and "only padding" in str(e)
                continue
            got = _run(io.write_model(m), xs)
            for a, b in zip(want, got):
                assert np.array_equal(a, b), f"{arch_name}: stage of {n} ops, grid {grid}: outputs differ"
            assert want[0].min() < want[0].max()  # a constant map would prove nothing
            checked += 1
    assert checked >= len(cuts)


def _by_name(trainer):
    b = trainer._backend
    names = {t.tensor: (t.name.decode() if isinstance(t.name, bytes) else t.name) for t in b.tm.graph.trainables}
    return {names[k]: v.copy() for k, v in b.params.items()}


@pytest.mark.parametrize("grad_dtype", ["float32", "int8"])
def test_training_through_a_patched_stage_equals_the_plain_graph(grad_dtype):
    data, shape = int8_model("mobilenet_v2_style")
    cut = patch.cut_points(io.read_model(data))[-2]  # the last cut holds a layer last:2 trains
    kw = dict(scheme="last:2", grad_dtype=grad_dtype, learning_rate=0.05, seed=1)
    plain = tt.convert_tflite(data, patch=None, **kw)
    tiled = tt.convert_tflite(data, patch=tt.PatchPlan(cut, (2, 2)), **kw)
    assert plain.patch == "" and tiled.patch == f"patch:ops={cut};grid=2x2"
    assert len(tiled.model.subgraphs[0].operators) > len(plain.model.subgraphs[0].operators)
    assert tiled.trainable_names() == plain.trainable_names()
    rng = np.random.default_rng(2)
    xs = rng.uniform(-1, 1, (8, *shape)).astype(np.float32)
    ys = rng.integers(0, 4, 8)
    trainers = [tt.Trainer(plain, backend="tflm"), tt.Trainer(tiled, backend="tflm"), tt.Trainer(tiled)]
    for i in range(8):
        losses = [np.float32(t.train_step(xs[i], ys[i])) for t in trainers]
        assert losses[0] == losses[1] == losses[2], f"step {i}: losses {losses}"
    states = [_by_name(t) for t in trainers]
    for name in states[0]:
        assert np.array_equal(states[0][name], states[1][name]) and np.array_equal(states[0][name], states[2][name])
    # The exported (baked) model keeps the patched stage and the trained values; it reloads.
    again = tt.load(trainers[1].export())
    assert again.patch == tiled.patch
    np.testing.assert_array_equal(tt.Trainer(again, backend="tflm").predict(xs[0]), trainers[0].predict(xs[0]))


def test_auto_patches_only_when_the_arena_shrinks():
    data, _ = int8_model("plain_cnn")  # 16x16: tiles cost more bookkeeping than they save
    assert tt.convert_tflite(data, scheme="classifier").patch == ""
    plan, scores = patch.choose(io.read_model(data))
    assert plan is None and scores


def test_bad_plans_are_rejected_clearly():
    data, _ = int8_model("mobilenet_v2_style")
    cuts = patch.cut_points(io.read_model(data))
    bad = max(set(range(1, cuts[-1] + 2)) - set(cuts))
    with pytest.raises(tt.InputError, match=f"operators 0..{bad - 1} are not a patchable first stage"):
        tt.convert_tflite(data, scheme="classifier", patch=tt.PatchPlan(bad, (2, 2)))
    with pytest.raises(tt.InputError, match="Patching needs a frozen first stage"):
        tt.convert_tflite(data, scheme="full", patch=tt.PatchPlan(cuts[-1], (2, 2)))
    with pytest.raises(tt.InputError, match="2 or more tiles"):
        tt.convert_tflite(data, scheme="classifier", patch=tt.PatchPlan(cuts[-1], (1, 1)))
    with pytest.raises(tt.InputError, match="patch must be None"):
        tt.convert_tflite(data, scheme="classifier", patch="yes")


def test_patched_arena_is_smaller_on_the_paper_backbone():
    """MobileNetV2-w0.35 at 128x128: TFLM's inference arena is over 256 KB unpatched, under it patched."""
    from tflm_train import zoo

    km = zoo.build("mbv2-w0.35", num_classes=10, input_size=128, seed=0)
    rng = np.random.default_rng(0)
    data = tt.keras_to_int8_tflite(km, rng.uniform(-1, 1, (4, 128, 128, 3)).astype(np.float32))
    m = io.read_model(data)
    plan, _ = patch.choose(m)
    assert plan is not None
    tiled = copy.deepcopy(m)
    patch.rewrite(tiled, plan)
    measured = []
    for model in (m, tiled):
        it = runtime.Interpreter.from_bytes(io.write_model(model), arena_size=4 << 20)
        it.set_input(np.zeros((1, 128, 128, 3), np.int8), 0)
        it.invoke()
        measured.append(_captured_allocations(it)["arena"])
        sg = model.subgraphs[0]
        analytic = inference_memory(model, list(range(len(sg.operators))), int(sg.inputs[0]), int(sg.outputs[0]))
        assert abs(analytic["inference_peak_bytes"] / measured[-1] - 1) < 0.05
    assert measured[0] > 256 * 1024 > measured[1]
