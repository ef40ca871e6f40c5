#!/usr/bin/env bash
# One command: set up .venv (idempotent) and run the main job on the simulated default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=${WANDB_MODE:-offline}
exec .venv/bin/aivf run -c configs/default.yaml "$@"
