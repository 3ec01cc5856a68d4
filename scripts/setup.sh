#!/usr/bin/env bash
# Installs everything tflm-train needs on a fresh Debian machine:
#  - Debian: the Fashion-MNIST package (real data, no download), the C/C++ compilers that build
#    the kernels during `pip install`, the Cortex-M cross compiler the tests compile the core with
#    and QEMU that runs the Cortex-M7 training image (examples/cortex_m),
#    clang with its libFuzzer runtime (bench/fuzz.sh, the CI fuzz smoke), and Bazel 4.2.3 with
#    Debian's rules_java (scripts/bazel_test.sh, offline);
#  - Python: the package with its pinned stack (this compiles kernels/ into tflm_train/_native*.so).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
need=()
for pkg in dataset-fashion-mnist gcc g++ libc6-dev gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang libclang-rt-14-dev \
           bazel-bootstrap bazel-rules-java; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e "$root[dev]"
