#!/usr/bin/env bash
# Installs everything tflm-train needs on a fresh Debian machine: the Fashion-MNIST
# package (real data, no download) and the Python package with its pinned stack.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e "$root[dev]"
