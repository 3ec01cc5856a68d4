"""Fashion-MNIST from the Debian package dataset-fashion-mnist (no downloads)."""
from __future__ import annotations

import gzip
import os

import numpy as np

from .errors import InputError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = "install it with: sudo apt-get install dataset-fashion-mnist"


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if data[2] != 0x08:
        raise InputError(f"{path}: unexpected idx element type {data[2]:#x}")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(split: str = "train", folder: str = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels uint8 [N]) of the official split 'train' or 'test'."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz")
    labels = os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz")
    for p in (images, labels):
        if not os.path.exists(p):
            raise InputError(f"Fashion-MNIST file {p} not found; {INSTALL_HINT}")
    return _read_idx(images), _read_idx(labels)
