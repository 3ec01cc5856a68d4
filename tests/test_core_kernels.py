"""C core kernels == numpy spec, bit for bit, over 200 random shapes per op and
gradient dtype; and the naive loop nests == the optimised kernels."""
import zlib

import numpy as np
import pytest
from tflm_train.reference import training as R

import core_cases as K

CASES = 200

OPS = {
    "conv_weight_update": lambda r, q: K.case_weight_update(r, "conv", q),
    "depthwise_weight_update": lambda r, q: K.case_weight_update(r, "depthwise", q),
    "wide_depthwise_weight_update": lambda r, q: K.case_weight_update(r, "depthwise", q, wide=True),
    "fc_weight_update": lambda r, q: K.case_weight_update(r, "fc", q),
    "conv_input_grad": lambda r, q: K.case_input_grad(r, "conv", q),
    "pointwise_conv_input_grad": lambda r, q: K.case_input_grad(r, "conv", q, pointwise=True),
    "pointwise_conv_weight_update": lambda r, q: K.case_weight_update(r, "conv", q, pointwise=True),
    "residual_conv_weight_update": lambda r, q: K.case_weight_update(r, "conv", q, residual=True),
    "residual_pointwise_conv_weight_update": lambda r, q: K.case_weight_update(r, "conv", q, pointwise=True,
                                                                                residual=True),
    "residual_depthwise_weight_update": lambda r, q: K.case_weight_update(r, "depthwise", q, residual=True),
    "residual_fc_weight_update": lambda r, q: K.case_weight_update(r, "fc", q, residual=True),
    "depthwise_input_grad": lambda r, q: K.case_input_grad(r, "depthwise", q),
    "wide_depthwise_input_grad": lambda r, q: K.case_input_grad(r, "depthwise", q, wide=True),
    "fc_input_grad": lambda r, q: K.case_input_grad(r, "fc", q),
    "bias_update": K.case_bias_update,
    "softmax_ce": K.case_softmax_ce,
    "clamp": K.case_clamp,
    "grad_accum": K.case_grad_accum,
    "avg_pool_grad": K.case_avg_pool,
    "mean_grad": K.case_mean,
    "pad_grad": K.case_pad,
    "channel_gather": K.case_gather,
    "channel_merge": K.case_merge,
    "max_pool_argmax": K.case_max_pool_argmax,
    "max_pool_grad": K.case_max_pool_grad,
}
HOT = {k for k in OPS if k.endswith(("weight_update", "input_grad")) and k != "bias_update"}


def _check(op, dtype, variants):
    rng = np.random.default_rng(zlib.crc32(f"{op}:{dtype}".encode()))
    for i in range(CASES):
        run, expected = OPS[op](rng, dtype == "int8")
        for v in variants:
            got = run(v)
            assert K.same(got, expected), f"{op} {dtype} case {i} variant {v or 'optimised'}: differs from the spec"


@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_core_matches_spec(op, dtype):
    _check(op, dtype, [""] + (["_naive"] if op in HOT else []))


def test_quantize_and_prng_match_spec():
    rng = np.random.default_rng(7)
    for _ in range(CASES):
        for case in (K.case_quantize, K.case_prng):
            run, expected = case(rng)
            assert K.same(run(), expected)


def test_softmax_ce_passes_only_inward_gradients_at_the_int8_limits():
    """A logit at 127 keeps only a positive gradient (descent lowers it), at -128 only a negative one;
    the label's logit pinned at 127 gets none (it cannot rise), a wrong class at 127 is pulled down."""
    logits = np.array([[127, -128, 127, -128, 0]], np.int8)
    _, g = R.softmax_ce(0, logits, 0.1, 0)
    free = R.softmax_ce(0, np.array([[126, -127, 126, -127, 0]], np.int8), 0.1, 0)[1]
    assert g[0, 0] == 0 and free[0, 0] < 0  # the label at the top: outward, blocked
    assert g[0, 1] == 0 and free[0, 1] > 0  # a wrong class at the bottom: outward, blocked
    assert g[0, 2] > 0  # a wrong class at the top: pulled back inside
    assert g[0, 4] > 0
    _, g = R.softmax_ce(1, logits, 0.1, 0)
    assert g[0, 1] < 0  # the label at the bottom: pushed back inside
