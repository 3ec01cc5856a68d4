#!/usr/bin/env bash
# The main job: convert a Keras CNN pretrained on Fashion-MNIST classes 0-4, train it on
# classes 5-9 with batch 1, print loss and accuracy before/after. Extra args go to the example.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
TF_CPP_MIN_LOG_LEVEL=2 python3 examples/fashion_mnist_transfer/quickstart.py "$@" 2> >(grep -v -E "^(W0000|I0000)" >&2)
