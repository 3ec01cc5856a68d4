"""The checked-in generated code is exactly what the pinned flatc makes from schemas/."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_generated_code_is_up_to_date(tmp_path):
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "gen_schema.sh"), str(tmp_path)], check=True)
    fresh = (tmp_path / "tflm_train_generated.py").read_text()
    checked_in = open(os.path.join(ROOT, "tflm_train", "_generated", "tflm_train_generated.py")).read()
    assert fresh == checked_in, "run scripts/gen_schema.sh and commit the result"


def test_options_reject_wrong_op_and_version():
    from tflm_train import schema as S
    from tflm_train._generated import tflm_train_generated as G
    from tflm_train.errors import ModelFormatError
    o = G.ClampGradOptionsT()
    data = S.encode_options(o)
    assert S.decode_options("TFLMT_CLAMP_GRAD", data, "op").version == 1
    with pytest.raises(ModelFormatError, match="do not belong to TFLMT_BIAS_UPDATE"):
        S.decode_options("TFLMT_BIAS_UPDATE", data, "op")
    with pytest.raises(ModelFormatError, match="unknown training op"):
        S.decode_options("TFLMT_NOPE", data, "op")
    o.version = 2
    with pytest.raises(ModelFormatError, match="options version 2"):
        S.decode_options("TFLMT_CLAMP_GRAD", S.encode_options(o), "op")
