"""scheme="auto": fits the budget (analytic and TFLM-measured), deterministic for a seed,
better with more budget, contribution analysis on data, clear errors."""
import numpy as np
import pytest

import tflm_train as tt
from tflm_train.errors import InputError
from tflm_train.converter import MemorySizer
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
    assert r.training_arena_bytes <= budget * (1 + S.MEASURE_MARGIN)
    assert tm.memory_report()["training_peak_bytes"] == r.training_arena_bytes
    measured = tt.Trainer(tm, backend="tflm").memory_report()["tflm"]["training_arena_bytes"]
    assert measured == r.measured_arena_bytes <= budget  # held by TFLM's allocator, not by the model
    assert (r.scheme.text(), r.training_arena_bytes, measured) in r.measured
    assert tm.scheme.startswith("sparse:") and tm.scheme == r.scheme.text()


def test_auto_takes_a_last_k_at_its_own_measured_arena(net):
    """At exactly last:2's TFLM arena, auto may not fall back to less than the analytic model allows:
    the measured pick must find a scheme at least as large as last:2 by the search's own gains."""
    data, *_ = net
    budget = tt.Trainer(tt.convert_tflite(data, scheme="last:2"), backend="tflm").memory_report()["tflm"][
        "training_arena_bytes"]
    r = _auto(data, budget).search_result
    n = len(r.gains.weights)
    last2 = r.gains.bias[2] + sum(r.gains.weights[i][S.RATIOS[-1]] for i in (n - 2, n - 1))
    assert r.measured_arena_bytes <= budget and r.gain >= last2


def _fake_search_state(sizes: dict, gains: dict):
    return dict(cache=dict(sizes), gain=gains.__getitem__, valid=lambda g: True,
                scheme_of=lambda g: tt.SparseScheme(g[0], {0: 1}))


def test_measured_pick_holds_the_budget_in_tflm():
    g = S.Gains([0.0] * 5, [{}], "prior")
    a, b, c, d = (1,), (2,), (3,), (4,)  # gains 4 > 3 > 2 > 1
    st = _fake_search_state({a: 1030, b: 1010, c: 990, d: 900}, {a: 4.0, b: 3.0, c: 2.0, d: 1.0})
    # c is the best the model fits and TFLM fits it; of the higher-gain schemes the model puts just
    # over, b (least memory) is measured first and fits, then a: TFLM fits it too, so a wins.
    sizes = {1: 1000, 2: 980, 3: 960, 4: 870}  # TFLM: 3% below the model
    r = S._measured_pick(**st, budget=1000, measure=lambda s: sizes[s.bias_layers], gains=g, history=[])
    assert r.scheme.bias_layers == 1 and r.measured_arena_bytes == 1000
    assert [t[1] for t in r.measured] == [990, 1010, 1030]
    # TFLM puts c over: d, the next the model fits, is taken; calibrated by d (TFLM 5.6% above the
    # model), a and b would be far over, so they are not loaded.
    sizes = {1: 1031, 2: 1011, 3: 1001, 4: 950}
    r = S._measured_pick(**st, budget=1000, measure=lambda s: sizes[s.bias_layers], gains=g, history=[])
    assert r.scheme.bias_layers == 4 and [t[2] for t in r.measured] == [1001, 950]
    with pytest.raises(InputError, match=r"none of the 3 schemes .* smallest measured: .* 1200 B"):
        S._measured_pick(**st, budget=1000, measure=lambda s: 1200, gains=g, history=[])


def test_deterministic_for_a_seed_and_monotone_in_budget(net):
    data, _, floor, full = net
    small, large = floor + (full - floor) // 4, full
    a, b = _auto(data, small).search_result, _auto(data, small).search_result
    assert a.scheme == b.scheme and a.gain == b.gain
    assert _auto(data, large).search_result.gain >= a.gain


def test_budget_errors(net, monkeypatch):
    data, _, floor, _ = net
    with pytest.raises(InputError, match="smallest training scheme"):
        _auto(data, floor - 1)
    with pytest.raises(InputError, match="needs sram_budget"):
        tt.convert_tflite(data, scheme="auto")
    with pytest.raises(InputError, match="positive number of bytes"):
        _auto(data, -5)
    with pytest.raises(InputError, match='scheme="auto" only'):
        tt.convert_tflite(data, scheme="bias", sram_budget=10**6)
    # A bad training setting is refused before the analysis spends minutes on it.
    monkeypatch.setattr(S, "data_gains", lambda *a, **kw: pytest.fail("the contribution analysis ran"))
    with pytest.raises(InputError, match="warmup_steps"):
        _auto(data, floor * 2, train_data=[(np.zeros(1), 0)] * 8, warmup_steps=-3)


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


