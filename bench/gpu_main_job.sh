#!/usr/bin/env bash
# The main job at the scale a GPU allows (experiments/gpu_scale): same journey and model recipe as
# configs/default.yaml, with 4x the cohort, a wider stem, a 12-layer backbone and more steps.
# Usage (from the repo root, on the GPU machine): OUT=/some/dir bash bench/gpu_main_job.sh
set -uo pipefail
OUT=${OUT:-outputs/gpu_main}; mkdir -p "$OUT"
source bench/gpu_env.sh
start=$(date +%s)
timeout "${RUN_TIMEOUT:-540}" $PY -m aivf run -c configs/default.yaml -c experiments/gpu_scale/config.yaml \
  output_dir="$OUT/runs" --no-progress > "$OUT/run.log" 2>&1
echo "exit $? after $(( $(date +%s) - start )) s" | tee -a "$OUT/run.log"
tail -40 "$OUT/run.log"
cp "$OUT/runs/gpu_scale/eval/metrics.json" "$OUT/runs/gpu_scale/pipeline.json" "$OUT/" 2>/dev/null
cp "$OUT/runs/gpu_scale/eval/report.html" "$OUT/" 2>/dev/null
rm -rf "$OUT/runs"  # only the small files come back
