#!/usr/bin/env bash
# Runs every GPU measurement of issue 17 in ONE command on a bare GPU machine that has CUDA torch + transformers
# but not the rest of the stack: installs the wheels carried in .carry/wheels (offline), then runs
# bench/bench_gpu_train.py (its own time limit, BENCH_LIMIT, default 480 s; the whole script stays under ~9 min,
# leaving room in a 15-minute device session for one rerun) and the CPU-style profile of one step on the GPU.
# Usage (from the repo root): OUT=/some/dir bash bench/gpu_device_run.sh
# The wheels it needs and how to fetch them: bench/gpu_env.sh.
set -uo pipefail
OUT=${OUT:-outputs/bench_gpu}; mkdir -p "$OUT"
start=$(date +%s)
source bench/gpu_env.sh
timeout $(( ${BENCH_LIMIT:-480} + 20 )) $PY bench/bench_gpu_train.py --json "$OUT/bench_gpu.json" \
  --time-limit-s "${BENCH_LIMIT:-480}" 2>&1 | tee "$OUT/bench.log"
left=$(( 540 - ($(date +%s) - start) ))
if (( left > 40 )); then  # where the GPU step's time goes (kernel time vs wall), if time is left
  timeout "$left" $PY bench/profile_step.py --device cuda --size 16x16x224 2>&1 | tee "$OUT/profile.log"
fi
echo "gpu_device_run.sh: $(( $(date +%s) - start )) s" | tee -a "$OUT/bench.log"
