"""GPU-efficiency options of the loop (issue 17): no host sync per step, fused AdamW where it runs, torch.compile."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState, PartialState
from safetensors.torch import load_file
from train_toy import ToyData, ToyModel

import aivf
from aivf.config import load_config
from aivf.train.loop import train, use_fused_adamw


def toy_config(tmp_path, name: str, *extra: str):
    return load_config(None, [f"output_dir={tmp_path}", f"name={name}", "train.per_device_batch_size=4",
                              "train.warmup_steps=1", "train.eval_every=0", "train.save_every=0",
                              "train.tracker=none", "train.log_images=false", *extra])


def host_reads_by_aivf(monkeypatch, run) -> int:
    """How often aivf's own code reads a tensor's value on the host while ``run()`` runs.

    Each such read (``.item()``, ``float(t)``, ``bool(t)``, ``.tolist()``) waits for the GPU. Reads inside
    torch itself are not counted: e.g. the default AdamW reads its step counter, a CPU tensor.
    """
    import sys

    aivf_dir = str(Path(aivf.__file__).parent)
    calls = [0]
    for name in ("item", "__float__", "__bool__", "tolist"):
        real = getattr(torch.Tensor, name)

        def counting(self, *args, _real=real):
            if sys._getframe(1).f_code.co_filename.startswith(aivf_dir):
                calls[0] += 1
            return _real(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counting)
    try:
        run()
    finally:
        monkeypatch.undo()
    return calls[0]


def test_loss_is_read_once_per_log_not_once_per_step(tmp_path, monkeypatch):
    # Same evaluation and saving (at the end only); the longer run has 8 more steps and one more log, which reads
    # the mean loss and the gradient norm.
    counts = {}
    for steps in (8, 16):
        cfg = toy_config(tmp_path, f"sync{steps}", f"train.max_steps={steps}", "train.log_every=8")
        counts[steps] = host_reads_by_aivf(monkeypatch, lambda cfg=cfg: train(cfg, model=ToyModel(), data=ToyData()))
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()
    assert counts[16] - counts[8] <= 2, f"{counts}: the loop reads a tensor on the host every step"


def test_fused_adamw_only_on_cuda_without_deepspeed():
    assert use_fused_adamw(True, "cuda", deepspeed=False)
    assert not use_fused_adamw(True, "cuda", deepspeed=True)
    assert not use_fused_adamw(True, "cpu", deepspeed=False)
    assert not use_fused_adamw(False, "cuda", deepspeed=False)


def test_fused_adamw_falls_back_on_cpu_with_a_message(tmp_path, capsys):
    cfg = toy_config(tmp_path, "fused", "train.max_steps=2", "train.fused_adamw=true")
    result = train(cfg, model=ToyModel(), data=ToyData())
    assert result["step"] == 2
    assert "train.fused_adamw: fused AdamW is used on CUDA without DeepSpeed only" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fused_adamw_steps_like_the_default_on_cuda():
    torch.manual_seed(0)
    models = [torch.nn.Linear(8, 4).cuda() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2, fused=f) for m, f in zip(models, (True, False))]
    x = torch.randn(16, 8, device="cuda")
    for _ in range(3):
        for m, o in zip(models, opts):
            m(x).square().mean().backward()
            o.step()
            o.zero_grad()
    torch.testing.assert_close(models[0].weight, models[1].weight, atol=1e-6, rtol=1e-5)


@pytest.mark.slow
def test_compiled_model_trains_and_saves_plain_keys(tmp_path):
    cfg = toy_config(tmp_path, "compiled", "train.max_steps=3", "train.log_every=1", "train.compile=true")
    torch.manual_seed(0)
    model = ToyModel()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(cfg, model=model, data=ToyData())
    assert result["step"] == 3
    final = load_file(tmp_path / "compiled" / "final" / "model.safetensors")
    assert set(final) == set(start)  # no _orig_mod. prefix: checkpoints load into an uncompiled model
    assert any(not torch.equal(final[k], start[k]) for k in final)
