#!/usr/bin/env bash
# Runs the GPU training benchmark on a bare GPU machine that has CUDA torch + transformers but not the rest
# of the stack: installs the wheels carried in .carry/wheels (offline), then runs bench/bench_gpu_train.py.
# Usage (from the repo root): OUT=/some/dir bash bench/gpu_device_run.sh
# The wheels it needs and how to fetch them: bench/gpu_env.sh.
set -uo pipefail
OUT=${OUT:-outputs/bench_gpu}; mkdir -p "$OUT"
source bench/gpu_env.sh
timeout "${BENCH_TIMEOUT:-480}" $PY bench/bench_gpu_train.py --json "$OUT/bench_gpu.json" --budget-s "${BENCH_BUDGET:-330}" 2>&1 | tee "$OUT/bench.log"
