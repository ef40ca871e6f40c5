# Sourced by the GPU scripts in bench/: installs the carried wheels on a bare GPU machine that has CUDA torch,
# transformers, pandas, scikit-learn and matplotlib but not the rest of the stack, and sets the environment.
# Fill .carry/wheels (git-ignored) beforehand on a machine with PyPI, for the GPU machine's Python (3.12 here):
#   pip download --no-deps -d .carry/wheels --python-version 3.12 --only-binary=:all: \
#     --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 datasets==5.2.0 dill multiprocess \
#     decord==0.6.0 av hjson omegaconf pydantic pydantic-core annotated-types typing-inspection
#   pip download --no-deps -d .carry/wheels --no-binary=:all: deepspeed==0.19.8 antlr4-python3-runtime==4.9.3
PY=${PY:-python3}
$PY -m pip install -q --no-deps --no-index .carry/wheels/*.whl 2>&1 | tail -2
$PY -m pip install -q --no-deps --no-index --no-build-isolation .carry/wheels/antlr4*.tar.gz 2>&1 | tail -2
DS_BUILD_OPS=0 $PY -m pip install -q --no-deps --no-index --no-build-isolation .carry/wheels/deepspeed*.tar.gz 2>&1 | tail -2
export PYTHONPATH=$PWD WANDB_MODE=disabled HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, transformers, deepspeed, datasets, decord; print(torch.__version__, transformers.__version__, deepspeed.__version__)" | tee -a "$OUT/gpu.txt"
