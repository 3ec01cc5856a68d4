"""Automatic sparse scheme: contribution analysis, then an evolutionary search under an SRAM budget.

Following Lin et al. 2022 (s.2.2), the accuracy contribution of each component is
assumed additive: the bias depth K contributes gain_b(K), the weights of layer i
at channel ratio r contribute gain_w(i, r). The search maximises
gain_b(K) + sum_i gain_w(i, r_i) subject to the training arena (analytic model,
which agrees with TFLM's allocator within about 1%, see memory.py) <= sram_budget.
The budget itself is then held by TFLM's allocator, not by the model: the best scheme
the model fits is converted and loaded into TFLM's MicroInterpreter (and the next, if
TFLM puts it over), then the schemes of higher gain that the model puts over the budget
by less than MEASURE_MARGIN, least memory first; the best that fits is the result. With
train_data that result is then validated: it and the last-K schemes that fit (the largest, and
smaller ones spread down to K = 1, MAX_VALIDATED_LAST_K in all) are each fine-tuned on the analysis
split for as many steps as the user's run (decay_steps; one epoch without it), and the lowest
held-out loss wins (a pick that is not a last-K by a margin: _validated).

Gains come from either
  * contribution analysis on data (`train_data`): fine-tune the classifier alone
    (the baseline) and the classifier plus one component, on the TFLM backend,
    batch 1; the gain is the drop of the mean held-out loss against the baseline
    (clipped at 0: a component that does not help is never worth memory). Each run
    decays its rate to 0 over its one epoch (convert's decay_steps): at a constant rate batch-1
    SGD ends wherever its last steps threw it, a few points of noise in every gain. When the user's
    training warms up (convert's warmup_steps), each run warms up over the same share of its run
    (warm-up steps / decay_steps, or / the train_data's size without a decay): at the rates deeper
    schemes are trained at, their gains are measured as they will be trained. Each run
    takes the best of ANALYSIS_RATES (a decade below the user's rate up to it): at one rate
    the baseline itself may be far off its best (the classifier alone at the rate
    a deeper scheme wants), and then every component "gains" by repairing that,
    which says nothing about what it adds and breaks the additive model. A gain
    counts only beyond one standard error of its per-sample held-out improvement,
    and the data-free prior, scaled to a thousandth, breaks the ties that leaves
    (a few hundred samples rarely tell components apart: _lower_bound); or
  * the data-free prior (`prior_gains`), used without data: later layers matter
    more (gain grows with depth squared), expanding 1x1 convs most, then other
    1x1 convs and the classifier, spatial and depthwise convs least, and a
    channel ratio r earns sqrt(r) of the layer's gain (the first channels
    chosen are the largest); a bias is worth a fifth of its layer's weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable

import numpy as np

from .. import tflite_io as io
from ..errors import DivergenceError, InputError
from ..graph import parse_forward_ops
from ..progress import Progress
from .scheme import SparseScheme, resolve, weighted_layers

RATIOS = (Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(1))
# The analytic model's error bound used by the measured pick: it is within +0.85% on the zoo
# models (bench/memory_table.py) and +4.5% on the small test nets, where the persistent tail, which
# it models by mean costs per op, is a larger share. A scheme whose analytic arena is over the
# budget by less than this may still fit it in TFLM, and one under it may not.
MEASURE_MARGIN = 0.05
CALIBRATED_SLACK = 0.01
MAX_MEASURED = 8  # schemes loaded into TFLM per stage of the measured pick
MAX_VALIDATED_LAST_K = 8  # last-K schemes fine-tuned against the search's pick (the largest that fits first)
# Decades around the user's learning rate at which each analysis run trains (its best counts). On the
# Fashion-MNIST example the classifier alone is best a half-decade below the rate last:2 is tuned to,
# and single components between a decade below and that rate; deeper schemes want lower rates.
ANALYSIS_RATES = (-1.0, -0.5, 0.0)


@dataclass
class Gains:
    """gain_b[K] for K = 0..N (bias depth) and gain_w[i][r] per weighted layer i and ratio r."""

    bias: list[float]
    weights: list[dict[Fraction, float]]
    source: str  # "prior" or "data"


@dataclass
class SearchResult:
    scheme: SparseScheme
    gain: float
    training_arena_bytes: int  # analytic
    evaluated: int             # distinct schemes whose memory was computed
    gains: Gains
    history: list[float] = field(default_factory=list)  # best gain per generation
    measured_arena_bytes: int | None = None  # TFLM's allocator; None if the search ran without measuring
    measured: list[tuple[str, int, int]] = field(default_factory=list)  # (scheme, analytic, measured) tried
    # With train_data: (scheme, mean held-out loss) of every candidate fine-tuned before the pick.
    validated: list[tuple[str, float]] = field(default_factory=list)


# ------------------------------------------------------------------ gains
def _layer_kinds(model) -> list[tuple[str, bool]]:
    """(op kind, is an expanding 1x1 conv) per weighted layer."""
    out = []
    t = model.subgraphs[0].tensors
    for op in weighted_layers(parse_forward_ops(model)):
        w = io.shape(t[op.weight])
        pointwise = op.kind == "CONV_2D" and w[1] == 1 and w[2] == 1
        out.append((op.kind if not pointwise else "POINTWISE", pointwise and w[0] > w[3]))
    return out


def prior_gains(model) -> Gains:
    kinds = _layer_kinds(model)
    n = len(kinds)
    type_factor = {"POINTWISE": 0.6, "FULLY_CONNECTED": 0.6, "CONV_2D": 0.3, "DEPTHWISE_CONV_2D": 0.3}
    layer = []
    for i, (kind, expanding) in enumerate(kinds):
        depth = (i + 1) / n
        layer.append(depth ** 2 * (1.0 if expanding else type_factor[kind]))
    weights = [{r: g * float(r) ** 0.5 for r in RATIOS} for g in layer]
    bias = [0.0]
    for k in range(1, n + 1):
        bias.append(bias[-1] + 0.2 * layer[n - k])
    return Gains(bias, weights, "prior")


def data_gains(tflite: bytes, train_data, *, grad_dtype: str, learning_rate: float | None, seed: int,
               layers: list[int] | None = None, bias_depths: list[int] | None = None,
               holdout: float = 0.3, progress: bool = True, max_loss: float | None = None,
               update_precision: str = "int8", warmup_steps: int = 0, decay_steps: int = 0) -> Gains:
    """Contribution analysis: each component fine-tuned with the classifier, on the TFLM backend."""
    model = io.read_model(tflite, "input model")
    wl = weighted_layers(parse_forward_ops(model))
    n = len(wl)
    layers = list(range(n)) if layers is None else layers
    bias_depths = sorted(set(bias_depths or _default_depths(n)))
    losses_of = held_out_losses(tflite, train_data, grad_dtype=grad_dtype, learning_rate=learning_rate, seed=seed,
                                holdout=holdout, max_loss=max_loss, update_precision=update_precision,
                                warmup_steps=warmup_steps, decay_steps=decay_steps)

    # A ratio that selects as many channels as a larger one is the same scheme (select_channels): measured once.
    t = model.subgraphs[0].tensors

    def channels(i: int, r: Fraction) -> int:
        return max(1, int(r * io.shape(t[wl[i].weight])[-1]))

    jobs = [("base", None)] + [("bias", k) for k in bias_depths if k > 1] + \
           [("w", (i, r)) for i in layers if i != n - 1 for r in RATIOS
            if not any(channels(i, q) == channels(i, r) for q in RATIOS if q > r)]
    bar = Progress(len(jobs), "contribution analysis", progress)
    base = losses_of(SparseScheme(1, {n - 1: 1}))
    bar.step()
    measured_bias = {0: 0.0, 1: 0.0}
    weights = [{r: 0.0 for r in RATIOS} for _ in range(n)]
    for kind, arg in jobs[1:]:
        if kind == "bias":
            measured_bias[arg] = _lower_bound(base - losses_of(SparseScheme(arg, {n - 1: 1})))
        else:
            i, r = arg
            gain = _lower_bound(base - losses_of(SparseScheme(1, {n - 1: 1, i: r})))
            for q in RATIOS:
                if q <= r and channels(i, q) == channels(i, r):
                    weights[i][q] = gain
        bar.step()
    bar.close()
    # The classifier's weights are in the baseline: they are always worth more than anything else.
    top = max([v for w in weights for v in w.values()] + list(measured_bias.values()) + [1e-6])
    weights[n - 1] = {r: 2 * top * float(r) for r in RATIOS}
    return _prior_breaks_ties(Gains(_interpolate(measured_bias, n), weights, "data"), prior_gains(model))


def held_out_losses(tflite: bytes, train_data, *, grad_dtype: str, learning_rate: float | None, seed: int,
                    holdout: float = 0.3, max_loss: float | None = None, update_precision: str = "int8",
                    warmup_steps: int = 0, decay_steps: int = 0,
                    run_steps: int = 0) -> Callable[[SparseScheme], np.ndarray]:
    """scheme -> per-sample held-out losses after fine-tuning that scheme on the rest of train_data (the
    seeded split of _split) for run_steps steps (0: one epoch; more: further epochs in seeded orders),
    the rate decayed over them, on the TFLM backend, at the best of ANALYSIS_RATES."""
    from ..converter import DEFAULT_LEARNING_RATE, convert_tflite
    from ..runtime import Trainer

    pairs = _pairs(train_data)
    if len(pairs) < 4:
        raise InputError(f"train_data has {len(pairs)} samples; contribution analysis needs at least 4")
    fit, held = _split(pairs, holdout, seed)
    rate = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
    steps = run_steps or len(fit)
    warmup = analysis_warmup(warmup_steps, decay_steps or len(pairs), steps)
    rng = np.random.default_rng(seed)
    order = np.concatenate([np.arange(len(fit))] + [rng.permutation(len(fit)) for _ in range(steps // len(fit))])
    run = [fit[i] for i in order[:steps]]

    def losses_at(scheme: SparseScheme, lr: float) -> np.ndarray:
        # Patching changes memory, never values: the analysis runs the plain graph.
        tm = convert_tflite(tflite, scheme=scheme, grad_dtype=grad_dtype, learning_rate=lr, seed=seed,
                            patch=None, max_loss=max_loss, update_precision=update_precision,
                            decay_steps=steps, warmup_steps=warmup)
        tr = Trainer(tm, backend="tflm", fast_forward=True)  # bit-exact, and the analysis runs many steps
        for x, y in run:
            try:
                tr.train_step(x, y)
            except DivergenceError:
                pass  # refused by the divergence guard: no update, as on a device
        return np.array([_ce(tr.predict(x), y) for x, y in held])

    def losses_of(scheme: SparseScheme) -> np.ndarray:
        return min((losses_at(scheme, rate * 10.0 ** e) for e in ANALYSIS_RATES), key=lambda v: v.mean())

    return losses_of


def analysis_warmup(warmup_steps: int, run_steps: int, analysis_steps: int) -> int:
    """The warm-up of an analysis run of analysis_steps: the user's warm-up share of their run_steps."""
    if warmup_steps <= 0:
        return 0
    return max(1, round(analysis_steps * min(1.0, warmup_steps / max(1, run_steps))))


