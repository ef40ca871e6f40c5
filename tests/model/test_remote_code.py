"""A saved checkpoint loads with ``trust_remote_code=True`` where aivf cannot be imported, and ``import aivf``
alone registers the Auto classes (without importing torch)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.model.remote_probe import run_without_aivf, write_inputs

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "videomae": ["model.num_frames=4", "model.image_size=32"],
    "video_swin+phase+aux": ["model.backbone=video_swin", "model.num_frames=4", "model.image_size=32",
                             "model.phase_head=true", "model.phase_features=true", "model.aux_tasks=[usable_d5]"],
    "frames+phase": ["model.backbone=frames", "model.conv_stem=0", "model.num_frames=4", "model.image_size=32",
                     "model.phase_head=true"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_saved_folder_loads_with_trust_remote_code_without_aivf(case, tmp_path):
    from safetensors.torch import load_file

    from aivf.config import load_config
    from aivf.model import build_model

    try:
        cfg = load_config(None, CASES[case])
    except Exception as err:  # a config key renamed elsewhere must fail loudly, not skip
        raise AssertionError(f"test config {CASES[case]} no longer loads: {err}") from err
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_aivf_embryo.EmbryoConfig",
                                  "AutoModel": "modeling_aivf_embryo.EmbryoModel"}
    for name in ("configuration_aivf_embryo.py", "modeling_aivf_embryo.py"):
        imports = [node for node in ast.walk(ast.parse((folder / name).read_text()))
                   if isinstance(node, (ast.Import, ast.ImportFrom))]
        modules = {n.module or "" for n in imports if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in imports if isinstance(n, ast.Import) for a in n.names}
        assert not [m for m in modules if m.split(".")[0] == "aivf"], f"{name} imports aivf"

    x = write_inputs(cfg, tmp_path / "inputs.safetensors")
    with torch.no_grad():
        ours = model(pixel_values=x["pixel_values"], keyframe_hpi=x["keyframe_hpi"], covariates=x["covariates"],
                     keyframe_mask=x["keyframe_mask"].bool())
    run_without_aivf(folder, tmp_path / "inputs.safetensors", tmp_path / "out.safetensors", tmp_path)
    theirs = load_file(tmp_path / "out.safetensors")
    assert torch.allclose(theirs["logits"], ours.logits, atol=1e-6, rtol=1e-5)
    assert torch.allclose(theirs["pooled"], ours.pooled_output, atol=1e-6, rtol=1e-5)
    if ours.phase_logits is not None:
        assert torch.allclose(theirs["phase_logits"], ours.phase_logits, atol=1e-6, rtol=1e-5)
    if ours.aux_logits is not None:
        assert torch.allclose(theirs["aux_logits"], ours.aux_logits, atol=1e-6, rtol=1e-5)


def test_import_aivf_alone_registers_the_auto_classes_lazily(tmp_path):
    """``import aivf`` loads neither torch nor transformers, yet AutoConfig / AutoModel then know aivf's types."""
    from aivf.config import load_config
    from aivf.model import build_model

    build_model(load_config(None, ["model.num_frames=4", "model.image_size=32"]).model).save_pretrained(tmp_path / "c")
    code = ("import sys, aivf\n"
            "print('HEAVY:', [m for m in ('torch', 'transformers') if m in sys.modules])\n"
            "from transformers import AutoConfig, AutoModel\n"
            f"model = AutoModel.from_pretrained({str(tmp_path / 'c')!r})\n"
            "print('TYPES:', type(AutoConfig.for_model('aivf_embryo')).__name__, type(model).__module__)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "HEAVY: []" in done.stdout
    assert "TYPES: EmbryoConfig aivf.model.modeling_embryo" in done.stdout  # local classes, no remote code needed
