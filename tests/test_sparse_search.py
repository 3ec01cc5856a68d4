"""scheme="auto": fits the budget (analytic and TFLM-measured), deterministic for a seed,
better with more budget, contribution analysis on data, clear errors."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train.errors import InputError
from tflm_train.sparse import search as S

from conftest import int8_model


@pytest.fixture(scope="module")
def net():
    data, shape = int8_model("mobilenet_v2_style")
    floor = tt.convert_tflite(data, scheme="classifier").memory_report()["training_peak_bytes"]
    full = tt.convert_tflite(data, scheme="full").memory_report()["training_peak_bytes"]
    return data, shape, floor, full


def _auto(data, budget, seed=0, **kw):
    return tt.convert_tflite(data, scheme="auto", sram_budget=budget, seed=seed, progress=False, **kw)


def test_auto_fits_the_budget_as_tflm_measures_it(net):
    data, _, floor, full = net
    budget = (floor + full) // 2
    tm = _auto(data, budget)
    r = tm.search_result
    assert r.training_arena_bytes <= budget
    assert tm.memory_report()["training_peak_bytes"] == r.training_arena_bytes
    measured = tt.Trainer(tm, backend="tflm").memory_report()["tflm"]["training_arena_bytes"]
    assert measured <= budget * 1.02  # the analytic model is within 2% of TFLM here
    assert tm.scheme.startswith("sparse:") and tm.scheme == r.scheme.text()


def test_deterministic_for_a_seed_and_monotone_in_budget(net):
    data, _, floor, full = net
    small, large = floor + (full - floor) // 4, full
    a, b = _auto(data, small).search_result, _auto(data, small).search_result
    assert a.scheme == b.scheme and a.gain == b.gain
    assert _auto(data, large).search_result.gain >= a.gain


def test_budget_errors(net):
    data, _, floor, _ = net
    with pytest.raises(InputError, match="smallest training scheme"):
        _auto(data, floor - 1)
    with pytest.raises(InputError, match="needs sram_budget"):
        tt.convert_tflite(data, scheme="auto")
    with pytest.raises(InputError, match="positive number of bytes"):
        _auto(data, -5)
    with pytest.raises(InputError, match='scheme="auto" only'):
        tt.convert_tflite(data, scheme="bias", sram_budget=10**6)


def test_prior_prefers_late_and_expanding_layers(net):
    data, *_ = net
    g = S.prior_gains(tt.tflite_io.read_model(data))
    one = [w[S.RATIOS[-1]] for w in g.weights]
    assert one[-1] == max(one) and one[0] == min(one)
    assert all(np.diff(g.bias) >= 0)


def test_contribution_analysis_on_data(net):
    data, shape, floor, full = net
    rng = np.random.default_rng(0)
    # A learnable task: the label is which quarter of the input has the largest mean.
    xs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(24)]
    ys = [int(np.argmax([q.mean() for q in np.array_split(x.reshape(-1), 4)])) % 4 for x in xs]
    tm = _auto(data, (floor + full) // 2, train_data=list(zip(xs, ys)))
    g = tm.search_result.gains
    assert g.source == "data"
    assert all(v >= 0 for w in g.weights for v in w.values()) and all(v >= 0 for v in g.bias)
    assert max(g.weights[-1].values()) == max(v for w in g.weights for v in w.values())
    assert tm.search_result.training_arena_bytes <= (floor + full) // 2


def test_contribution_analysis_survives_refused_steps(net):
    """With a learning rate that diverges, the analysis skips refused steps (as a device would)."""
    data, shape, floor, full = net
    rng = np.random.default_rng(1)
    xs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(12)]
    ys = [i % 4 for i in range(12)]
    tm = _auto(data, (floor + full) // 2, train_data=list(zip(xs, ys)), learning_rate=50.0, max_loss=1e-3)
    assert tm.search_result.gains.source == "data"
