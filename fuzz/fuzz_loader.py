"""atheris target: the Python loaders (tflm_train.load: TFLite flatbuffer, our metadata, every op's
options) and the options decoder on arbitrary bytes. Anything but a TflmTrainError is a bug.

    python fuzz/fuzz_loader.py CORPUS_DIR -runs=1000000    (seeds: python fuzz/make_seeds.py CORPUS_DIR)
"""
import os
import sys

import atheris

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
with atheris.instrument_imports(include=["tflm_train"]):
    import tflm_train as tt
    from tflm_train import schema as S

NAMES = sorted(S.OP_OPTIONS)


def test_one_input(data: bytes) -> None:
    if data[:1] == b"\x00" and len(data) > 1:  # an options buffer for one of our ops
        name = NAMES[data[1] % len(NAMES)] if len(data) > 1 else NAMES[0]
        try:
            S.decode_options(name, data[2:], "fuzz")
        except tt.TflmTrainError:
            pass
        return
    try:
        tt.load(data)
    except tt.TflmTrainError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