def _lower_bound(improvement: np.ndarray) -> float:
    """What a component's per-sample held-out loss improvement shows beyond one standard error of its mean
    (0 if no more): with a few hundred samples most components' gains are within noise of each other (two
    analyses of one task on different splits agree at a correlation of 0.5), and the search, maximising
    a sum, would otherwise chase the luckiest."""
    m = len(improvement)
    se = float(np.std(improvement, ddof=1) / np.sqrt(m)) if m > 1 else 0.0
    return max(0.0, float(np.mean(improvement)) - se)


def _prior_breaks_ties(data: Gains, prior: Gains) -> Gains:
    """The data's gains plus the prior's scaled to a thousandth of them: where the data cannot tell
    components apart (equal, or no gain shown), the search spends memory where the prior would."""
    top = max(max(max(w.values()) for w in data.weights), max(data.bias), 1e-6)
    eps = 1e-3 * top / max(max(max(w.values()) for w in prior.weights), max(prior.bias), 1e-12)
    return Gains([b + eps * p for b, p in zip(data.bias, prior.bias)],
                 [{r: w[r] + eps * pw[r] for r in RATIOS} for w, pw in zip(data.weights, prior.weights)], data.source)


def _pairs(train_data) -> list[tuple[np.ndarray, int]]:
    """(x, label) pairs; a label must be one integer class (0.5 is not silently class 0)."""
    pairs = []
    for i, item in enumerate(train_data):
        try:
            x, y = item
        except (TypeError, ValueError):
            raise InputError(f"train_data item {i} is not an (x, label) pair") from None
        v = np.asarray(y)
        ok = v.size == 1 and v.dtype.kind in "iuf"
        if ok and v.dtype.kind == "f":
            f = float(v.reshape(()))
            ok = np.isfinite(f) and f == int(f)
        if not ok:
            raise InputError(f"train_data item {i}: the label must be one integer class, got {y!r}")
        pairs.append((np.asarray(x), int(v.reshape(()))))
    return pairs