def test_contribution_analysis_holds_out_every_class_of_sorted_data():
    """Users often pass data sorted by class: the held-out share comes from every label, seeded."""
    pairs = [(np.full(3, i, np.int8), label) for label in range(4) for i in range(10)]
    fit, held = S._split(pairs, 0.3, seed=0)
    assert sorted(y for _, y in held) == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert sorted(y for _, y in fit) == [0] * 7 + [1] * 7 + [2] * 7 + [3] * 7
    assert sorted(int(x[0]) * 10 + y for x, y in fit + held) == sorted(int(x[0]) * 10 + y for x, y in pairs)
    assert [y for _, y in fit] != sorted(y for _, y in fit)  # trained in a shuffled order
    again = S._split(pairs, 0.3, seed=0)
    assert [(int(x[0]), y) for x, y in again[0]] == [(int(x[0]), y) for x, y in fit]
    # One sample per label: nothing to hold out per label, yet the analysis still gets 2 held out.
    fit, held = S._split([(np.zeros(1), y) for y in range(4)], 0.3, seed=0)
    assert len(held) == 2 and len(fit) == 2


def test_a_gain_within_noise_counts_nothing_and_the_prior_breaks_ties(net):
    rng = np.random.default_rng(0)
    noisy = rng.normal(0.01, 1.0, 100)  # mean far inside one standard error
    assert S._lower_bound(noisy) == 0.0
    clear = rng.normal(0.5, 0.1, 100)
    assert 0.45 < S._lower_bound(clear) < np.mean(clear)
    data, *_ = net
    prior = S.prior_gains(tt.tflite_io.read_model(data))
    n = len(prior.weights)
    flat = S.Gains([0.0] * (n + 1), [{r: 0.0 for r in S.RATIOS} for _ in range(n)], "data")
    flat.weights[-1] = {r: float(r) for r in S.RATIOS}
    mixed = S._prior_breaks_ties(flat, prior)
    one = S.RATIOS[-1]
    # Equal data gains are ordered as the prior orders them, and by no more than a thousandth.
    order = np.argsort([w[one] for w in mixed.weights[:-1]], kind="stable")
    assert list(order) == list(np.argsort([w[one] for w in prior.weights[:-1]], kind="stable"))
    assert max(w[one] for w in mixed.weights[:-1]) <= 1e-3 * 1.0 + 1e-12
    assert mixed.weights[-1][one] >= 1.0


