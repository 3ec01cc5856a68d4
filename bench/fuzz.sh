#!/usr/bin/env bash
# Fuzzes every parser of model bytes: the C options reader and checkpoint loader (libFuzzer, clang,
# ASan + UBSan) and the Python loaders (atheris). Each target runs RUNS executions (default 1 M)
# from seeds made by fuzz/make_seeds.py; crashing inputs land in $OUT/<target>/crashes.
#   bash bench/fuzz.sh [OUT_DIR]        RUNS=1000000 SECONDS_PER_TARGET= (a time limit instead)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/fuzz}"
runs="${RUNS:-1000000}"
mkdir -p "$out"
limit=(-runs="$runs")
[ -n "${SECONDS_PER_TARGET:-}" ] && limit=(-max_total_time="$SECONDS_PER_TARGET")
san=(-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all)
inc=(-I"$root/kernels/include" -I"$root/kernels")
clang++ -std=c++17 "${san[@]}" -fsanitize=fuzzer "${inc[@]}" "$root/fuzz/options_fuzzer.cc" \
  "$root/kernels/tflm/options.cc" -o "$out/options_fuzzer"
clang -std=c99 "${san[@]}" -fsanitize=fuzzer-no-link "${inc[@]}" -c "$root/kernels/core/checkpoint.c" -o "$out/checkpoint.o"
clang++ -std=c++17 "${san[@]}" -fsanitize=fuzzer "${inc[@]}" "$root/fuzz/checkpoint_fuzzer.cc" "$out/checkpoint.o" \
  -o "$out/checkpoint_fuzzer"
if [ ! -d "$out/seeds/loader" ] && ! TF_CPP_MIN_LOG_LEVEL=3 python3 "$root/fuzz/make_seeds.py" "$out/seeds" \
    > "$out/seeds.log" 2>&1; then
  echo "FAIL: seeds (see $out/seeds.log)"; exit 1
fi
status=0
for t in options checkpoint; do
  mkdir -p "$out/$t/corpus" "$out/$t/crashes"
  if ! "$out/${t}_fuzzer" "$out/$t/corpus" "$out/seeds/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$out/$t/crashes/" -print_final_stats=1 > "$out/$t.log" 2>&1; then
    echo "FAIL: $t (see $out/$t.log)"; status=1
  fi
  echo "$t: $(grep -E '^stat::number_of_executed_units' "$out/$t.log" | awk '{print $2}') executions"
done
mkdir -p "$out/loader/corpus" "$out/loader/crashes"
if ! python3 "$root/fuzz/fuzz_loader.py" "$out/loader/corpus" "$out/seeds/loader" "${limit[@]}" -timeout=10 \
    -rss_limit_mb=4096 -artifact_prefix="$out/loader/crashes/" -print_final_stats=1 > "$out/loader.log" 2>&1; then
  echo "FAIL: loader (see $out/loader.log)"; status=1
fi
echo "loader: $(grep -E '^stat::number_of_executed_units' "$out/loader.log" | awk '{print $2}') executions"
exit $status
