"""Load a checkpoint folder with ``trust_remote_code=True`` in a fresh interpreter where aivf cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

# Runs in a fresh interpreter: any attempt to import aivf fails, so only the saved code can build the model.
REMOTE = """
import sys
class NoAivf:
    def find_spec(self, name, path=None, target=None):
        if name == "aivf" or name.startswith("aivf."):
            raise ImportError("aivf is not installed here (test)")
sys.meta_path.insert(0, NoAivf())
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel
folder, inputs, out = sys.argv[1:4]
config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
x = load_file(inputs)
with torch.no_grad():
    o = model(pixel_values=x["pixel_values"], keyframe_hpi=x["keyframe_hpi"], covariates=x["covariates"],
              keyframe_mask=x["keyframe_mask"].bool())
result = {"logits": o.logits.contiguous(), "pooled": o.pooled_output.contiguous()}
if o.phase_logits is not None:
    result["phase_logits"] = o.phase_logits.contiguous()
if o.aux_logits is not None:
    result["aux_logits"] = o.aux_logits.contiguous()
save_file(result, out)
print("CLASS:", type(model).__module__, type(config).__name__)
print("AIVF:", any(m == "aivf" or m.startswith("aivf.") for m in sys.modules))
"""


def run_without_aivf(folder: Path, inputs: Path, out: Path, tmp: Path) -> str:
    """Run REMOTE on ``folder`` (inputs / outputs as safetensors files); asserts it used the saved code only."""
    env = {"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp / "modules"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp), "TRANSFORMERS_VERBOSITY": "error"}
    done = subprocess.run([sys.executable, "-c", REMOTE, str(folder), str(inputs), str(out)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "CLASS: transformers_modules." in done.stdout and "EmbryoConfig" in done.stdout, done.stdout
    assert "AIVF: False" in done.stdout
    return done.stdout


def write_inputs(cfg, path: Path) -> dict[str, torch.Tensor]:
    """Two clips for ``cfg.model`` (one with a missing keyframe), saved to ``path``; returns them."""
    g = torch.Generator().manual_seed(1)
    k, size, c = cfg.model.num_frames, cfg.model.image_size, cfg.model.channels
    hpi = torch.linspace(20, 110, k).repeat(2, 1)
    mask = torch.ones(2, k, dtype=torch.bool)
    mask[1, -1] = False  # a missing keyframe, so masking is compared too
    x = {"pixel_values": torch.randn(2, k, c, size, size, generator=g), "keyframe_hpi": hpi,
         "covariates": torch.tensor([[0.2, 1.0], [-0.4, 0.0]]), "keyframe_mask": mask.to(torch.uint8)}
    save_file(x, path)
    return x