@pytest.mark.parametrize("bad, what", [(0.5, "0.5"), ("a", "'a'"), ([1, 2], r"\[1, 2\]"), (None, "None")])
def test_contribution_analysis_refuses_a_label_that_is_not_a_class(net, bad, what):
    data, shape, floor, full = net
    xs = [np.zeros(shape, np.int8) for _ in range(6)]
    ys = [0, 1, 2, bad, 0, 1]
    with pytest.raises(InputError, match=rf"train_data item 3: the label must be one integer class, got {what}"):
        _auto(data, (floor + full) // 2, train_data=list(zip(xs, ys)))
    with pytest.raises(InputError, match="train_data item 1 is not an"):
        _auto(data, (floor + full) // 2, train_data=[(xs[0], 0), (xs[1],), (xs[2], 1), (xs[3], 2)])


def test_analysis_warms_up_over_the_users_share_of_its_run():
    assert S.analysis_warmup(0, 1000, 350) == 0  # no warm-up asked: none
    assert S.analysis_warmup(50, 1000, 350) == 18  # 5 % of the user's run -> 5 % of the analysis run
    assert S.analysis_warmup(1, 1000, 350) == 1  # a warm-up never rounds away
    assert S.analysis_warmup(5000, 1000, 350) == 350  # longer than the run: the whole run


def test_contribution_analysis_trains_with_the_warm_up(net, monkeypatch):
    data, shape, _, _ = net
    import tflm_train.converter as C

    seen = []
    real = C.convert_tflite

    def spy(*a, **kw):
        seen.append((kw.get("decay_steps"), kw.get("warmup_steps")))
        return real(*a, **kw)

    monkeypatch.setattr(C, "convert_tflite", spy)
    rng = np.random.default_rng(2)
    pairs = [(rng.integers(-128, 128, shape).astype(np.int8), i % 4) for i in range(20)]
    # 20 samples, 2 per label held out: each analysis run is 12 steps; the user warms up over a fifth of 100.
    S.data_gains(data, pairs, grad_dtype="float32", learning_rate=0.01, seed=0, layers=[], bias_depths=[1],
                 progress=False, warmup_steps=20, decay_steps=100)
    assert seen and set(seen) == {(12, 2)}
    seen.clear()  # without a decay the user's run is one pass over train_data: 20 steps, warm-up 10 -> 6
    S.data_gains(data, pairs, grad_dtype="float32", learning_rate=0.01, seed=0, layers=[], bias_depths=[1],
                 progress=False, warmup_steps=10)
    assert set(seen) == {(12, 6)}


def _validation_setup(net):
    """(model, a budget between bias-only and full, the prior's gains, TFLM's arena measure, the search's pick)."""
    from tflm_train import tflite_io as io

    data, _, floor, full = net
    budget = (floor + full) // 2
    gains = S.prior_gains(io.read_model(data))

    def measure(s):
        return S._tflm_arena(data, s, "float32", 0, "auto")

    return data, budget, gains, measure, S.search(data, budget, gains, progress=False, measure=measure)


def test_the_pick_is_validated_against_every_last_k_that_fits(net):
    """With data, the search's pick and every last-K scheme that fits are each fine-tuned; the lowest
    held-out loss wins (stubbed losses here: the real ones are exercised by the analysis tests)."""
    data, budget, gains, measure, found = _validation_setup(net)
    sizer = MemorySizer(data)
    n = len(gains.weights)

    def last_k_wins(s):  # the search's pick worst, larger K better
        return np.full(4, 1.0 if s == found.scheme else 1.0 / (1 + s.bias_layers))

    r = S._validated(found, budget, measure, sizer, last_k_wins, progress=False)
    # The last-K that fit as TFLM measures it, largest first (the search's own pick, if it is one, is not run
    # twice): all of them on this net; the largest wins here.
    fitting = [S.resolve(f"last:{k}", n) for k in range(n, 0, -1) if measure(S.resolve(f"last:{k}", n)) <= budget]
    assert 2 <= len(fitting) <= S.MAX_VALIDATED_LAST_K
    others = [s for s in fitting if s != found.scheme]
    assert r.scheme == others[0] != found.scheme
    assert r.measured_arena_bytes == measure(r.scheme) <= budget
    assert r.gain == S.scheme_gain(gains, r.scheme) and r.training_arena_bytes == sizer.training_arena(r.scheme)
    assert [t for t, _ in r.validated] == [found.scheme.text()] + [s.text() for s in others]
    assert min(v for _, v in r.validated) == dict(r.validated)[r.scheme.text()]

    def search_pick_wins(s):
        return np.full(4, 0.1 if s == found.scheme else 1.0)

    kept = S._validated(found, budget, measure, sizer, search_pick_wins, progress=False)
    # Many fitting K: the largest, then smaller ones spread down to K = 1, MAX_VALIDATED_LAST_K in all.
    sized = type("Sizer", (), {"training_arena": staticmethod(lambda s: s.bias_layers)})()
    spread = S._fitting_last_k(20, 15, lambda s: s.bias_layers, sized)
    assert [s.bias_layers for s, _ in spread][:1] == [15] and len(spread) == S.MAX_VALIDATED_LAST_K
    assert [s.bias_layers for s, _ in spread][-1] == 1 and sorted({s.bias_layers for s, _ in spread}, reverse=True) \
        == [s.bias_layers for s, _ in spread]
    assert kept.scheme == found.scheme and kept.gain == found.gain and kept.validated[0] == (found.scheme.text(), 0.1)


def test_a_pick_that_is_not_a_last_k_must_win_beyond_noise(net):
    """The search's channel-sparse (or otherwise non-last-K) pick replaces the best last-K only when its
    held-out loss is lower by more than one standard error of the paired per-sample difference."""
    data, budget, gains, measure, found = _validation_setup(net)
    n = len(gains.weights)
    found = S.replace(found, scheme=S.SparseScheme(1, {n - 1: 1, n - 2: "1/2"}))  # not a last-K
    noise = np.random.default_rng(0).normal(0, 1, 200)

    def losses(margin):  # last:1 worse than the other last-K, the pick `margin` better than their best
        return lambda s: 2.0 + noise - margin if s == found.scheme else 2.0 + noise + (0.1 if s.bias_layers < 2 else 0.0)

    se = float(np.std(noise - noise, ddof=1))  # the paired difference of these stubs is exact: se 0
    assert se == 0.0
    # Equal losses (no gain): the last-K stays. A clear gain: the pick wins.
    assert S._validated(found, budget, measure, MemorySizer(data), losses(0.0), progress=False).scheme != found.scheme
    assert S._validated(found, budget, measure, MemorySizer(data), losses(0.05), progress=False).scheme == found.scheme

    wobble = np.random.default_rng(1).normal(0, 1, 200)  # the pick's own noise: a paired se of about 0.07
    wobble -= wobble.mean()  # so the pick is exactly 0.02 better on average

    def noisy(s):
        return 2.0 + noise - 0.02 + wobble if s == found.scheme else 2.0 + noise + (0.1 if s.bias_layers < 2 else 0.0)

    kept = S._validated(found, budget, measure, MemorySizer(data), noisy, progress=False)
    assert dict(kept.validated)[found.scheme.text()] < min(v for t, v in kept.validated if t != found.scheme.text())
    assert kept.scheme != found.scheme  # lower mean, but within one standard error: the last-K stays
