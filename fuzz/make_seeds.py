"""Seed corpora for the fuzz targets: valid training models, options buffers and checkpoint images.

    python fuzz/make_seeds.py OUT_DIR     (writes OUT_DIR/{loader,options,checkpoint}/)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(out: str) -> None:
    import tflm_train as tt
    from tflm_train import checkpoint as CK
    from tflm_train import schema as S
    from conftest import int8_model

    for d in ("loader", "options", "checkpoint"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    names = sorted(S.OP_OPTIONS)
    types = sorted(set(S.OP_OPTIONS.values()))
    k = 0
    for arch, scheme, dtype in [("plain_cnn", "last:2", "float32"), ("mobilenet_v2_style", "full", "int8"),
                                ("mobilenet_v2_style", tt.SparseScheme(2, {-3: "1/2", -1: 1}), "float32")]:
        tm = tt.convert_tflite(int8_model(arch)[0], scheme=scheme, grad_dtype=dtype, progress=False)
        data = tm.to_bytes()
        open(os.path.join(out, "loader", f"model{k}.bin"), "wb").write(data)
        for op in tm.train_ops:
            raw = S.encode_options(op.options)
            name_byte = bytes([names.index(op.name)])
            open(os.path.join(out, "loader", f"opt{k}_{op.index}.bin"), "wb").write(b"\x00" + name_byte + raw)
            type_byte = bytes([types.index(S.OP_OPTIONS[op.name])])
            open(os.path.join(out, "options", f"opt{k}_{op.index}.bin"), "wb").write(type_byte + raw)
        k += 1
    entries = [CK.Entry(3, 4, bytes(range(37))), CK.Entry(5, 4, bytes(12))]
    slot = CK.record_bytes([(e.tensor, len(e.data)) for e in entries])
    image = bytearray(2 * slot)
    CK.save(image, slot, entries)
    CK.save(image, slot, [CK.Entry(3, 5, bytes(37)), entries[1]])
    open(os.path.join(out, "checkpoint", "two_slots.bin"), "wb").write(bytes(image))
    open(os.path.join(out, "checkpoint", "empty.bin"), "wb").write(bytes(2 * slot))


if __name__ == "__main__":
    main(sys.argv[1])