def _split(pairs: list, holdout: float, seed: int) -> tuple[list, list]:
    """(fit, held): `holdout` of every label's samples held out, both in a seeded random order, so
    data sorted by class still trains on every class and is judged on every class."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    by_label: dict[int, list[int]] = {}
    for i in order:
        by_label.setdefault(pairs[i][1], []).append(int(i))
    held_idx = {i for idx in by_label.values() for i in idx[:int(round(len(idx) * holdout))] if len(idx) > 1}
    for i in order:  # at least 2 held out, whatever the labels
        if len(held_idx) >= 2:
            break
        held_idx.add(int(i))
    return [pairs[i] for i in order if i not in held_idx], [pairs[i] for i in order if i in held_idx]


def _default_depths(n: int) -> list[int]:
    return sorted({0, 1, *(max(1, round(n * f)) for f in (0.125, 0.25, 0.5, 1.0))})


def _interpolate(points: dict[int, float], n: int) -> list[float]:
    """gain_b for every depth 0..n, linear between measured depths, monotone (a deeper bias set includes a shallower)."""
    ks = sorted(points)
    vals = np.maximum.accumulate([points[k] for k in ks])
    return [float(v) for v in np.interp(np.arange(n + 1), ks, vals)]


def _ce(logits: np.ndarray, y: int) -> float:
    z = logits.astype(np.float64) - logits.max()
    return float(np.log(np.exp(z).sum()) - z[y])


# ------------------------------------------------------------------ search
def search(tflite: bytes, sram_budget: int, gains: Gains, *, grad_dtype: str = "float32", seed: int = 0,
           population: int = 24, generations: int = 25, progress: bool = True, patch="auto",
           measure: Callable[[SparseScheme], int] | None = None, update_precision: str = "int8") -> SearchResult:
    """Evolutionary search for the scheme of highest summed gain whose training arena fits sram_budget
    (with the first stage patched as convert(patch=...) would). measure(scheme) -> bytes, when given,
    decides the final pick (module docstring); without it the analytic model does."""
    from ..converter import MemorySizer

    sizer = MemorySizer(tflite, grad_dtype, seed, patch, update_precision)
    n = len(gains.weights)
    rng = np.random.default_rng(seed)
    cache: dict[tuple, int] = {}
    choices = (Fraction(0),) + RATIOS

    def scheme_of(g: tuple) -> SparseScheme:
        return SparseScheme(g[0], {i: r for i, r in enumerate(g[1:]) if r > 0})

    def memory(g: tuple) -> int:
        if g not in cache:
            cache[g] = sizer.training_arena(scheme_of(g))
        return cache[g]

    def gain(g: tuple) -> float:
        return gains.bias[g[0]] + sum(gains.weights[i][r] for i, r in enumerate(g[1:]) if r > 0)

    def fitness(g: tuple) -> float:
        return gain(g) if memory(g) <= sram_budget else -1.0 - (memory(g) - sram_budget) / sram_budget

    def valid(g: tuple) -> bool:
        return g[0] > 0 or any(r > 0 for r in g[1:])

    minimal = (1,) + (Fraction(0),) * (n - 1) + (Fraction(1),)  # the classifier alone
    if memory(minimal) > sram_budget:
        raise InputError(f"sram_budget {sram_budget} B is below the smallest training scheme (the classifier alone "
                         f"needs {memory(minimal)} B of arena, analytic)")

    def mutate(g: tuple) -> tuple:
        g = list(g)
        for _ in range(1 + rng.integers(0, 3)):
            if rng.random() < 0.3:
                g[0] = int(np.clip(g[0] + rng.integers(-max(1, n // 8), max(1, n // 8) + 1), 0, n))
            else:
                # Later layers are likelier picks: that is where schemes live.
                i = int(min(n - 1, np.floor(n * rng.random() ** 0.5)))
                g[1 + i] = choices[rng.integers(0, len(choices))]
        return tuple(g)

    def cross(a: tuple, b: tuple) -> tuple:
        mask = rng.random(len(a)) < 0.5
        return tuple(x if m else y for x, y, m in zip(a, b, mask))

    # The population starts from the largest last-K that fits (and the next one, which may fit in TFLM
    # though not by the model): the search then never ends below the baseline a user would try first.
    def last_k(k: int) -> tuple:
        return (k,) + (Fraction(0),) * (n - k) + (Fraction(1),) * k

    lo, hi = 1, n  # last:1 is `minimal`, which fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if memory(last_k(mid)) <= sram_budget * (1 + MEASURE_MARGIN) else (lo, mid - 1)
    starts = [minimal] + sorted({last_k(lo), last_k(min(n, lo + 1))} - {minimal})
    pop = starts + [mutate(minimal) for _ in range(population - len(starts))]
    pop = [g for g in pop if valid(g)] or [minimal]
    history = []
    bar = Progress(generations, "scheme search", progress)
    for _ in range(generations):
        ranked = sorted(set(pop), key=lambda g: (-fitness(g), g))
        elite = ranked[:max(2, population // 4)]
        history.append(gain(elite[0]) if fitness(elite[0]) >= 0 else float("nan"))
        children = []
        while len(children) < population - len(elite):
            a, b = elite[rng.integers(0, len(elite))], elite[rng.integers(0, len(elite))]
            child = mutate(cross(a, b)) if rng.random() < 0.7 else mutate(a)
            if valid(child):
                children.append(child)
        pop = elite + children
        bar.step(f"best gain {history[-1]:.4g}, {len(cache)} schemes sized")
    bar.close()
    best = sorted(set(pop), key=lambda g: (-fitness(g), g))[0]
    if measure is None:
        return SearchResult(scheme_of(best), gain(best), memory(best), len(cache), gains, history)
    return _measured_pick(cache, gain, valid, scheme_of, sram_budget, measure, gains, history, progress)


def _measured_pick(cache: dict, gain, valid, scheme_of, budget: int, measure, gains: Gains,
                   history: list[float], progress: bool = False) -> SearchResult:
    """The budget as TFLM's allocator measures it, among every scheme the search sized:
    1. the best-gain scheme the analytic model fits (then the next, while TFLM puts them over);
    2. then the schemes of higher gain that the model puts over the budget by less than
       MEASURE_MARGIN, least memory first (the likeliest to fit): the best that fits wins."""
    inside = sorted((g for g, m in cache.items() if valid(g) and m <= budget), key=lambda g: (-gain(g), cache[g], g))
    seen: dict[tuple, int] = {}  # scheme -> TFLM arena, in the order loaded
    bar = Progress(2 * MAX_MEASURED, "schemes loaded into TFLM (at most)", progress)

    def fits(g) -> bool:
        seen[g] = int(measure(scheme_of(g)))
        bar.step(f"{seen[g]} B {'fits' if seen[g] <= budget else 'over'}")
        return seen[g] <= budget

    best = next((g for g in inside[:MAX_MEASURED] if fits(g)), None)
    floor = gain(best) if best is not None else float("-inf")
    # The model's error is alike for similar schemes: calibrated by the measured best, a scheme
    # predicted more than CALIBRATED_SLACK over the budget is not worth loading.
    ratio = seen[best] / cache[best] if best is not None else 1.0
    over = sorted((g for g, m in cache.items()
                   if valid(g) and budget < m <= budget * (1 + MEASURE_MARGIN) and gain(g) > floor
                   and m * ratio <= budget * (1 + CALIBRATED_SLACK)),
                  key=lambda g: (cache[g], -gain(g), g))
    for g in over[:MAX_MEASURED]:
        if (best is None or gain(g) > gain(best)) and fits(g):
            best = g
    bar.close()
    tried = [(scheme_of(g).text(), cache[g], b) for g, b in seen.items()]
    if best is None:
        smallest = min(tried, key=lambda t: t[2], default=None)
        raise InputError(f"sram_budget {budget} B: none of the {len(tried)} schemes of highest gain fits it as TFLM "
                         f"measures the arena" + (f" (the smallest measured: {smallest[0]}, {smallest[2]} B)"
                                                  if smallest else "") + "; raise the budget")
    return SearchResult(scheme_of(best), gain(best), cache[best], len(cache), gains, history, seen[best], tried)


def auto_scheme(tflite: bytes, sram_budget, train_data=None, *, grad_dtype: str = "float32",
                learning_rate: float | None = None, seed: int = 0, progress: bool = True,
                patch="auto", max_loss: float | None = None, update_precision: str = "int8",
                warmup_steps: int = 0, decay_steps: int = 0) -> SearchResult:
    """Gains (from train_data, else the data-free prior), then the search under sram_budget (bytes)."""
    if sram_budget is None:
        raise InputError('scheme="auto" needs sram_budget=BYTES (the training arena to fit in)')
    if isinstance(sram_budget, bool) or not isinstance(sram_budget, (int, np.integer)) or sram_budget <= 0:
        raise InputError(f"sram_budget must be a positive number of bytes, got {sram_budget!r}")

    def measure(scheme: SparseScheme) -> int:
        return _tflm_arena(tflite, scheme, grad_dtype, seed, patch, update_precision)

    if train_data is None:
        return search(tflite, int(sram_budget), prior_gains(io.read_model(tflite, "input model")),
                      grad_dtype=grad_dtype, seed=seed, progress=progress, patch=patch, measure=measure,
                      update_precision=update_precision)
    pairs = _pairs(train_data)  # once: train_data may be a one-pass iterable
    kw = dict(grad_dtype=grad_dtype, learning_rate=learning_rate, seed=seed, max_loss=max_loss,
              update_precision=update_precision, warmup_steps=warmup_steps, decay_steps=decay_steps)
    gains = data_gains(tflite, pairs, progress=progress, **kw)
    found = search(tflite, int(sram_budget), gains, grad_dtype=grad_dtype, seed=seed, progress=progress, patch=patch,
                   measure=measure, update_precision=update_precision)
    from ..converter import MemorySizer

    sizer = MemorySizer(tflite, grad_dtype, seed, patch, update_precision)
    # The validation trains each candidate as long as the user's run (its decay_steps), when that is known:
    # one epoch on 70 % of the data favours shallow schemes, which converge first (docs/accuracy.md).
    validation = held_out_losses(tflite, pairs, run_steps=decay_steps, **kw)
    return _validated(found, int(sram_budget), measure, sizer, validation, progress)


def _fitting_last_k(n: int, budget: int, measure, sizer) -> list[tuple[SparseScheme, int]]:
    """The largest last-K scheme that fits the budget as TFLM measures it, then smaller ones spread
    evenly down to K = 1, at most MAX_VALIDATED_LAST_K in all (each is measured, then fine-tuned)."""
    lo, hi = 1, n  # the largest K the analytic model puts within MEASURE_MARGIN of the budget
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sizer.training_arena(resolve(f"last:{mid}", n)) <= budget * (1 + MEASURE_MARGIN) \
            else (lo, mid - 1)
    out: list[tuple[SparseScheme, int]] = []

    def keep_if_fits(k: int) -> bool:
        scheme = resolve(f"last:{k}", n)
        arena = int(measure(scheme))
        if arena <= budget:
            out.append((scheme, arena))
        return arena <= budget

    largest = next((k for k in range(lo, 0, -1) if keep_if_fits(k)), 0)
    smaller = list(range(largest - 1, 0, -1))
    if len(smaller) > MAX_VALIDATED_LAST_K - 1:
        picks = np.linspace(0, len(smaller) - 1, MAX_VALIDATED_LAST_K - 1).round().astype(int)
        smaller = [smaller[i] for i in sorted(set(picks.tolist()))]
    for k in smaller:
        keep_if_fits(k)
    return out


def _validated(found: SearchResult, budget: int, measure, sizer, losses_of, progress: bool) -> SearchResult:
    """The search's pick against the last-K schemes that fit the budget (_fitting_last_k), each fine-tuned on the
    analysis split like a component was, but for the user's run length (losses_of: held_out_losses' run_steps).
    The additive model ranks components one at a time from one-epoch
    fine-tunes of a few hundred samples, and on the Fashion-MNIST example its picks lost 3-12 points to the
    last-K of the same arena (docs/accuracy.md); a whole scheme's own held-out loss guards against that.
    Smaller K too, not only the largest: under a large budget the deepest last-K that fits trains worse
    than shallower ones (the example at last:8's arena: last:8 78.5 %, last:2 .. last:6 81-82 %).
    The last-K of lowest mean held-out loss is the default; a pick that is not a last-K replaces it only
    when its loss is lower by more than one standard error of the paired per-sample difference, a guard
    against wins within noise. Trained for the user's run length rather than one epoch (since session 17), the
    example's validated picks went from -0.49 / -0.14 / -0.06 / +2.83 points against the last-K of their
    arena (last:2 / 3 / 6 / 8's) to 0.00 / 0.00 / +0.78 / +1.56, and at 500 samples per class from -0.82 to
    -0.40 against last:6 (docs/accuracy.md)."""
    n = len(found.gains.weights)
    candidates = [(found.scheme, found.measured_arena_bytes)] + [
        (s, a) for s, a in _fitting_last_k(n, budget, measure, sizer) if s != found.scheme]
    bar = Progress(len(candidates), "validating schemes", progress)
    scored = []
    for scheme, arena in candidates:
        losses = np.asarray(losses_of(scheme), np.float64)
        scored.append((float(losses.mean()), scheme, arena, losses))
        bar.step(f"{scheme.text()}: held-out loss {scored[-1][0]:.4f}")
    bar.close()
    pick = scored[0]
    last_k = [c for c in scored if c[1] == resolve(f"last:{max(1, c[1].bias_layers)}", n)]
    best = min(last_k or [pick], key=lambda c: c[0])  # ties: the earlier (the search's pick, then larger K)
    if best is not pick and not any(c is pick for c in last_k):
        diff = pick[3] - best[3]
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if float(diff.mean()) < -se:
            best = pick
    _, chosen, arena, _ = best
    validated = [(s.text(), v) for v, s, _, _ in scored]
    if chosen == found.scheme:
        return replace(found, validated=validated)
    analytic = sizer.training_arena(chosen)
    return replace(found, scheme=chosen, gain=scheme_gain(found.gains, chosen), training_arena_bytes=analytic,
                   measured_arena_bytes=arena, measured=found.measured + [(chosen.text(), analytic, arena)],
                   validated=validated)


def scheme_gain(gains: Gains, scheme: SparseScheme) -> float:
    """The additive model's gain of a scheme (module docstring)."""
    n = len(gains.weights)
    ratios = {i % n: r for i, r in scheme.weight_ratios.items()}
    return gains.bias[min(scheme.bias_layers, n)] + sum(gains.weights[i][r] for i, r in ratios.items())


def _tflm_arena(tflite: bytes, scheme: SparseScheme, grad_dtype: str, seed: int, patch,
                update_precision: str = "int8") -> int:
    """The training arena of `scheme` as TFLM's allocator plans it (the figure a device budget is about)."""
    from ..converter import convert_tflite
    from ..runtime.tflm import measured_training_arena

    return measured_training_arena(convert_tflite(tflite, scheme=scheme, grad_dtype=grad_dtype, seed=seed,
                                                  progress=False, patch=patch, update_precision=update_precision))
