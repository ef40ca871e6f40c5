#!/usr/bin/env bash
# Creates (or updates) .venv in the checkout with the whole stack. Idempotent: a rerun only checks.
# On a machine without CUDA the CPU torch is installed first and pinned, so that no multi-GB CUDA
# build is ever pulled in by a dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${AIVF_TORCH_VERSION:-2.13.0}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
stamp=.venv/.aivf-setup-$(sha1sum pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)
if [ -f "$stamp" ]; then exit 0; fi
$VPY -m pip install -q --upgrade pip wheel setuptools
if ! $VPY -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    $VPY -m pip install -q "torch==${TORCH_VERSION}"
  else
    # The CPU wheel index serves CPU-only builds; on this project's machines pip finds a local copy first.
    $VPY -m pip install -q "torch==${TORCH_VERSION}" \
      || $VPY -m pip install -q "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
installed_torch=$($VPY -c "import torch; print(torch.__version__.split('+')[0])")
echo "torch==${installed_torch}" > .venv/constraints.txt
$VPY -m pip install -q -c .venv/constraints.txt -e ".[dev]"
# deepspeed is an sdist that imports torch at build time: build it against the venv's torch.
$VPY -m pip install -q -c .venv/constraints.txt --no-build-isolation "deepspeed>=0.15" \
  || echo "warning: deepspeed did not install; DeepSpeed launch configs will be unavailable" >&2
rm -f .venv/.aivf-setup-*
touch "$stamp"
