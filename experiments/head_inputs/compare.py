"""What should the outcome heads read? Refit them on one trained backbone's frozen features, judged on validation.

Usage::

    python experiments/head_inputs/compare.py outputs/default            # a run folder (best/ or final/)

For each set of head inputs -- the phase shares only, + the record heads' logits (usable calls, ICM/TE), the
pooled video feature + phase shares, and all three -- the shared-score heads are refitted exactly as the main
job does (aivf/train/refit.py: L2 by validation loss, bagged fits, scales on validation) and the validation
loss on the known outcomes is printed. Only the training and validation splits are read: the choice is made
where a clinic could make it, without the test split or the simulator's truth.
"""

from __future__ import annotations

import argparse
import copy
from types import SimpleNamespace

import torch
from torch import nn

from aivf.config import load_config
from aivf.dataset.loader import iter_eval_batches, load_split
from aivf.eval.scoring import anchor_to_run, config_files, load_model, resolve_checkpoint, run_paths
from aivf.model.heads import SharedScoreHead, score_of_task
from aivf.train.refit import refit_heads

VARIANTS = {
    "phase shares": ("share",),
    "phase shares + record logits": ("share", "aux"),
    "video + phase shares": ("pooled", "share"),
    "video + phase shares + record logits": ("pooled", "share", "aux"),
}


class Precomputed(nn.Module):
    """Hands the refit a table of features as if a backbone had produced them."""

    def __init__(self, heads: nn.Module):
        super().__init__()
        self.heads = heads

    def forward(self, pixel_values, covariates=None, **_):
        return SimpleNamespace(head_features=pixel_values, logits=self.heads(pixel_values, covariates))


@torch.no_grad()
def features(model, ds, cfg) -> dict[str, torch.Tensor]:
    """pooled [N, D], phase shares [N, P], record logits [N, A], covariates, labels of every embryo of ``ds``."""
    parts: dict[str, list] = {k: [] for k in ("pooled", "share", "aux", "covariates", "labels")}
    for batch in iter_eval_batches(ds, cfg.eval.batch_size, cfg.dataset.loader):
        out = model(pixel_values=batch["pixel_values"], keyframe_hpi=batch["keyframe_hpi"],
                    keyframe_mask=batch["keyframe_mask"], covariates=batch["covariates"])
        present = (batch["keyframe_mask"].bool() & torch.isfinite(batch["keyframe_hpi"])).float()
        probs = out.phase_logits.float().softmax(-1) * present.unsqueeze(-1)
        parts["share"].append(probs.sum(1) / present.sum(1, keepdim=True).clamp(min=1.0))
        parts["pooled"].append(out.pooled_output.float())
        parts["aux"].append(out.aux_logits.float())
        parts["covariates"].append(batch["covariates"].float())
        parts["labels"].append(batch["labels"].float())
    return {k: torch.cat(v) for k, v in parts.items()}


def batches(data: dict[str, torch.Tensor], keys: tuple[str, ...]) -> list[dict]:
    x = torch.cat([data[k] for k in keys], dim=1)
    return [{"pixel_values": x, "covariates": data["covariates"], "labels": data["labels"]}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="run folder or checkpoint of a model with record heads (model.aux_tasks)")
    args = parser.parse_args()
    ckpt = resolve_checkpoint(args.run)
    cfg = load_config(config_files(ckpt, None))
    anchor_to_run(cfg, ckpt)
    _, ds_path = run_paths(cfg)
    model = load_model(ckpt)
    split = cfg.train.split
    train, val = (features(model, load_split(ds_path, f"{split}/{part}"), cfg) for part in ("train", "val"))
    tc = cfg.train
    print(f"{ckpt}: {len(train['labels'])} training / {len(val['labels'])} validation embryos")
    for name, keys in VARIANTS.items():
        width = sum(train[k].shape[1] for k in keys)
        heads = SharedScoreHead(width, 3, 2, dropout=0.0,
                                score_of_task=score_of_task(list(model.config.tasks), list(cfg.model.separate_score_tasks)))
        torch.manual_seed(0)
        report = refit_heads(Precomputed(copy.deepcopy(heads)), batches(train, keys), batches(val, keys),
                             grid=list(tc.refit_l2), bags=tc.refit_bags, scale_on_val=tc.refit_scale_on_val)
        print(f"  {name:40s} {width:4d} inputs  l2 {report['l2']}  validation loss {report['val_loss_after']:.4f}")


if __name__ == "__main__":
    main()
