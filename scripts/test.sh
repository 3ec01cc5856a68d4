#!/usr/bin/env bash
# The test suite (what CI runs): installs what it needs, then pytest, then `bazel test //...`
# (Bazel 4.2.3, offline: scripts/bazel_test.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
TF_CPP_MIN_LOG_LEVEL=2 python3 -m pytest -q tests "$@"
bash "$root/scripts/bazel_test.sh"
