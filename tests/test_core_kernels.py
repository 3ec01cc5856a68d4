"""C core kernels == numpy spec, bit for bit, over 200 random shapes per op and
gradient dtype; and the naive loop nests == the optimised kernels."""
import zlib

import numpy as np
import pytest

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
